// Wall-clock time in the psychologist's zone <-> instants, through Temporal (the
// calendar's own peer dependency, so it adds nothing to the workspace chunk).
import { Temporal } from "temporal-polyfill";

/** `2027-03-14` and `10:30` in `zone` as an instant. */
export function instantAt(date: string, time: string, zone: string): Date {
  const zdt = Temporal.PlainDateTime.from(`${date}T${time}`).toZonedDateTime(zone);
  return new Date(zdt.epochMilliseconds);
}

/** The date (`2027-03-14`) and time (`10:30`) of an instant in `zone`. */
export function wallClock(d: Date, zone: string): { date: string; time: string } {
  const z = Temporal.Instant.fromEpochMilliseconds(d.getTime()).toZonedDateTimeISO(zone);
  return { date: z.toPlainDate().toString(), time: z.toPlainTime().toString({ smallestUnit: "minute" }) };
}

/** Today's date in `zone`. */
export function todayIn(zone: string): Temporal.PlainDate {
  return Temporal.Now.plainDateISO(zone);
}

/** The instant a date starts in `zone`. */
export function startOfDay(date: Temporal.PlainDate, zone: string): Date {
  return new Date(date.toZonedDateTime({ timeZone: zone }).epochMilliseconds);
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();

/** "Mon 14 Mar, 10:30" in `zone`. */
export function labelIn(d: Date, zone: string): string {
  let f = fmtCache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, {
      timeZone: zone,
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "numeric",
      minute: "2-digit",
    });
    fmtCache.set(zone, f);
  }
  return f.format(d);
}

/** Hours and minutes in `zone`, e.g. "10:30". */
export function timeOnlyIn(d: Date, zone: string): string {
  return wallClock(d, zone).time;
}
