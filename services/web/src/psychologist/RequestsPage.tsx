// Pending requests (new bookings and moves) to approve or decline, soonest first.
import { useQuery } from "@tanstack/react-query";
import { call } from "../api/client";
import { useContext } from "react";
import { psyKeys, useAgendaPolling, WatchLive } from "../api/psychologist";
import { S, startOf } from "../api/scheduling";
import { Appointment_State, type Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { AppointmentItem } from "./AppointmentItem";
import { useNames } from "./names";
import { ZoneLine } from "./ZoneLine";

export function usePendingRequests(parent: string) {
  return useQuery({
    queryKey: [...psyKeys.agenda(parent), "pending"],
    queryFn: async ({ signal }): Promise<Appointment[]> => {
      const res = await call(
        S.listAppointments,
        { parent, pageSize: 1000, states: [Appointment_State.PENDING] },
        { signal },
      );
      return res.appointments.sort((a, b) => startOf(a).getTime() - startOf(b).getTime());
    },
    refetchInterval: useAgendaPolling(),
  });
}

export function RequestsPage({ parent, zone }: { parent: string; zone: string }) {
  const pending = usePendingRequests(parent);
  const names = useNames(parent);
  const live = useContext(WatchLive);
  let body;
  if (pending.isPending) body = <Loading what="requests" />;
  else if (pending.isError) body = <ErrorNotice error={pending.error} onRetry={() => void pending.refetch()} />;
  else
    body =
      pending.data.length === 0 ? (
        <Empty title="No requests waiting." />
      ) : (
        <ul className="list" aria-label="Requests waiting">
          {pending.data.map((a) => (
            <AppointmentItem key={a.name} appointment={a} names={names} zone={zone} parent={parent} />
          ))}
        </ul>
      );
  return (
    <Page title="Requests">
      <ZoneLine zone={zone} />
      <p className="muted">
        A request holds its time until you answer. Declining tells the client the time is not possible; they
        can pick another.
      </p>
      <p className="muted" role="status">
        {live
          ? "New requests appear here as clients send them."
          : "Connecting for live updates; meanwhile this list refreshes every few seconds."}
      </p>
      {body}
    </Page>
  );
}
