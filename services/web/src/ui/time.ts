// Times are shown in the viewer's zone; the psychologist's zone is stated when it differs.
export const viewerZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone;

const dayKeyFmt = new Intl.DateTimeFormat("en-CA", { timeZone: viewerZone, year: "numeric", month: "2-digit", day: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { timeZone: viewerZone, weekday: "long", month: "long", day: "numeric" });
const timeFmt = new Intl.DateTimeFormat(undefined, { timeZone: viewerZone, hour: "numeric", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, {
  timeZone: viewerZone,
  weekday: "short",
  month: "short",
  day: "numeric",
  year: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

/** The calendar day in the viewer's zone, e.g. 2027-03-14 (sortable). */
export function dayKey(d: Date): string {
  return dayKeyFmt.format(d);
}

export function dayLabel(d: Date): string {
  return dayFmt.format(d);
}

export function timeLabel(d: Date): string {
  return timeFmt.format(d);
}

export function dateTimeLabel(d: Date): string {
  return fullFmt.format(d);
}

const zoneTimeCache = new Map<string, Intl.DateTimeFormat>();

/** The same instant in another zone, e.g. "10:00 AM in America/Toronto". */
export function timeIn(d: Date, zone: string): string {
  let f = zoneTimeCache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: "numeric", minute: "2-digit", weekday: "short" });
    zoneTimeCache.set(zone, f);
  }
  return f.format(d);
}

/** Whether two zones show different wall-clock times now (different names may agree). */
export function zonesDiffer(zone: string): boolean {
  if (!zone || zone === viewerZone) return false;
  const now = new Date();
  const a = new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short", timeStyle: "short", hourCycle: "h23" });
  const b = new Intl.DateTimeFormat("en-CA", { timeZone: viewerZone, dateStyle: "short", timeStyle: "short", hourCycle: "h23" });
  return a.format(now) !== b.format(now);
}

export function zoneName(zone: string): string {
  return zone.replace(/_/g, " ");
}
