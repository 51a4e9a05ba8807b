import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { call, newAction } from "../api/client";
import { S } from "../api/staff";
import type { Psychologist } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/states";
import { viewerZone } from "../ui/time";
import { ActionsCell, Field, PAGE_SIZE, PagerNav, staffKeys, TableBox, usePager } from "./common";

const ZONE_LIST = "staff-time-zones";

/** The IANA zones this browser knows, offered as suggestions (the server has the last word). */
function TimeZoneList() {
  return (
    <datalist id={ZONE_LIST}>
      {Intl.supportedValuesOf("timeZone").map((z) => (
        <option key={z} value={z} />
      ))}
    </datalist>
  );
}

function PsychologistForm({
  existing,
  onDone,
}: {
  existing?: Psychologist;
  onDone: (p: Psychologist) => void;
}) {
  const qc = useQueryClient();
  const [displayName, setDisplayName] = useState(existing?.displayName ?? "");
  const [timeZone, setTimeZone] = useState(existing?.timeZone ?? viewerZone);
  const [action] = useState(newAction);
  const save = useMutation({
    mutationFn: () =>
      existing
        ? call(
            S.updatePsychologist,
            {
              psychologist: { name: existing.name, displayName, timeZone },
              updateMask: { paths: ["display_name", "time_zone"] },
            },
            { action },
          )
        : call(S.createPsychologist, { psychologist: { displayName, timeZone, active: true } }, { action }),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: staffKeys.psychologists });
      onDone(p);
    },
  });
  const verb = existing ? "Save" : "Add psychologist";
  return (
    <form
      className="card staff-form"
      aria-label={existing ? `Edit ${existing.displayName}` : "New psychologist"}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Field label="Name" error={save.error} field="display_name">
        {(p) => <input {...p} value={displayName} onChange={(e) => { setDisplayName(e.target.value); }} />}
      </Field>
      <Field label="Time zone" error={save.error} field="time_zone" hint="IANA name, e.g. America/Toronto">
        {(p) => (
          <input {...p} list={ZONE_LIST} value={timeZone} onChange={(e) => { setTimeZone(e.target.value); }} />
        )}
      </Field>
      {save.error ? <ErrorNotice error={save.error} /> : null}
      <button type="submit" className="button button--primary" disabled={save.isPending}>
        {save.isPending ? "Saving…" : verb}
      </button>
    </form>
  );
}

function ActiveToggle({ p }: { p: Psychologist }) {
  const qc = useQueryClient();
  const toggle = useMutation({
    mutationFn: () =>
      call(S.updatePsychologist, { psychologist: { name: p.name, active: !p.active }, updateMask: { paths: ["active"] } }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: staffKeys.psychologists }),
  });
  return (
    <>
      <button
        type="button"
        className={p.active ? "button button--danger-quiet" : "button button--secondary"}
        disabled={toggle.isPending}
        onClick={() => {
          toggle.mutate();
        }}
      >
        {p.active ? `Deactivate ${p.displayName}` : `Reactivate ${p.displayName}`}
      </button>
      {toggle.error ? <ErrorNotice error={toggle.error} /> : null}
    </>
  );
}

function PsychologistRow({ p }: { p: Psychologist }) {
  const [editing, setEditing] = useState(false);
  return (
    <tr data-resource={p.name}>
      <td data-label="Name">{p.displayName}</td>
      <td data-label="Time zone">{p.timeZone}</td>
      <td data-label="Status">
        <span className={p.active ? "badge badge--good" : "badge badge--neutral"}>{p.active ? "Active" : "Inactive"}</span>
      </td>
      <ActionsCell>
        <button
          type="button"
          className="button button--quiet"
          aria-expanded={editing}
          onClick={() => {
            setEditing((v) => !v);
          }}
        >
          Edit {p.displayName}
        </button>
        <ActiveToggle p={p} />
        {editing ? (
          <PsychologistForm
            existing={p}
            onDone={() => {
              setEditing(false);
            }}
          />
        ) : null}
      </ActionsCell>
    </tr>
  );
}

export function PsychologistsPage() {
  const pager = usePager();
  const [added, setAdded] = useState<Psychologist | null>(null);
  const [formKey, setFormKey] = useState(0);
  const list = useQuery({
    queryKey: [...staffKeys.psychologists, pager.token],
    queryFn: ({ signal }) => call(S.listPsychologists, { pageSize: PAGE_SIZE, pageToken: pager.token }, { signal }),
    placeholderData: keepPreviousData,
  });
  return (
    <Page title="Psychologists">
      <TimeZoneList />
      <h2>Add a psychologist</h2>
      {added ? <Notice>Added {added.displayName}.</Notice> : null}
      <PsychologistForm
        key={formKey}
        onDone={(p) => {
          setAdded(p);
          setFormKey((k) => k + 1);
        }}
      />
      <h2>All psychologists</h2>
      {list.isPending ? (
        <Loading what="psychologists" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.psychologists.length === 0 ? (
        <Empty title="No psychologists yet." />
      ) : (
        <>
          <TableBox label="Psychologists">
            <table className="staff-table">
              <caption className="visually-hidden">Psychologists, page {pager.page}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Time zone</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.psychologists.map((p) => (
                  <PsychologistRow key={p.name} p={p} />
                ))}
              </tbody>
            </table>
          </TableBox>
          <PagerNav pager={pager} nextToken={list.data.nextPageToken} label="Psychologists" />
        </>
      )}
    </Page>
  );
}
