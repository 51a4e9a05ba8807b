// Weekly hours with breaks, date overrides (time off or other hours) and the booking
// policy, saved in one update; a preview shows the open times a client would see.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { call, newAction } from "../api/client";
import { ApiError } from "../api/errors";
import { psyKeys, useAvailability } from "../api/psychologist";
import { S } from "../api/scheduling";
import type { DayOfWeek } from "../gen/google/type/dayofweek_pb";
import type { Availability } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading, Notice } from "../ui/states";
import { SlotPreview } from "./SlotPreview";
import { hhmm } from "./workingHours";
import { ZoneLine } from "./ZoneLine";

const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

interface Interval {
  start: string;
  end: string;
}

interface Override {
  date: string;
  intervals: Interval[];
}

interface Form {
  /** Index 0 = Monday. */
  weekly: Interval[][];
  overrides: Override[];
  noticeHours: number;
  horizonDays: number;
  gridMinutes: number;
  lateHours: number;
}

function seconds(d: { seconds: bigint } | undefined): number {
  return d ? Number(d.seconds) : 0;
}

function toForm(a: Availability): Form {
  const weekly: Interval[][] = DAYS.map(() => []);
  for (const w of a.weeklyHours) {
    const i = (w.dayOfWeek as number) - 1;
    if (i >= 0 && i < 7) weekly[i]?.push({ start: hhmm(w.startTime), end: hhmm(w.endTime) });
  }
  for (const day of weekly) day.sort((x, y) => x.start.localeCompare(y.start));
  const p = a.bookingPolicy;
  return {
    weekly,
    overrides: a.dateOverrides.map((o) => ({
      date: o.date
        ? `${String(o.date.year)}-${String(o.date.month).padStart(2, "0")}-${String(o.date.day).padStart(2, "0")}`
        : "",
      intervals: o.intervals.map((i) => ({ start: hhmm(i.startTime), end: hhmm(i.endTime) })),
    })),
    noticeHours: seconds(p?.minimumNotice) / 3600,
    horizonDays: seconds(p?.bookingHorizon) / 86400,
    gridMinutes: seconds(p?.slotAlignment) / 60,
    lateHours: seconds(p?.lateCancelWindow) / 3600,
  };
}

function tod(text: string) {
  const [h = "0", m = "0"] = text.split(":");
  return { hours: Number(h), minutes: Number(m) };
}

function duration(s: number) {
  return { seconds: BigInt(Math.round(s)) };
}

function save(name: string, f: Form) {
  return call(
    S.updateAvailability,
    {
      availability: {
        name,
        weeklyHours: f.weekly.flatMap((day, i) =>
          day.map((iv) => ({ dayOfWeek: (i + 1) as DayOfWeek, startTime: tod(iv.start), endTime: tod(iv.end) })),
        ),
        dateOverrides: f.overrides
          .filter((o) => o.date)
          .map((o) => {
            const [y = "0", m = "0", d = "0"] = o.date.split("-");
            return {
              date: { year: Number(y), month: Number(m), day: Number(d) },
              intervals: o.intervals.map((iv) => ({ startTime: tod(iv.start), endTime: tod(iv.end) })),
            };
          }),
        bookingPolicy: {
          minimumNotice: duration(f.noticeHours * 3600),
          bookingHorizon: duration(f.horizonDays * 86400),
          slotAlignment: duration(f.gridMinutes * 60),
          lateCancelWindow: duration(f.lateHours * 3600),
        },
      },
    },
    { action: newAction() },
  );
}

function IntervalFields({
  label,
  value,
  onChange,
  onRemove,
}: {
  label: string;
  value: Interval;
  onChange: (v: Interval) => void;
  onRemove: () => void;
}) {
  return (
    <div className="psy-row" role="group" aria-label={label}>
      <label className="field">
        <span>From</span>
        <input
          type="time"
          required
          value={value.start}
          onChange={(e) => {
            onChange({ ...value, start: e.target.value });
          }}
        />
      </label>
      <label className="field">
        <span>To</span>
        <input
          type="time"
          required
          value={value.end}
          onChange={(e) => {
            onChange({ ...value, end: e.target.value });
          }}
        />
      </label>
      <button type="button" className="button button--quiet" onClick={onRemove} aria-label={`Remove ${label}`}>
        Remove
      </button>
    </div>
  );
}

function NumberField({
  label,
  value,
  unit,
  onChange,
}: {
  label: string;
  value: number;
  unit: string;
  onChange: (n: number) => void;
}) {
  return (
    <label className="field">
      <span>
        {label} ({unit})
      </span>
      <input
        type="number"
        min={0}
        step="any"
        required
        value={value}
        onChange={(e) => {
          onChange(Number(e.target.value));
        }}
      />
    </label>
  );
}

function Editor({ parent, zone, initial }: { parent: string; zone: string; initial: Availability }) {
  const [form, setForm] = useState<Form>(() => toForm(initial));
  const queryClient = useQueryClient();
  const mutation = useMutation({
    mutationFn: (f: Form) => save(initial.name, f),
    onSuccess: (a) => {
      queryClient.setQueryData(psyKeys.availability(parent), a);
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
    },
  });
  const set = (f: Partial<Form>) => {
    setForm({ ...form, ...f });
    mutation.reset();
  };
  const setDay = (i: number, day: Interval[]) => {
    set({ weekly: form.weekly.map((d, j) => (j === i ? day : d)) });
  };
  const setOverride = (i: number, o: Override | null) => {
    set({
      overrides: o === null ? form.overrides.filter((_, j) => j !== i) : form.overrides.map((x, j) => (j === i ? o : x)),
    });
  };
  const violations = mutation.error instanceof ApiError ? mutation.error.fieldViolations : [];
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        mutation.mutate(form);
      }}
    >
      <section aria-labelledby="weekly-title">
        <h2 id="weekly-title">Weekly hours</h2>
        <p className="muted">A break is the gap between two intervals of a day.</p>
        <div className="psy-grid">
          {DAYS.map((day, i) => {
            const intervals = form.weekly[i] ?? [];
            return (
              <fieldset className="card" key={day}>
                <legend>{day}</legend>
                {intervals.length === 0 ? <p className="muted">Not working</p> : null}
                {intervals.map((iv, k) => (
                  <IntervalFields
                    key={k}
                    label={`${day} interval ${k + 1}`}
                    value={iv}
                    onChange={(v) => {
                      setDay(i, intervals.map((x, j) => (j === k ? v : x)));
                    }}
                    onRemove={() => {
                      setDay(i, intervals.filter((_, j) => j !== k));
                    }}
                  />
                ))}
                <button
                  type="button"
                  className="button button--secondary"
                  onClick={() => {
                    const last = intervals[intervals.length - 1];
                    setDay(i, [...intervals, last ? { start: last.end, end: "17:00" } : { start: "09:00", end: "17:00" }]);
                  }}
                >
                  Add hours on {day}
                </button>
              </fieldset>
            );
          })}
        </div>
      </section>
      <section aria-labelledby="overrides-title">
        <h2 id="overrides-title">Date overrides</h2>
        <p className="muted">Time off (no hours) or other hours on one date; they replace that day's weekly hours.</p>
        {form.overrides.length === 0 ? <p className="muted">None.</p> : null}
        {form.overrides.map((o, i) => (
          <fieldset className="card" key={i}>
            <legend>{o.intervals.length === 0 ? "Time off" : "Other hours"}</legend>
            <label className="field">
              <span>Date</span>
              <input
                type="date"
                required
                value={o.date}
                onChange={(e) => {
                  setOverride(i, { ...o, date: e.target.value });
                }}
              />
            </label>
            {o.intervals.map((iv, k) => (
              <IntervalFields
                key={k}
                label={`Hours ${k + 1} on ${o.date || "the new date"}`}
                value={iv}
                onChange={(v) => {
                  setOverride(i, { ...o, intervals: o.intervals.map((x, j) => (j === k ? v : x)) });
                }}
                onRemove={() => {
                  setOverride(i, { ...o, intervals: o.intervals.filter((_, j) => j !== k) });
                }}
              />
            ))}
            <div className="actions">
              <button
                type="button"
                className="button button--secondary"
                onClick={() => {
                  setOverride(i, { ...o, intervals: [...o.intervals, { start: "09:00", end: "17:00" }] });
                }}
              >
                Add hours on this date
              </button>
              <button
                type="button"
                className="button button--quiet"
                onClick={() => {
                  setOverride(i, null);
                }}
              >
                Remove this override
              </button>
            </div>
          </fieldset>
        ))}
        <div className="actions">
          <button
            type="button"
            className="button button--secondary"
            onClick={() => {
              set({ overrides: [...form.overrides, { date: "", intervals: [] }] });
            }}
          >
            Add time off
          </button>
          <button
            type="button"
            className="button button--secondary"
            onClick={() => {
              set({ overrides: [...form.overrides, { date: "", intervals: [{ start: "09:00", end: "17:00" }] }] });
            }}
          >
            Add extra hours
          </button>
        </div>
      </section>
      <section aria-labelledby="policy-title">
        <h2 id="policy-title">Booking policy</h2>
        <div className="psy-grid">
          <NumberField label="Minimum notice" unit="hours" value={form.noticeHours} onChange={(n) => { set({ noticeHours: n }); }} />
          <NumberField label="Booking horizon" unit="days" value={form.horizonDays} onChange={(n) => { set({ horizonDays: n }); }} />
          <NumberField label="Start times every" unit="minutes" value={form.gridMinutes} onChange={(n) => { set({ gridMinutes: n }); }} />
          <NumberField label="Late-cancel window" unit="hours" value={form.lateHours} onChange={(n) => { set({ lateHours: n }); }} />
        </div>
      </section>
      {mutation.error ? (
        <ErrorNotice error={mutation.error} focus>
          {violations.length ? (
            <ul className="field-errors">
              {violations.map((v) => (
                <li key={`${v.field}:${v.description}`}>
                  {v.field}: {v.description}
                </li>
              ))}
            </ul>
          ) : null}
        </ErrorNotice>
      ) : null}
      {mutation.isSuccess ? <Notice>Saved. The preview below shows the open times clients now see.</Notice> : null}
      <div className="actions">
        <button type="submit" className="button button--primary" disabled={mutation.isPending}>
          {mutation.isPending ? "Saving…" : "Save availability"}
        </button>
      </div>
      <SlotPreview parent={parent} zone={zone} />
    </form>
  );
}

export function AvailabilityPage({ parent, zone }: { parent: string; zone: string }) {
  const availability = useAvailability(parent);
  return (
    <Page title="Availability">
      <ZoneLine zone={zone} />
      {availability.isPending ? (
        <Loading what="your availability" />
      ) : availability.isError ? (
        <ErrorNotice error={availability.error} onRetry={() => void availability.refetch()} />
      ) : (
        <Editor parent={parent} zone={zone} initial={availability.data} />
      )}
    </Page>
  );
}
