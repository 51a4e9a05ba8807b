// The psychologist's assigned clients, each with their appointment history.
import { useState } from "react";
import { useClientHistory, useMyClients } from "../api/psychologist";
import { startOf } from "../api/scheduling";
import type { Client } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { StateBadge } from "./AppointmentItem";
import { useNames } from "./names";
import { ZoneLine } from "./ZoneLine";
import { labelIn } from "./zone";

function History({ parent, client, zone }: { parent: string; client: Client; zone: string }) {
  const history = useClientHistory(parent, client.name);
  const names = useNames(parent);
  if (history.isPending) return <Loading what="the history" />;
  if (history.isError) return <ErrorNotice error={history.error} onRetry={() => void history.refetch()} />;
  const list = [...history.data].sort((a, b) => startOf(b).getTime() - startOf(a).getTime());
  if (list.length === 0) return <Empty title="No appointments yet." />;
  return (
    <table className="psy-table">
      <caption>Appointments of {client.displayName}, newest first</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Session</th>
          <th scope="col">State</th>
        </tr>
      </thead>
      <tbody>
        {list.map((a) => (
          <tr key={a.name}>
            <td>{labelIn(startOf(a), zone)}</td>
            <td>
              {names.sessionType(a.sessionType)}
              {a.series ? " (series)" : ""}
            </td>
            <td>
              <StateBadge appointment={a} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ClientsPage({ parent, zone }: { parent: string; zone: string }) {
  const clients = useMyClients(parent);
  const [open, setOpen] = useState<string | null>(null);
  let body;
  if (clients.isPending) body = <Loading what="your clients" />;
  else if (clients.isError) body = <ErrorNotice error={clients.error} onRetry={() => void clients.refetch()} />;
  else if (clients.data.length === 0) body = <Empty title="No clients are assigned to you yet." />;
  else
    body = (
      <ul className="list">
        {[...clients.data]
          .sort((a, b) => a.displayName.localeCompare(b.displayName))
          .map((c) => (
            <li className="card" key={c.name}>
              <h2 className="psy-client__name">{c.displayName}</h2>
              <button
                type="button"
                className="button button--secondary"
                aria-expanded={open === c.name}
                onClick={() => {
                  setOpen(open === c.name ? null : c.name);
                }}
              >
                {open === c.name ? "Hide history" : "Show history"}
              </button>
              {open === c.name ? <History parent={parent} client={c} zone={zone} /> : null}
            </li>
          ))}
      </ul>
    );
  return (
    <Page title="Your clients">
      <ZoneLine zone={zone} />
      {body}
    </Page>
  );
}
