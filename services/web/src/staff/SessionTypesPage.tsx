import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { call, newAction } from "../api/client";
import { S } from "../api/staff";
import type { SessionType } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/states";
import { ActionsCell, Field, PAGE_SIZE, PagerNav, staffKeys, TableBox, usePager } from "./common";

function minutesOf(t?: SessionType): string {
  return t?.duration ? String(Number(t.duration.seconds) / 60) : "50";
}

function SessionTypeForm({ existing, onDone }: { existing?: SessionType; onDone: (t: SessionType) => void }) {
  const qc = useQueryClient();
  const [code, setCode] = useState("");
  const [displayName, setDisplayName] = useState(existing?.displayName ?? "");
  const [minutes, setMinutes] = useState(minutesOf(existing));
  const [bookable, setBookable] = useState(existing?.clientBookable ?? false);
  const [action] = useState(newAction);
  const duration = { seconds: BigInt(Math.round(Number(minutes) * 60) || 0) };
  const save = useMutation({
    mutationFn: () =>
      existing
        ? call(
            S.updateSessionType,
            {
              sessionType: { name: existing.name, displayName, duration, clientBookable: bookable },
              updateMask: { paths: ["display_name", "duration", "client_bookable"] },
            },
            { action },
          )
        : call(
            S.createSessionType,
            { sessionTypeId: code, sessionType: { displayName, duration, clientBookable: bookable } },
            { action },
          ),
    onSuccess: (t) => {
      void qc.invalidateQueries({ queryKey: staffKeys.sessionTypes });
      onDone(t);
    },
  });
  return (
    <form
      className="card staff-form"
      aria-label={existing ? `Edit ${existing.displayName}` : "New session type"}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      {existing ? null : (
        <Field label="Code" error={save.error} field="session_type_id" hint="e.g. the billing code, 90834">
          {(p) => <input {...p} value={code} onChange={(e) => { setCode(e.target.value); }} />}
        </Field>
      )}
      <Field label="Name" error={save.error} field="display_name">
        {(p) => <input {...p} value={displayName} onChange={(e) => { setDisplayName(e.target.value); }} />}
      </Field>
      <Field label="Length in minutes" error={save.error} field="duration">
        {(p) => (
          <input {...p} type="number" min={5} step={5} value={minutes} onChange={(e) => { setMinutes(e.target.value); }} />
        )}
      </Field>
      <label className="choice">
        <input type="checkbox" checked={bookable} onChange={(e) => { setBookable(e.target.checked); }} />
        <span>Clients may request it themselves</span>
      </label>
      {save.error ? <ErrorNotice error={save.error} /> : null}
      <button type="submit" className="button button--primary" disabled={save.isPending}>
        {save.isPending ? "Saving…" : existing ? "Save" : "Add session type"}
      </button>
    </form>
  );
}

function SessionTypeRow({ t }: { t: SessionType }) {
  const [editing, setEditing] = useState(false);
  return (
    <tr data-resource={t.name}>
      <td data-label="Name">{t.displayName}</td>
      <td data-label="Code">{t.name.replace("sessionTypes/", "")}</td>
      <td data-label="Length">{minutesOf(t)} min</td>
      <td data-label="Client may request">{t.clientBookable ? "Yes" : "Staff only"}</td>
      <ActionsCell>
        <button
          type="button"
          className="button button--quiet"
          aria-expanded={editing}
          onClick={() => {
            setEditing((v) => !v);
          }}
        >
          Edit {t.displayName}
        </button>
        {editing ? (
          <SessionTypeForm
            existing={t}
            onDone={() => {
              setEditing(false);
            }}
          />
        ) : null}
      </ActionsCell>
    </tr>
  );
}

export function SessionTypesPage() {
  const pager = usePager();
  const [added, setAdded] = useState<SessionType | null>(null);
  const [formKey, setFormKey] = useState(0);
  const list = useQuery({
    queryKey: [...staffKeys.sessionTypes, pager.token],
    queryFn: ({ signal }) => call(S.listSessionTypes, { pageSize: PAGE_SIZE, pageToken: pager.token }, { signal }),
    placeholderData: keepPreviousData,
  });
  return (
    <Page title="Session types">
      <h2>Add a session type</h2>
      {added ? <Notice>Added {added.displayName}.</Notice> : null}
      <SessionTypeForm
        key={formKey}
        onDone={(t) => {
          setAdded(t);
          setFormKey((k) => k + 1);
        }}
      />
      <h2>All session types</h2>
      {list.isPending ? (
        <Loading what="session types" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.sessionTypes.length === 0 ? (
        <Empty title="No session types yet." />
      ) : (
        <>
          <TableBox label="Session types">
            <table className="staff-table">
              <caption className="visually-hidden">Session types, page {pager.page}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Code</th>
                  <th scope="col">Length</th>
                  <th scope="col">Client may request</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.sessionTypes.map((t) => (
                  <SessionTypeRow key={t.name} t={t} />
                ))}
              </tbody>
            </table>
          </TableBox>
          <PagerNav pager={pager} nextToken={list.data.nextPageToken} label="Session types" />
        </>
      )}
    </Page>
  );
}
