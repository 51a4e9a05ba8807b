// Open times day by day, in the viewer's zone; one radio group for the keyboard.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useMemo } from "react";
import type { Psychologist, Slot } from "../gen/phs/scheduling/v1/resources_pb";
import { dayKey, dayLabel, timeIn, timeLabel, viewerZone, zoneName, zonesDiffer } from "../ui/time";

export interface SlotChoice {
  start: Date;
  iso: string;
}

interface Day {
  key: string;
  label: string;
  slots: SlotChoice[];
}

function byDay(slots: Slot[], exclude?: string): Day[] {
  const days = new Map<string, Day>();
  for (const s of slots) {
    if (!s.startTime) continue;
    const start = timestampDate(s.startTime);
    const iso = start.toISOString();
    if (iso === exclude) continue;
    const key = dayKey(start);
    let day = days.get(key);
    if (!day) {
      day = { key, label: dayLabel(start), slots: [] };
      days.set(key, day);
    }
    day.slots.push({ start, iso });
  }
  return [...days.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export function ZoneNote({ psychologist }: { psychologist: Psychologist | undefined }) {
  const differs = psychologist ? zonesDiffer(psychologist.timeZone) : false;
  return (
    <p className="zone-note">
      Times are shown in your time zone, <strong>{zoneName(viewerZone)}</strong>.
      {differs && psychologist ? (
        <>
          {" "}
          {psychologist.displayName} works in <strong>{zoneName(psychologist.timeZone)}</strong>.
        </>
      ) : null}
    </p>
  );
}

export function SlotPicker({
  slots,
  selected,
  onSelect,
  psychologist,
  exclude,
  errors = [],
}: {
  slots: Slot[];
  selected: string | null;
  onSelect: (choice: SlotChoice) => void;
  psychologist: Psychologist | undefined;
  exclude?: string;
  errors?: string[];
}) {
  const days = useMemo(() => byDay(slots, exclude), [slots, exclude]);
  useEffect(() => {
    // For bench/web_portal.py: the time from the data's arrival to these days on screen.
    requestAnimationFrame(() => {
      if (performance.getEntriesByName("phs:slots-data").length) {
        performance.measure("phs:slots-render", "phs:slots-data");
      }
    });
  }, [days]);
  const otherZone = psychologist && zonesDiffer(psychologist.timeZone) ? psychologist.timeZone : null;
  return (
    <fieldset className="slot-picker" aria-describedby={errors.length ? "slot-errors" : undefined}>
      <legend>Pick a time</legend>
      {errors.length ? (
        <div id="slot-errors" role="alert">
          <ul className="field-errors">
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <div className="days">
        {days.map((day) => (
          <section className="day" key={day.key} aria-labelledby={`day-${day.key}`}>
            <h2 className="day__title" id={`day-${day.key}`}>
              {day.label}
            </h2>
            <ul className="day__slots">
              {day.slots.map((s) => (
                <li key={s.iso}>
                  <label className="slot">
                    <input
                      type="radio"
                      name="slot"
                      value={s.iso}
                      checked={selected === s.iso}
                      onChange={() => {
                        onSelect(s);
                      }}
                      aria-label={`${day.label}, ${timeLabel(s.start)}${otherZone ? ` (${timeIn(s.start, otherZone)} in ${zoneName(otherZone)})` : ""}`}
                    />
                    <span>{timeLabel(s.start)}</span>
                  </label>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </fieldset>
  );
}
