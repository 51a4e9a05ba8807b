// The psychologist's working intervals and time off on given dates, from their
// availability (a date override replaces that weekday's hours), as instants.
import { Temporal } from "temporal-polyfill";
import type { Availability } from "../gen/phs/scheduling/v1/resources_pb";
import type { TimeOfDay } from "../gen/google/type/timeofday_pb";
import { instantAt } from "./zone";

export interface Span {
  start: Date;
  end: Date;
}

export interface DayHours {
  date: string;
  work: Span[];
  /** Set when a date override makes the whole day unavailable. */
  off: boolean;
  /** Set when a date override gives other hours than the weekly ones. */
  changed: boolean;
}

export function hhmm(t: TimeOfDay | undefined): string {
  const h = t?.hours ?? 0;
  const m = t?.minutes ?? 0;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
}

function dateKey(d: { year: number; month: number; day: number } | undefined): string {
  return d ? `${String(d.year).padStart(4, "0")}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}` : "";
}

function span(date: string, from: TimeOfDay | undefined, to: TimeOfDay | undefined, zone: string): Span {
  const start = instantAt(date, hhmm(from), zone);
  // 24:00 (or an end not after the start) closes the day.
  const endText = hhmm(to);
  const end =
    endText === "24:00" || endText <= hhmm(from)
      ? instantAt(Temporal.PlainDate.from(date).add({ days: 1 }).toString(), "00:00", zone)
      : instantAt(date, endText, zone);
  return { start, end };
}

export function hoursOn(availability: Availability | undefined, from: Date, to: Date, zone: string): DayHours[] {
  if (!availability) return [];
  const overrides = new Map(availability.dateOverrides.map((o) => [dateKey(o.date), o]));
  const first = Temporal.Instant.fromEpochMilliseconds(from.getTime()).toZonedDateTimeISO(zone).toPlainDate();
  const last = Temporal.Instant.fromEpochMilliseconds(to.getTime()).toZonedDateTimeISO(zone).toPlainDate();
  const out: DayHours[] = [];
  for (let d = first; Temporal.PlainDate.compare(d, last) <= 0; d = d.add({ days: 1 })) {
    const date = d.toString();
    const o = overrides.get(date);
    if (o) {
      out.push({ date, work: o.intervals.map((i) => span(date, i.startTime, i.endTime, zone)), off: o.intervals.length === 0, changed: true });
    } else {
      const weekly = availability.weeklyHours.filter((w) => (w.dayOfWeek as number) === d.dayOfWeek);
      out.push({ date, work: weekly.map((w) => span(date, w.startTime, w.endTime, zone)), off: false, changed: false });
    }
  }
  return out;
}
