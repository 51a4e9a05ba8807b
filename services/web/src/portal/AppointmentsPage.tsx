import { useState } from "react";
import { Link, useLocation } from "react-router";
import { startOf, useMyAppointments } from "../api/scheduling";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/states";
import { viewerZone, zoneName } from "../ui/time";
import { useNow } from "../ui/useNow";
import { AppointmentCard } from "./AppointmentCard";
import { isActive } from "./stateWords";

const PAST_SHOWN = 10;

export interface AppointmentsNotice {
  requested?: string;
  moved?: string;
  cancelled?: { late: boolean };
}

function NoticeFor({ n }: { n: AppointmentsNotice | null }) {
  if (!n) return null;
  if (n.requested) return <Notice>Your request is sent. It shows below as “Requested, waiting for your psychologist”.</Notice>;
  if (n.moved) return <Notice>Your request to move is sent, waiting for your psychologist.</Notice>;
  if (n.cancelled)
    return (
      <Notice>
        The session is cancelled{n.cancelled.late ? ". It was recorded as a late cancellation." : "."}
      </Notice>
    );
  return null;
}

export function AppointmentsPage() {
  const location = useLocation();
  const notice = (location.state as AppointmentsNotice | null) ?? null;
  const appointments = useMyAppointments();
  const now = useNow();
  const [allPast, setAllPast] = useState(false);
  let body;
  if (appointments.isPending) body = <Loading what="your appointments" />;
  else if (appointments.isError)
    body = <ErrorNotice error={appointments.error} onRetry={() => void appointments.refetch()} />;
  else {
    const upcoming: Appointment[] = [];
    const past: Appointment[] = [];
    for (const a of appointments.data) (isActive(a) && startOf(a).getTime() > now ? upcoming : past).push(a);
    upcoming.sort((a, b) => startOf(a).getTime() - startOf(b).getTime());
    past.sort((a, b) => startOf(b).getTime() - startOf(a).getTime());
    body = (
      <>
        <section aria-labelledby="upcoming">
          <h2 id="upcoming">Upcoming</h2>
          {upcoming.length === 0 ? (
            <Empty title="No upcoming sessions.">
              <p>
                <Link to="/book">Book a session</Link>
              </p>
            </Empty>
          ) : (
            <ul className="list">
              {upcoming.map((a) => (
                <AppointmentCard key={a.name} appointment={a} />
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="past">
          <h2 id="past">Past and cancelled</h2>
          {past.length === 0 ? (
            <Empty title="Nothing here yet." />
          ) : (
            <>
              <ul className="list">
                {(allPast ? past : past.slice(0, PAST_SHOWN)).map((a) => (
                  <AppointmentCard key={a.name} appointment={a} actions={false} />
                ))}
              </ul>
              {!allPast && past.length > PAST_SHOWN ? (
                <button
                  type="button"
                  className="button button--secondary more"
                  onClick={() => {
                    setAllPast(true);
                  }}
                >
                  Show all {past.length}
                </button>
              ) : null}
            </>
          )}
        </section>
      </>
    );
  }
  return (
    <Page title="Your appointments">
      <NoticeFor n={notice} />
      <p className="zone-line">Times are in your time zone, {zoneName(viewerZone)}.</p>
      {body}
    </Page>
  );
}
