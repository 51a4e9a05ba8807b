import { Link } from "react-router";
import { startOf, useClient, useDirectory, useMyAppointments, usePsychologist } from "../api/scheduling";
import type { Psychologist } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { viewerZone, zoneName } from "../ui/time";
import { useNow } from "../ui/useNow";
import { AppointmentCard } from "./AppointmentCard";
import { isActive } from "./stateWords";

function YourPsychologist({ name }: { name: string }) {
  const psychologist = usePsychologist(name);
  if (psychologist.isPending) return <Loading what="your psychologist" />;
  if (psychologist.isError) return <ErrorNotice error={psychologist.error} onRetry={() => void psychologist.refetch()} />;
  const p = psychologist.data;
  return (
    <section className="card" aria-labelledby="your-psychologist">
      <h2 id="your-psychologist">Your psychologist</h2>
      <p className="person">{p.displayName}</p>
      <p className="muted">Works in {zoneName(p.timeZone)} time</p>
      <Link className="button button--primary" to="/book">
        Book a session
      </Link>
    </section>
  );
}

function DirectoryEntry({ p }: { p: Psychologist }) {
  return (
    <li className="card card--row">
      <div>
        <p className="person">{p.displayName}</p>
        <p className="muted">Works in {zoneName(p.timeZone)} time</p>
      </div>
      <Link className="button button--primary" to={`/book?psychologist=${encodeURIComponent(p.name)}`}>
        Request an intake<span className="visually-hidden"> with {p.displayName}</span>
      </Link>
    </li>
  );
}

function Directory() {
  const directory = useDirectory();
  if (directory.isPending) return <Loading what="the practice's psychologists" />;
  if (directory.isError) return <ErrorNotice error={directory.error} onRetry={() => void directory.refetch()} />;
  return (
    <section aria-labelledby="directory">
      <h2 id="directory">Our psychologists</h2>
      <p>You have no psychologist yet. Start with an intake session with one of them.</p>
      {directory.data.length === 0 ? (
        <Empty title="No psychologist is taking new clients right now.">
          <p>Please contact the practice.</p>
        </Empty>
      ) : (
        <ul className="list">
          {directory.data.map((p) => (
            <DirectoryEntry key={p.name} p={p} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ComingUp() {
  const appointments = useMyAppointments();
  const now = useNow();
  if (appointments.isPending) return <Loading what="your appointments" />;
  if (appointments.isError)
    return <ErrorNotice error={appointments.error} onRetry={() => void appointments.refetch()} />;
  const next = appointments.data
    .filter((a) => isActive(a) && startOf(a).getTime() > now)
    .sort((a, b) => startOf(a).getTime() - startOf(b).getTime())
    .slice(0, 3);
  return (
    <section aria-labelledby="coming-up">
      <h2 id="coming-up">Coming up</h2>
      <p className="zone-line">Times are in your time zone, {zoneName(viewerZone)}.</p>
      {next.length === 0 ? (
        <Empty title="Nothing booked yet.">
          <p>When you request a session it shows here.</p>
        </Empty>
      ) : (
        <ul className="list">
          {next.map((a) => (
            <AppointmentCard key={a.name} appointment={a} />
          ))}
        </ul>
      )}
      <p>
        <Link to="/appointments">All your appointments</Link>
      </p>
    </section>
  );
}

export function OverviewPage({ client }: { client: string }) {
  const me = useClient(client);
  return (
    <Page title="Your sessions">
      {me.isPending ? (
        <Loading what="your details" />
      ) : me.isError ? (
        <ErrorNotice error={me.error} onRetry={() => void me.refetch()} />
      ) : me.data.psychologist ? (
        <YourPsychologist name={me.data.psychologist} />
      ) : (
        <Directory />
      )}
      <ComingUp />
    </Page>
  );
}
