import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { call, newAction } from "../api/client";
import { S } from "../api/staff";
import type { Client, Psychologist } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/states";
import { ActionsCell, Field, PAGE_SIZE, PagerNav, PsychologistOptions, staffKeys, TableBox, useAllPsychologists, usePager } from "./common";

function ClientForm({
  existing,
  psychologists,
  onDone,
}: {
  existing?: Client;
  psychologists: Psychologist[];
  onDone: (c: Client) => void;
}) {
  const qc = useQueryClient();
  const [displayName, setDisplayName] = useState(existing?.displayName ?? "");
  const [email, setEmail] = useState(existing?.email ?? "");
  const [phone, setPhone] = useState(existing?.phone ?? "");
  const [psychologist, setPsychologist] = useState(existing?.psychologist ?? "");
  const [action] = useState(newAction);
  const save = useMutation({
    mutationFn: () =>
      existing
        ? call(
            S.updateClient,
            {
              client: { name: existing.name, displayName, email, phone },
              updateMask: { paths: ["display_name", "email", "phone"] },
            },
            { action },
          )
        : call(S.createClient, { client: { displayName, email, phone, psychologist } }, { action }),
    onSuccess: (c) => {
      void qc.invalidateQueries({ queryKey: staffKeys.clients });
      onDone(c);
    },
  });
  return (
    <form
      className="card staff-form"
      aria-label={existing ? `Edit ${existing.displayName}` : "New client"}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Field label="Name" error={save.error} field="display_name">
        {(p) => <input {...p} value={displayName} onChange={(e) => { setDisplayName(e.target.value); }} />}
      </Field>
      <Field label="Email" error={save.error} field="email">
        {(p) => <input {...p} type="email" value={email} onChange={(e) => { setEmail(e.target.value); }} />}
      </Field>
      <Field label="Phone" error={save.error} field="phone">
        {(p) => <input {...p} type="tel" value={phone} onChange={(e) => { setPhone(e.target.value); }} />}
      </Field>
      {existing ? null : (
        <Field label="Psychologist" error={save.error} field="psychologist">
          {(p) => (
            <select {...p} value={psychologist} onChange={(e) => { setPsychologist(e.target.value); }}>
              <option value="">None yet (intake first)</option>
              <PsychologistOptions list={psychologists} activeOnly />
            </select>
          )}
        </Field>
      )}
      {save.error ? <ErrorNotice error={save.error} /> : null}
      <button type="submit" className="button button--primary" disabled={save.isPending}>
        {save.isPending ? "Saving…" : existing ? "Save" : "Add client"}
      </button>
    </form>
  );
}

function AssignControl({ c, psychologists }: { c: Client; psychologists: Psychologist[] }) {
  const qc = useQueryClient();
  const id = useId();
  const [choice, setChoice] = useState(c.psychologist);
  const assign = useMutation({
    mutationFn: () => call(S.updateClient, { client: { name: c.name, psychologist: choice }, updateMask: { paths: ["psychologist"] } }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: staffKeys.clients }),
  });
  return (
    <div className="staff-assign">
      <label htmlFor={id}>Assign {c.displayName} to</label>
      <select id={id} value={choice} onChange={(e) => { setChoice(e.target.value); }}>
        <option value="">No psychologist</option>
        <PsychologistOptions list={psychologists} activeOnly />
      </select>
      <button
        type="button"
        className="button button--secondary"
        disabled={assign.isPending || choice === c.psychologist}
        onClick={() => {
          assign.mutate();
        }}
      >
        Assign
      </button>
      {assign.error ? <ErrorNotice error={assign.error} /> : null}
    </div>
  );
}

function ClientRow({ c, psychologists }: { c: Client; psychologists: Psychologist[] }) {
  const [editing, setEditing] = useState(false);
  const psy = psychologists.find((p) => p.name === c.psychologist);
  return (
    <tr data-resource={c.name}>
      <td data-label="Name">{c.displayName}</td>
      <td data-label="Contact">
        {c.email}
        {c.phone ? <div className="muted">{c.phone}</div> : null}
        {c.email || c.phone ? null : <span className="muted">None given</span>}
      </td>
      <td data-label="Psychologist">{psy ? psy.displayName : c.psychologist ? c.psychologist : <span className="muted">None yet</span>}</td>
      <ActionsCell>
        <button
          type="button"
          className="button button--quiet"
          aria-expanded={editing}
          onClick={() => {
            setEditing((v) => !v);
          }}
        >
          Edit {c.displayName}
        </button>
        <AssignControl key={c.psychologist} c={c} psychologists={psychologists} />
        {editing ? (
          <ClientForm
            existing={c}
            psychologists={psychologists}
            onDone={() => {
              setEditing(false);
            }}
          />
        ) : null}
      </ActionsCell>
    </tr>
  );
}

export function ClientsPage() {
  const pager = usePager();
  const psychologists = useAllPsychologists();
  const [filter, setFilter] = useState("");
  const [added, setAdded] = useState<Client | null>(null);
  const [formKey, setFormKey] = useState(0);
  const filterId = useId();
  const list = useQuery({
    queryKey: [...staffKeys.clients, filter, pager.token],
    queryFn: ({ signal }) =>
      call(S.listClients, { pageSize: PAGE_SIZE, pageToken: pager.token, psychologist: filter }, { signal }),
    placeholderData: keepPreviousData,
  });
  const all = psychologists.data ?? [];
  return (
    <Page title="Clients">
      <h2>Add a client</h2>
      {added ? <Notice>Added {added.displayName}.</Notice> : null}
      <ClientForm
        key={formKey}
        psychologists={all}
        onDone={(c) => {
          setAdded(c);
          setFormKey((k) => k + 1);
        }}
      />
      <h2>All clients</h2>
      <div className="staff-field staff-filter">
        <label htmlFor={filterId}>Show clients of</label>
        <select
          id={filterId}
          value={filter}
          onChange={(e) => {
            setFilter(e.target.value);
            pager.reset();
          }}
        >
          <option value="">Every psychologist</option>
          <PsychologistOptions list={all} />
        </select>
      </div>
      {list.isPending ? (
        <Loading what="clients" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.clients.length === 0 ? (
        <Empty title="No clients here." />
      ) : (
        <>
          <TableBox label="Clients">
            <table className="staff-table">
              <caption className="visually-hidden">Clients, page {pager.page}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Contact</th>
                  <th scope="col">Psychologist</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.clients.map((c) => (
                  <ClientRow key={c.name} c={c} psychologists={all} />
                ))}
              </tbody>
            </table>
          </TableBox>
          <PagerNav pager={pager} nextToken={list.data.nextPageToken} label="Clients" />
        </>
      )}
    </Page>
  );
}
