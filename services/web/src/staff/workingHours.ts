// Whether a session lies inside a psychologist's working hours, read in their own zone
// from their availability (date overrides first, then the weekly hours).
import type { TimeOfDay } from "../gen/google/type/timeofday_pb";
import type { Availability } from "../gen/phs/scheduling/v1/resources_pb";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

interface Local {
  year: number;
  month: number;
  day: number;
  /** google.type.DayOfWeek: Monday 1 … Sunday 7. */
  weekday: number;
  minute: number;
}

function localParts(d: Date, zone: string): Local {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
    weekday: "short",
    hour: "numeric",
    minute: "numeric",
    hourCycle: "h23",
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return {
    year: Number(get("year")),
    month: Number(get("month")),
    day: Number(get("day")),
    weekday: WEEKDAYS.indexOf(get("weekday")) + 1,
    minute: Number(get("hour")) * 60 + Number(get("minute")),
  };
}

function minutesOf(t: TimeOfDay | undefined): number {
  return t ? t.hours * 60 + t.minutes : 0;
}

/** True when [start, end) fits inside one working interval of that local day. */
export function insideWorkingHours(a: Availability, start: Date, end: Date, zone: string): boolean {
  const s = localParts(start, zone);
  const e = localParts(end, zone);
  const sameDay = s.year === e.year && s.month === e.month && s.day === e.day;
  const endMinute = sameDay ? e.minute : e.minute === 0 ? 24 * 60 : Infinity;
  const override = a.dateOverrides.find(
    (o) => o.date && o.date.year === s.year && o.date.month === s.month && o.date.day === s.day,
  );
  const intervals = override
    ? override.intervals.map((i) => [minutesOf(i.startTime), minutesOf(i.endTime)])
    : a.weeklyHours
        .filter((w) => Number(w.dayOfWeek) === s.weekday)
        .map((w) => [minutesOf(w.startTime), minutesOf(w.endTime)]);
  return intervals.some(([from = 0, to = 0]) => s.minute >= from && endMinute <= to);
}
