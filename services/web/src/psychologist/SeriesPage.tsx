// A weekly series: the dates are previewed as they are typed; the server creates all or
// nothing, and a refusal names each conflicting date, shown against the preview.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMemo, useState } from "react";
import { Temporal } from "temporal-polyfill";
import { call, newAction } from "../api/client";
import { ApiError } from "../api/errors";
import { useMyClients } from "../api/psychologist";
import { S, useSessionTypes } from "../api/scheduling";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading, Notice } from "../ui/states";
import { ZoneLine } from "./ZoneLine";
import { instantAt, labelIn } from "./zone";

const MAX_OCCURRENCES = 104;

interface Draft {
  client: string;
  sessionType: string;
  date: string;
  time: string;
  every: number;
  ends: "count" | "date";
  count: number;
  until: string;
}

/** The dates the series would have, in the psychologist's zone (the server's rule). */
export function seriesDates(d: Draft): string[] {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d.date) || d.every < 1) return [];
  let first: Temporal.PlainDate;
  try {
    first = Temporal.PlainDate.from(d.date);
  } catch {
    return [];
  }
  const out: string[] = [];
  let until: Temporal.PlainDate | null = null;
  if (d.ends === "date") {
    try {
      until = Temporal.PlainDate.from(d.until);
    } catch {
      return [];
    }
  }
  for (let i = 0; out.length <= MAX_OCCURRENCES; i++) {
    const day = first.add({ weeks: i * d.every });
    if (d.ends === "count" && i >= d.count) break;
    if (until && Temporal.PlainDate.compare(day, until) > 0) break;
    out.push(day.toString());
  }
  return out;
}

export function SeriesPage({ parent, zone }: { parent: string; zone: string }) {
  const clients = useMyClients(parent);
  const types = useSessionTypes();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Draft>({
    client: "",
    sessionType: "",
    date: "",
    time: "10:00",
    every: 1,
    ends: "count",
    count: 6,
    until: "",
  });
  const dates = useMemo(() => seriesDates(draft), [draft]);
  const mutation = useMutation({
    mutationFn: (d: Draft) =>
      call(
        S.createSeries,
        {
          parent,
          series: {
            client: d.client,
            sessionType: d.sessionType,
            firstStartTime: timestampFromDate(instantAt(d.date, d.time, zone)),
            intervalWeeks: d.every,
            end:
              d.ends === "count"
                ? { case: "count", value: d.count }
                : (() => {
                    const [y = "0", m = "0", day = "0"] = d.until.split("-");
                    return { case: "endDate" as const, value: { year: Number(y), month: Number(m), day: Number(day) } };
                  })(),
          },
        },
        { action: newAction() },
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["appointments", "agenda"] });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
    },
  });
  const update = (p: Partial<Draft>) => {
    setDraft({ ...draft, ...p });
    mutation.reset();
  };
  const conflicts = new Set(
    mutation.error instanceof ApiError && mutation.error.reason === "SERIES_CONFLICTS"
      ? mutation.error.fieldViolations.map((v) => v.field)
      : [],
  );
  if (clients.isPending || types.isPending) return <Page title="Weekly series"><Loading what="your clients" /></Page>;
  const clientList = clients.data ?? [];
  const typeList = types.data ?? [];
  const chosenClient = draft.client || (clientList[0]?.name ?? "");
  const chosenType = draft.sessionType || (typeList[0]?.name ?? "");
  return (
    <Page title="Weekly series">
      <ZoneLine zone={zone} />
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          mutation.mutate({ ...draft, client: chosenClient, sessionType: chosenType });
        }}
      >
        <div className="psy-grid">
          <label className="field">
            <span>Client</span>
            <select value={chosenClient} onChange={(e) => { update({ client: e.target.value }); }}>
              {clientList.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.displayName}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Session type</span>
            <select value={chosenType} onChange={(e) => { update({ sessionType: e.target.value }); }}>
              {typeList.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.displayName}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>First date</span>
            <input type="date" required value={draft.date} onChange={(e) => { update({ date: e.target.value }); }} />
          </label>
          <label className="field">
            <span>Start time</span>
            <input type="time" required value={draft.time} onChange={(e) => { update({ time: e.target.value }); }} />
          </label>
          <label className="field">
            <span>Every how many weeks</span>
            <input
              type="number"
              min={1}
              max={8}
              required
              value={draft.every}
              onChange={(e) => { update({ every: Number(e.target.value) }); }}
            />
          </label>
        </div>
        <fieldset className="choices">
          <legend>Ends</legend>
          <label className="choice">
            <input type="radio" name="ends" checked={draft.ends === "count"} onChange={() => { update({ ends: "count" }); }} />
            <span>After a number of sessions</span>
          </label>
          <label className="choice">
            <input type="radio" name="ends" checked={draft.ends === "date"} onChange={() => { update({ ends: "date" }); }} />
            <span>On a date</span>
          </label>
        </fieldset>
        {draft.ends === "count" ? (
          <label className="field">
            <span>Number of sessions</span>
            <input
              type="number"
              min={1}
              max={MAX_OCCURRENCES}
              required
              value={draft.count}
              onChange={(e) => { update({ count: Number(e.target.value) }); }}
            />
          </label>
        ) : (
          <label className="field">
            <span>Last date</span>
            <input type="date" required value={draft.until} onChange={(e) => { update({ until: e.target.value }); }} />
          </label>
        )}
        <section aria-labelledby="dates-title">
          <h2 id="dates-title">The dates ({dates.length})</h2>
          {dates.length > MAX_OCCURRENCES ? (
            <p className="field-error">At most {MAX_OCCURRENCES} sessions in one series.</p>
          ) : null}
          {dates.length === 0 ? (
            <p className="muted">Pick a first date to see the dates.</p>
          ) : (
            <ol className="psy-dates">
              {dates.map((d) => (
                <li key={d} data-date={d} className={conflicts.has(d) ? "psy-conflict" : undefined}>
                  {draft.time && /^\d\d:\d\d$/.test(draft.time) ? labelIn(instantAt(d, draft.time, zone), zone) : d}
                  {conflicts.has(d) ? " — conflict: you already have an appointment then" : ""}
                </li>
              ))}
            </ol>
          )}
        </section>
        {conflicts.size ? (
          <div className="notice notice--error" role="alert">
            <p className="notice__title">
              {conflicts.size === 1 ? "1 date conflicts" : `${conflicts.size} dates conflict`} with appointments you
              already have; nothing was saved.
            </p>
            <p>They are marked in the list above. Change the time or the first date and try again.</p>
          </div>
        ) : mutation.error ? (
          <ErrorNotice error={mutation.error} focus />
        ) : null}
        {mutation.isSuccess ? <Notice>The series is saved: {mutation.data.occurrences.length} sessions booked.</Notice> : null}
        <div className="actions">
          <button type="submit" className="button button--primary" disabled={mutation.isPending || clientList.length === 0}>
            {mutation.isPending ? "Saving…" : "Book the series"}
          </button>
        </div>
      </form>
    </Page>
  );
}
