// My caseload: a report for a period, computed by the reports service, drawn as charts
// (Recharts, hidden from assistive tech) with the same figures in a table for screen readers.
// Its own lazy chunk inside the workspace: the chart code loads only here.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { call, newAction } from "../api/client";
import { ReportService } from "../gen/phs/reports/v1/reports_service_pb";
import { Report_State, type CaseloadSummary } from "../gen/phs/reports/v1/resources_pb";
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

function Figures({ c, parent }: { c: CaseloadSummary; parent: string }) {
  const names = useNames(parent);
  const states = [
    { state: "Booked", n: Number(c.booked) },
    { state: "Completed", n: Number(c.completed) },
    { state: "Requested", n: Number(c.pending) },
    { state: "Cancelled", n: Number(c.cancelled) },
    { state: "Declined", n: Number(c.declined) },
    { state: "No-show", n: Number(c.noShow) },
  ];
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
        <figure className="card" aria-labelledby="chart-states">
          <figcaption id="chart-states">Sessions by state</figcaption>
          <div aria-hidden="true" className="psy-chart">
            <ResponsiveContainer width="100%" height={220}>
              {/* Bars across, names down the side: six state names side by side overlap
                  on narrow cards. */}
              <BarChart accessibilityLayer={false} data={states} layout="vertical">
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis type="number" allowDecimals={false} />
                <YAxis type="category" dataKey="state" width={90} interval={0} />
                <Tooltip />
                <Bar isAnimationActive={false} dataKey="n" name="Sessions" fill="#1f5f8b" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </figure>
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
