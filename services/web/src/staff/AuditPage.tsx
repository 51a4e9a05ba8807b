import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { call } from "../api/client";
import { auditMethod, type AuditLog } from "../api/staff";
import { AuditEvent_Outcome, type AuditEvent } from "../gen/phs/audit/v1/audit_pb";
import { ReportService } from "../gen/phs/reports/v1/reports_service_pb";
import { SchedulingService } from "../gen/phs/scheduling/v1/scheduling_service_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { dateTimeLabel, viewerZone, zoneName } from "../ui/time";
import { Field, PAGE_SIZE, PagerNav, staffKeys, TableBox, usePager } from "./common";

const SERVICES = { scheduling: SchedulingService, reports: ReportService } as const;

const OUTCOMES: [AuditEvent_Outcome, string, string][] = [
  [AuditEvent_Outcome.SUCCESS, "Success", "badge--good"],
  [AuditEvent_Outcome.MINOR_FAILURE, "Refused", "badge--waiting"],
  [AuditEvent_Outcome.SERIOUS_FAILURE, "Denied", "badge--bad"],
  [AuditEvent_Outcome.MAJOR_FAILURE, "Service failed", "badge--bad"],
];

interface Filters {
  log: AuditLog;
  subject: string;
  method: string;
  entity: string;
  outcome: AuditEvent_Outcome;
  from: string;
  to: string;
}

const EMPTY: Filters = { log: "scheduling", subject: "", method: "", entity: "", outcome: AuditEvent_Outcome.UNSPECIFIED, from: "", to: "" };

/** A `datetime-local` value is wall-clock time in the viewer's zone. */
function localInstant(value: string) {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : timestampFromDate(d);
}

function methodsOf(log: AuditLog): string[] {
  const s = SERVICES[log];
  return s.methods.map((m) => `/${s.typeName}/${m.name}`);
}

function EventRow({ e }: { e: AuditEvent }) {
  const outcome = OUTCOMES.find(([o]) => o === e.outcome);
  return (
    <tr data-method={e.method}>
      <td data-label="When">{e.recordTime ? dateTimeLabel(timestampDate(e.recordTime)) : ""}</td>
      <td data-label="Who">
        {e.agent?.subject || <span className="muted">no valid token</span>}
        {e.agent?.role ? <div className="muted">{e.agent.role}</div> : null}
      </td>
      <td data-label="Method" className="staff-code">{e.method.split("/").pop()}</td>
      <td data-label="Resources" className="staff-code">
        {e.entities.map((n) => (
          <div key={n}>{n}</div>
        ))}
      </td>
      <td data-label="Outcome">
        <span className={`badge ${outcome?.[2] ?? "badge--neutral"}`}>{outcome?.[1] ?? "Unknown"}</span>
        <div className="muted">{e.statusCode}</div>
      </td>
      <td data-label="Request id" className="staff-code">{e.requestId}</td>
    </tr>
  );
}

function FilterForm({ initial, error, onApply }: { initial: Filters; error: unknown; onApply: (f: Filters) => void }) {
  const [f, setF] = useState(initial);
  const set = (patch: Partial<Filters>) => {
    setF((old) => ({ ...old, ...patch }));
  };
  return (
    <form
      className="card"
      aria-label="Audit filters"
      onSubmit={(ev) => {
        ev.preventDefault();
        onApply(f);
      }}
    >
      <div className="staff-filters">
        <Field label="Service" error={error} field="parent">
          {(p) => (
            <select {...p} value={f.log} onChange={(e) => { set({ log: e.target.value as AuditLog, method: "" }); }}>
              <option value="scheduling">Scheduling</option>
              <option value="reports">Reports</option>
            </select>
          )}
        </Field>
        <Field label="Who (subject)" error={error} field="subject" hint="e.g. staff/alice, psychologists/…">
          {(p) => <input {...p} value={f.subject} onChange={(e) => { set({ subject: e.target.value }); }} />}
        </Field>
        <Field label="Method" error={error} field="method">
          {(p) => (
            <select {...p} value={f.method} onChange={(e) => { set({ method: e.target.value }); }}>
              <option value="">Any method</option>
              {methodsOf(f.log).map((m) => (
                <option key={m} value={m}>
                  {m.split("/").pop()}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Resource" error={error} field="entity" hint="a resource name, e.g. reports/…">
          {(p) => <input {...p} value={f.entity} onChange={(e) => { set({ entity: e.target.value }); }} />}
        </Field>
        <Field label="Outcome" error={error} field="outcome">
          {(p) => (
            <select {...p} value={f.outcome} onChange={(e) => { set({ outcome: Number(e.target.value) as AuditEvent_Outcome }); }}>
              <option value={AuditEvent_Outcome.UNSPECIFIED}>Any outcome</option>
              {OUTCOMES.map(([o, label]) => (
                <option key={o} value={o}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="From" error={error} field="start_time" hint={`Your time zone, ${zoneName(viewerZone)}`}>
          {(p) => <input {...p} type="datetime-local" value={f.from} onChange={(e) => { set({ from: e.target.value }); }} />}
        </Field>
        <Field label="Until" error={error} field="end_time">
          {(p) => <input {...p} type="datetime-local" value={f.to} onChange={(e) => { set({ to: e.target.value }); }} />}
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="button button--primary">
          Show events
        </button>
        <button
          type="button"
          className="button button--quiet"
          onClick={() => {
            setF(EMPTY);
            onApply(EMPTY);
          }}
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}

export function AuditPage() {
  const pager = usePager();
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const list = useQuery({
    queryKey: [...staffKeys.audit, filters, pager.token],
    queryFn: ({ signal }) =>
      call(
        auditMethod(filters.log),
        {
          parent: `auditLogs/${filters.log}`,
          pageSize: PAGE_SIZE,
          pageToken: pager.token,
          subject: filters.subject.trim(),
          method: filters.method,
          entity: filters.entity.trim(),
          outcome: filters.outcome,
          startTime: localInstant(filters.from),
          endTime: localInstant(filters.to),
        },
        { signal },
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <Page title="Audit log">
      <FilterForm
        initial={filters}
        error={list.error}
        onApply={(f) => {
          setFilters(f);
          pager.reset();
        }}
      />
      <p className="zone-line">Newest first. Times in your time zone, {zoneName(viewerZone)}.</p>
      <div className="staff-audit">
        {list.isPending ? (
          <Loading what="audit events" />
        ) : list.isError ? (
          <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />
        ) : list.data.auditEvents.length === 0 ? (
          <Empty title="No events match these filters." />
        ) : (
          <>
            <TableBox label="Audit events">
              <table className="staff-table">
                <caption className="visually-hidden">
                  {filters.log === "scheduling" ? "Scheduling" : "Reports"} audit events, page {pager.page}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Method</th>
                    <th scope="col">Resources</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Request id</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.auditEvents.map((e) => (
                    <EventRow key={e.name} e={e} />
                  ))}
                </tbody>
              </table>
            </TableBox>
            <PagerNav pager={pager} nextToken={list.data.nextPageToken} label="Audit events" />
          </>
        )}
      </div>
    </Page>
  );
}
