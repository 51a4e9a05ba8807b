import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { call, newAction } from "../api/client";
import { download, isFinal, R } from "../api/staff";
import { Report_State, type CaseloadSummary, type Report } from "../gen/phs/reports/v1/resources_pb";
import type { Psychologist } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { dateTimeLabel, viewerZone, zoneName, zonesDiffer } from "../ui/time";
import { useReportWatch, type WatchState } from "./useReportWatch";
import { ActionsCell, Field, PAGE_SIZE, PagerNav, PsychologistOptions, staffKeys, TableBox, useAllPsychologists, usePager } from "./common";

type Kind = "practiceSummaryParams" | "caseloadParams" | "exportParams";

const KINDS: [Kind, string][] = [
  ["practiceSummaryParams", "Practice summary"],
  ["caseloadParams", "Caseload of one psychologist"],
  ["exportParams", "Appointment export (CSV)"],
];

const STATE_WORDS: Record<Report_State, [string, string]> = {
  [Report_State.UNSPECIFIED]: ["Unknown", "badge--neutral"],
  [Report_State.QUEUED]: ["Queued", "badge--waiting"],
  [Report_State.RUNNING]: ["Running", "badge--waiting"],
  [Report_State.SUCCEEDED]: ["Succeeded", "badge--good"],
  [Report_State.FAILED]: ["Failed", "badge--bad"],
  [Report_State.CANCELLED]: ["Cancelled", "badge--neutral"],
};

/** Midnight at the start of a `YYYY-MM-DD` day in the viewer's zone. */
function dayStart(value: string, plusDays = 0): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays);
}

function isoDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function CreateReportForm({ psychologists, onCreated }: { psychologists: Psychologist[]; onCreated: (r: Report) => void }) {
  const qc = useQueryClient();
  const [kind, setKind] = useState<Kind>("practiceSummaryParams");
  const [psychologist, setPsychologist] = useState("");
  const [from, setFrom] = useState(() => isoDay(new Date(Date.now() - 30 * 86_400_000)));
  const [to, setTo] = useState(() => isoDay(new Date()));
  const [action, setAction] = useState(newAction);
  const chosen = kind === "practiceSummaryParams" ? undefined : psychologists.find((p) => p.name === psychologist);
  const create = useMutation({
    mutationFn: () => {
      const start = dayStart(from);
      const end = dayStart(to, 1);
      const interval = {
        startTime: start ? timestampFromDate(start) : undefined,
        endTime: end ? timestampFromDate(end) : undefined,
      };
      const params =
        kind === "practiceSummaryParams"
          ? { case: kind, value: { interval } }
          : kind === "caseloadParams"
            ? { case: kind, value: { psychologist, interval } }
            : { case: kind, value: { psychologist: psychologist || "psychologists/-", interval } };
      return call(R.createReport, { report: { params } }, { action });
    },
    onSuccess: (r) => {
      setAction(newAction());
      qc.setQueryData(staffKeys.report(r.name), r);
      void qc.invalidateQueries({ queryKey: staffKeys.reports });
      onCreated(r);
    },
  });
  return (
    <form
      className="card staff-form"
      aria-label="New report"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <fieldset className="choices">
        <legend>Kind of report</legend>
        {KINDS.map(([k, label]) => (
          <label className="choice" key={k}>
            <input
              type="radio"
              name="kind"
              value={k}
              checked={kind === k}
              onChange={() => {
                setKind(k);
              }}
            />
            <span>{label}</span>
          </label>
        ))}
      </fieldset>
      {kind === "practiceSummaryParams" ? null : (
        <Field label="Psychologist" error={create.error} field="psychologist">
          {(p) => (
            <select {...p} value={psychologist} onChange={(e) => { setPsychologist(e.target.value); }}>
              <option value="">{kind === "exportParams" ? "Whole practice" : "Choose a psychologist"}</option>
              <PsychologistOptions list={psychologists} />
            </select>
          )}
        </Field>
      )}
      {chosen && zonesDiffer(chosen.timeZone) ? (
        <p className="zone-note">
          Days are counted in your time zone, {zoneName(viewerZone)}; {chosen.displayName} works in{" "}
          {zoneName(chosen.timeZone)}.
        </p>
      ) : null}
      <Field label="From (first day)" error={create.error} field="start_time" hint={`Days in your time zone, ${zoneName(viewerZone)}`}>
        {(p) => <input {...p} type="date" value={from} onChange={(e) => { setFrom(e.target.value); }} />}
      </Field>
      <Field label="To (last day)" error={create.error} field="end_time">
        {(p) => <input {...p} type="date" value={to} onChange={(e) => { setTo(e.target.value); }} />}
      </Field>
      {create.error ? <ErrorNotice error={create.error} /> : null}
      <button type="submit" className="button button--primary" disabled={create.isPending}>
        {create.isPending ? "Starting…" : "Create report"}
      </button>
    </form>
  );
}

/** How often a report is read while its watch is down. */
const FALLBACK_POLL_MS = 1000;

/** One report, followed through its watch until it is final (polled only while the watch is down). */
function useReport(initial: Report) {
  // The cached copy (the row re-renders on each change of it), not the list's: a job may
  // be final in a refetched list while the cache still holds it as created.
  const qc = useQueryClient();
  const cached = qc.getQueryData<Report>(staffKeys.report(initial.name)) ?? initial;
  const watch = useReportWatch(initial.name, isFinal(cached));
  const q = useQuery({
    queryKey: staffKeys.report(initial.name),
    queryFn: ({ signal }) => call(R.getReport, { name: initial.name }, { signal }),
    initialData: initial,
    staleTime: 2000,
    refetchInterval: (q) => (q.state.data && !isFinal(q.state.data) && watch === "down" ? FALLBACK_POLL_MS : false),
  });
  return { q, watch };
}

function WatchLine({ watch }: { watch: WatchState }) {
  if (watch === "live") return <div className="muted" role="status">Progress updates live.</div>;
  if (watch === "down") return <div className="muted" role="status">Live updates paused; checking every second.</div>;
  return null;
}

function kindOf(r: Report, names: Map<string, string>): string {
  const who = (p: string) => (p === "psychologists/-" ? "whole practice" : (names.get(p) ?? p));
  switch (r.params.case) {
    case "practiceSummaryParams":
      return "Practice summary";
    case "caseloadParams":
      return `Caseload: ${who(r.params.value.psychologist)}`;
    case "exportParams":
      return `Export: ${who(r.params.value.psychologist)}`;
    default:
      return "Report";
  }
}

function periodOf(r: Report): string {
  const i = r.params.value?.interval;
  if (!i?.startTime || !i.endTime) return "";
  const end = new Date(timestampDate(i.endTime).getTime() - 1);
  return `${dateTimeLabel(timestampDate(i.startTime))} – ${dateTimeLabel(end)}`;
}

function Figures({ s }: { s: CaseloadSummary }) {
  return (
    <dl className="staff-figures">
      <dt>Appointments</dt>
      <dd>{String(s.appointmentsTotal)}</dd>
      <dt>Completed</dt>
      <dd>{String(s.completed)}</dd>
      <dt>No-show rate</dt>
      <dd>{(s.noShowRate * 100).toFixed(1)}%</dd>
      <dt>Utilization</dt>
      <dd>{(s.utilization * 100).toFixed(1)}%</dd>
    </dl>
  );
}

function DownloadButton({ r }: { r: Report }) {
  const fallback = r.result.case === "export" ? r.result.value.filename || "export.csv" : "export.csv";
  const get = useMutation({
    mutationFn: () => download(R.getReportContent, { name: r.name }, fallback),
    onSuccess: ({ blob, filename }) => {
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = filename;
      a.click();
      setTimeout(() => {
        URL.revokeObjectURL(url);
      }, 10_000);
    },
  });
  return (
    <>
      <button type="button" className="button button--secondary" disabled={get.isPending} onClick={() => { get.mutate(); }}>
        {get.isPending ? "Downloading…" : "Download CSV"}
      </button>
      {get.error ? <ErrorNotice error={get.error} /> : null}
    </>
  );
}

function ReportRow({ initial, names }: { initial: Report; names: Map<string, string> }) {
  const { q, watch } = useReport(initial);
  const r = q.data;
  const qc = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => call(R.cancelReport, { name: r.name }),
    onSuccess: (next) => {
      qc.setQueryData(staffKeys.report(r.name), next);
    },
  });
  const [word, tone] = STATE_WORDS[r.state] ?? ["Unknown", "badge--neutral"];
  const id = useId();
  return (
    <tr data-report={r.name}>
      <td data-label="Report" id={id}>{kindOf(r, names)}</td>
      <td data-label="Period">{periodOf(r)}</td>
      <td data-label="Requested">{r.createTime ? dateTimeLabel(timestampDate(r.createTime)) : ""}</td>
      <td data-label="State" aria-live="polite">
        <span className={`badge ${tone}`} data-state={word}>
          {word}
        </span>
        {r.state === Report_State.RUNNING ? (
          <div className="staff-progress">{String(r.progressAppointments)} appointments read</div>
        ) : null}
        {r.state === Report_State.SUCCEEDED && r.result.case === "export" ? (
          <div className="muted">
            {String(r.result.value.rows)} {r.result.value.rows === 1n ? "row" : "rows"}
          </div>
        ) : null}
        {r.state === Report_State.FAILED && r.error ? <div className="field-error">{r.error.message}</div> : null}
        {isFinal(r) ? null : <WatchLine watch={watch} />}
      </td>
      <ActionsCell label="Actions and result">
        {!isFinal(r) ? (
          <button
            type="button"
            className="button button--danger-quiet"
            aria-describedby={id}
            disabled={cancel.isPending}
            onClick={() => {
              cancel.mutate();
            }}
          >
            Cancel
          </button>
        ) : null}
        {r.state === Report_State.SUCCEEDED && r.result.case === "export" ? <DownloadButton r={r} /> : null}
        {r.state === Report_State.SUCCEEDED && r.result.case === "practiceSummary" && r.result.value.total ? (
          <Figures s={r.result.value.total} />
        ) : null}
        {r.state === Report_State.SUCCEEDED && r.result.case === "caseload" ? <Figures s={r.result.value} /> : null}
        {cancel.error ? <ErrorNotice error={cancel.error} /> : null}
      </ActionsCell>
    </tr>
  );
}

export function ReportsPage() {
  const pager = usePager();
  const psychologists = useAllPsychologists();
  const list = useQuery({
    queryKey: [...staffKeys.reports, pager.token],
    queryFn: ({ signal }) => call(R.listReports, { pageSize: PAGE_SIZE, pageToken: pager.token }, { signal }),
    placeholderData: keepPreviousData,
  });
  const names = new Map((psychologists.data ?? []).map((p) => [p.name, p.displayName]));
  return (
    <Page title="Reports">
      <h2>New report</h2>
      <CreateReportForm
        psychologists={psychologists.data ?? []}
        onCreated={() => {
          pager.reset();
        }}
      />
      <h2>History</h2>
      <p className="zone-line">Times in your time zone, {zoneName(viewerZone)}. Newest first.</p>
      {list.isPending ? (
        <Loading what="reports" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.reports.length === 0 ? (
        <Empty title="No reports yet." />
      ) : (
        <>
          <TableBox label="Reports">
            <table className="staff-table">
              <caption className="visually-hidden">Reports, page {pager.page}</caption>
              <thead>
                <tr>
                  <th scope="col">Report</th>
                  <th scope="col">Period</th>
                  <th scope="col">Requested</th>
                  <th scope="col">State</th>
                  <th scope="col">Actions and result</th>
                </tr>
              </thead>
              <tbody>
                {list.data.reports.map((r) => (
                  <ReportRow key={r.name} initial={r} names={names} />
                ))}
              </tbody>
            </table>
          </TableBox>
          <PagerNav pager={pager} nextToken={list.data.nextPageToken} label="Reports" />
        </>
      )}
    </Page>
  );
}
