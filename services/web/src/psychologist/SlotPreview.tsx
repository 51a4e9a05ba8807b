// What clients would see: the open times of the next days, one line per day in the
// psychologist's zone. Only the first few days show at first: a phone would otherwise
// scroll through dozens of times before reaching anything else.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useId, useRef, useState, type Ref } from "react";
import { useSlotPreview } from "../api/psychologist";
import { useSessionTypes } from "../api/scheduling";
import type { Slot } from "../gen/phs/scheduling/v1/resources_pb";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { timeOnlyIn, wallClock } from "./zone";

const PREVIEW_DAYS = 14;
/** Days listed before "Show all". */
const FIRST_DAYS = 3;

interface Day {
  date: string;
  label: string;
  starts: Date[];
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** "Mon 14 Mar" in `zone`. */
function dayLabel(d: Date, zone: string): string {
  let f = dayFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: "short", day: "numeric", month: "short" });
    dayFormats.set(zone, f);
  }
  return f.format(d);
}

/** The slots by the date they start on in `zone`, in order. */
function byDay(slots: Slot[], zone: string): Day[] {
  const days: Day[] = [];
  for (const s of slots) {
    if (!s.startTime) continue;
    const start = timestampDate(s.startTime);
    const { date } = wallClock(start, zone);
    const last = days[days.length - 1];
    if (last?.date === date) last.starts.push(start);
    else days.push({ date, label: dayLabel(start, zone), starts: [start] });
  }
  return days;
}

function DayLine({ day, zone, focusRef }: { day: Day; zone: string; focusRef?: Ref<HTMLHeadingElement> }) {
  const id = useId();
  return (
    <li className="psy-preview__day" data-date={day.date}>
      <h3 className="psy-preview__date" id={id} tabIndex={focusRef ? -1 : undefined} ref={focusRef}>
        {day.label}
      </h3>
      <ul className="psy-preview__times" aria-labelledby={id}>
        {day.starts.map((start) => (
          <li key={start.toISOString()} data-slot={start.toISOString()}>
            {timeOnlyIn(start, zone)}
          </li>
        ))}
      </ul>
    </li>
  );
}

function Days({ days, zone }: { days: Day[]; zone: string }) {
  const [all, setAll] = useState(false);
  const listId = useId();
  // On "Show all" the reader moves to the first day it revealed (not left on the button
  // below the new days).
  const focusNext = useRef(false);
  const revealed = (el: HTMLHeadingElement | null) => {
    if (el && focusNext.current) {
      focusNext.current = false;
      el.focus();
    }
  };
  const shown = all ? days : days.slice(0, FIRST_DAYS);
  const times = days.reduce((n, d) => n + d.starts.length, 0);
  return (
    <>
      <p className="muted">
        {times} open {times === 1 ? "time" : "times"} on {days.length} {days.length === 1 ? "day" : "days"}; days
        without open times are not listed.
      </p>
      <ul className="psy-preview" id={listId} aria-label="Open times">
        {shown.map((d, i) => (
          <DayLine key={d.date} day={d} zone={zone} focusRef={all && i === FIRST_DAYS ? revealed : undefined} />
        ))}
      </ul>
      {days.length > FIRST_DAYS ? (
        <button
          type="button"
          className="button button--secondary"
          aria-controls={listId}
          aria-expanded={all}
          onClick={() => {
            focusNext.current = !all;
            setAll(!all);
          }}
        >
          {all ? `Show the first ${FIRST_DAYS} days only` : `Show all ${days.length} days`}
        </button>
      ) : null}
    </>
  );
}

export function SlotPreview({ parent, zone }: { parent: string; zone: string }) {
  const types = useSessionTypes();
  const [picked, setPicked] = useState("");
  const sessionType = picked || (types.data?.[0]?.name ?? "");
  const slots = useSlotPreview(parent, sessionType, PREVIEW_DAYS);
  return (
    <section aria-labelledby="preview-title">
      <h2 id="preview-title">What clients see</h2>
      <label className="field">
        <span>Session type</span>
        <select
          value={sessionType}
          onChange={(e) => {
            setPicked(e.target.value);
          }}
        >
          {(types.data ?? []).map((t) => (
            <option key={t.name} value={t.name}>
              {t.displayName}
            </option>
          ))}
        </select>
      </label>
      {slots.isPending ? (
        <Loading what="open times" />
      ) : slots.isError ? (
        <ErrorNotice error={slots.error} onRetry={() => void slots.refetch()} />
      ) : slots.data.length === 0 ? (
        <Empty title={`No open times in the next ${PREVIEW_DAYS} days.`}>
          <p>Clients cannot book this session type now. Add weekly hours or extra hours above, then save.</p>
        </Empty>
      ) : (
        <Days days={byDay(slots.data, zone)} zone={zone} />
      )}
    </section>
  );
}
