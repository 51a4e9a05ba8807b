// My caseload: a report for a period, computed by the reports service, drawn as charts
// (Recharts, hidden from assistive tech) with the same figures in tables for screen readers.
// Its own lazy chunk inside the workspace: the chart code loads only here.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { call, newAction } from "../api/client";
import { ReportService } from "../gen/phs/reports/v1/reports_service_pb";
import { Report_State, type CaseloadSummary, type WeekFigures } from "../gen/phs/reports/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading } from "../ui/states";
import { useNames } from "./names";
import { ZoneLine } from "./ZoneLine";
import { instantAt, todayIn } from "./zone";

const R = ReportService.method;
const DONE = new Set<Report_State>([Report_State.SUCCEEDED, Report_State.FAILED, Report_State.CANCELLED]);

function percent(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

type StateCount = "booked" | "completed" | "pending" | "cancelled" | "declined" | "noShow";

// The states in the order of the figures table, the first at the bottom of each stack.
// The colours only repeat the names (legend, tooltip, tables); white edges keep
// neighbouring segments apart where two colours look alike to a colour-blind reader.
const STATES: { state: string; count: StateCount; colour: string }[] = [
  { state: "Booked", count: "booked", colour: "#1f5f8b" },
  { state: "Completed", count: "completed", colour: "#1d6b36" },
  { state: "Requested", count: "pending", colour: "#b35c00" },
  { state: "Cancelled", count: "cancelled", colour: "#8e4585" },
  { state: "Declined", count: "declined", colour: "#5f6b7a" },
  { state: "No-show", count: "noShow", colour: "#a32020" },
];

// Weeks are dates, not instants: formatted in UTC so that no zone moves the day.
const weekShort = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const weekLong = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});

function monday(w: WeekFigures): Date {
  const d = w.weekStart;
  return new Date(d ? Date.UTC(d.year, d.month - 1, d.day) : 0);
}

/** Sessions per week, stacked by state; the same figures are in the table below it. */
function WeeksChart({ weeks }: { weeks: WeekFigures[] }) {
  const data = weeks.map((w) => ({
    week: weekShort.format(monday(w)),
    ...Object.fromEntries(STATES.map((s) => [s.state, Number(w[s.count])])),
  }));
  return (
    <figure className="card psy-charts__wide" aria-labelledby="chart-states">
      <figcaption id="chart-states">Sessions per week by state</figcaption>
      {weeks.length === 0 ? (
        // A report kept from before the reports service counted weeks.
        <p>This report has no weekly figures. Show your caseload again to see them.</p>
      ) : (
        <div aria-hidden="true" className="psy-chart">
          <ResponsiveContainer width="100%" height={260}>
            <BarChart accessibilityLayer={false} data={data} margin={{ top: 5, right: 16, bottom: 5, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              {/* A range has up to 54 weeks: on a narrow card only every Nth week is
                  labelled, from the first, N as small as keeps the labels apart. */}
              <XAxis dataKey="week" interval="equidistantPreserveStart" minTickGap={8} />
              <YAxis allowDecimals={false} width={36} />
              <Tooltip labelFormatter={(label) => (typeof label === "string" ? `Week of ${label}` : label)} />
              {/* In stack order, the names in the text colour (the swatch is the state's). */}
              <Legend itemSorter={null} formatter={(name) => <span className="psy-legend">{name}</span>} />
              {STATES.map((s) => (
                <Bar key={s.state} isAnimationActive={false} dataKey={s.state} stackId="sessions" fill={s.colour} stroke="#fff" maxBarSize={56} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
    </figure>
  );
}

/** The weekly figures for screen readers (and anyone who prefers numbers), folded away. */
function WeeksTable({ weeks }: { weeks: WeekFigures[] }) {
  if (weeks.length === 0) return null;
  return (
    <details className="psy-details">
      <summary>Sessions per week as a table</summary>
      <div className="psy-table-wrap" role="region" aria-label="Sessions per week" tabIndex={0}>
        <table className="psy-table">
          <caption>Sessions per week</caption>
          <thead>
            <tr>
              <th scope="col">Week of</th>
              {STATES.map((s) => (
                <th key={s.state} scope="col">{s.state}</th>
              ))}
              <th scope="col">Scheduled hours</th>
            </tr>
          </thead>
          <tbody>
            {weeks.map((w) => (
              <tr key={monday(w).getTime()}>
                <th scope="row">{weekLong.format(monday(w))}</th>
                {STATES.map((s) => (
                  <td key={s.state}>{Number(w[s.count])}</td>
                ))}
                <td>{(Number(w.scheduledMinutes) / 60).toFixed(1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

function Figures({ c, parent }: { c: CaseloadSummary; parent: string }) {
  const names = useNames(parent);
  const states = STATES.map((s) => ({ state: s.state, n: Number(c[s.count]) }));
  const types = c.bySessionType.map((t) => ({
    type: names.sessionType(t.sessionType),
    appointments: Number(t.appointments),
    completed: Number(t.completed),
  }));
  const rates = [
    { what: "Utilization", pct: c.utilization * 100 },
    { what: "No-show rate", pct: c.noShowRate * 100 },
    { what: "Late-cancel rate", pct: c.lateCancelRate * 100 },
  ];
  return (
    <>
      <div className="psy-charts">
        <WeeksChart weeks={c.byWeek} />
        <figure className="card" aria-labelledby="chart-rates">
          <figcaption id="chart-rates">Utilization and rates (%)</figcaption>
          <div aria-hidden="true" className="psy-chart">
            <ResponsiveContainer width="100%" height={220}>
              <BarChart accessibilityLayer={false} data={rates} layout="vertical">
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis type="number" domain={[0, 100]} />
                <YAxis type="category" dataKey="what" width={120} />
                <Tooltip />
                <Bar isAnimationActive={false} dataKey="pct" name="%" fill="#1d6b36" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </figure>
        <figure className="card" aria-labelledby="chart-types">
          <figcaption id="chart-types">By session type</figcaption>
          <div aria-hidden="true" className="psy-chart">
            <ResponsiveContainer width="100%" height={220}>
              <BarChart accessibilityLayer={false} data={types}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="type" />
                <YAxis allowDecimals={false} />
                <Tooltip />
                <Legend />
                <Bar isAnimationActive={false} dataKey="appointments" name="Sessions" fill="#1f5f8b" />
                <Bar isAnimationActive={false} dataKey="completed" name="Completed" fill="#7a4d00" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </figure>
      </div>
      <table className="psy-table">
        <caption>The figures</caption>
        <tbody>
          <tr><th scope="row">Sessions</th><td>{Number(c.appointmentsTotal)}</td></tr>
          {states.map((s) => (
            <tr key={s.state}><th scope="row">{s.state}</th><td>{s.n}</td></tr>
          ))}
          <tr><th scope="row">Clients seen</th><td>{Number(c.distinctClients)}</td></tr>
          <tr><th scope="row">Scheduled hours</th><td>{(Number(c.scheduledMinutes) / 60).toFixed(1)}</td></tr>
          <tr><th scope="row">Working hours</th><td>{(Number(c.workingMinutes) / 60).toFixed(1)}</td></tr>
          <tr><th scope="row">Utilization</th><td>{percent(c.utilization)}</td></tr>
          <tr><th scope="row">No-show rate</th><td>{percent(c.noShowRate)}</td></tr>
          <tr><th scope="row">Late-cancel rate</th><td>{percent(c.lateCancelRate)}</td></tr>
          {types.map((t) => (
            <tr key={t.type}><th scope="row">{t.type}</th><td>{t.appointments} sessions, {t.completed} completed</td></tr>
          ))}
        </tbody>
      </table>
      <WeeksTable weeks={c.byWeek} />
    </>
  );
}

export default function CaseloadPage({ parent, zone }: { parent: string; zone: string }) {
  const today = todayIn(zone);
  const [from, setFrom] = useState(today.subtract({ days: 28 }).toString());
  const [to, setTo] = useState(today.toString());
  const create = useMutation({
    mutationFn: () =>
      call(
        R.createReport,
        {
          report: {
            params: {
              case: "caseloadParams",
              value: {
                psychologist: parent,
                interval: {
                  startTime: timestampFromDate(instantAt(from, "00:00", zone)),
                  endTime: timestampFromDate(instantAt(to, "23:59", zone)),
                },
              },
            },
          },
        },
        { action: newAction() },
      ),
  });
  const name = create.data?.name ?? "";
  const report = useQuery({
    queryKey: ["report", name],
    queryFn: ({ signal }) => call(R.getReport, { name }, { signal }),
    enabled: name !== "",
    refetchInterval: (q) => (q.state.data && DONE.has(q.state.data.state) ? false : 1_000),
  });
  const r = report.data;
  return (
    <Page title="My caseload">
      <ZoneLine zone={zone} />
      <form
        className="psy-row"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label className="field">
          <span>From</span>
          <input type="date" required value={from} onChange={(e) => { setFrom(e.target.value); }} />
        </label>
        <label className="field">
          <span>To (inclusive)</span>
          <input type="date" required value={to} onChange={(e) => { setTo(e.target.value); }} />
        </label>
        <button type="submit" className="button button--primary" disabled={create.isPending}>
          Show my caseload
        </button>
      </form>
      {create.error ? <ErrorNotice error={create.error} focus /> : null}
      {report.error ? <ErrorNotice error={report.error} /> : null}
      {name && (!r || !DONE.has(r.state)) ? <Loading what="the report (it is being computed)" /> : null}
      {r?.state === Report_State.FAILED ? (
        <div className="notice notice--error" role="alert">
          <p className="notice__title">The report could not be computed. Please try again.</p>
        </div>
      ) : null}
      {r?.state === Report_State.SUCCEEDED && r.result.case === "caseload" ? (
        <Figures c={r.result.value} parent={parent} />
      ) : null}
    </Page>
  );
}
