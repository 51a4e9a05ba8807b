// Server state for the psychologist's workspace, through TanStack Query and the one
// generic client. Mutations invalidate the agenda so every view shows the server's word.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@tanstack/react-query";
import { createContext, useContext } from "react";
import type { Appointment, Availability, Client, Slot } from "../gen/phs/scheduling/v1/resources_pb";
import { call } from "./client";
import { S } from "./scheduling";

/** How often the agenda is refreshed while no server stream feeds it. */
export const AGENDA_POLL_MS = 3_000;

/** Whether the workspace's appointment watch is live: pages poll only while it is not. */
export const WatchLive = createContext(false);

export function useAgendaPolling(): number | false {
  return useContext(WatchLive) ? false : AGENDA_POLL_MS;
}

export const psyKeys = {
  // Under "appointments": the appointment watch invalidates everything there.
  agenda: (parent: string) => ["appointments", "agenda", parent] as const,
  agendaRange: (parent: string, from: number, to: number) => ["appointments", "agenda", parent, from, to] as const,
  availability: (parent: string) => ["availability", parent] as const,
  clients: (parent: string) => ["clients", parent] as const,
  history: (parent: string, client: string) => ["appointments", "agenda", parent, "client", client] as const,
  preview: (parent: string, sessionType: string) => ["slots", parent, sessionType, "preview"] as const,
};

/** Every appointment of the psychologist starting in [from, to). */
export async function listAgenda(parent: string, from: Date, to: Date, signal?: AbortSignal): Promise<Appointment[]> {
  const out: Appointment[] = [];
  let pageToken = "";
  do {
    const res = await call(
      S.listAppointments,
      { parent, pageSize: 1000, pageToken, startTime: timestampFromDate(from), endTime: timestampFromDate(to) },
      { signal },
    );
    out.push(...res.appointments);
    pageToken = res.nextPageToken;
  } while (pageToken);
  // For a render benchmark: the time from the data's arrival to the week on screen.
  performance.clearMarks("phs:agenda-data");
  performance.clearMeasures("phs:week-render");
  performance.mark("phs:agenda-data");
  return out;
}

export function useAgenda(parent: string, from: Date, to: Date) {
  return useQuery({
    queryKey: psyKeys.agendaRange(parent, from.getTime(), to.getTime()),
    queryFn: ({ signal }) => listAgenda(parent, from, to, signal),
    refetchInterval: useAgendaPolling(),
    placeholderData: (previous) => previous,
  });
}

export function useClientHistory(parent: string, client: string) {
  return useQuery({
    queryKey: psyKeys.history(parent, client),
    queryFn: async ({ signal }): Promise<Appointment[]> =>
      (await call(S.listAppointments, { parent, client, pageSize: 1000 }, { signal })).appointments,
    enabled: client !== "",
  });
}

export function useAvailability(parent: string) {
  return useQuery({
    queryKey: psyKeys.availability(parent),
    queryFn: ({ signal }): Promise<Availability> => call(S.getAvailability, { name: `${parent}/availability` }, { signal }),
  });
}

export function useMyClients(parent: string) {
  return useQuery({
    queryKey: psyKeys.clients(parent),
    queryFn: async ({ signal }): Promise<Client[]> => {
      const out: Client[] = [];
      let pageToken = "";
      do {
        const res = await call(S.listClients, { psychologist: parent, pageSize: 1000, pageToken }, { signal });
        out.push(...res.clients);
        pageToken = res.nextPageToken;
      } while (pageToken);
      return out;
    },
    staleTime: 60_000,
  });
}

/** The slots a client would see over the next `days` days. */
export function useSlotPreview(parent: string, sessionType: string, days: number) {
  return useQuery({
    queryKey: psyKeys.preview(parent, sessionType),
    queryFn: async ({ signal }): Promise<Slot[]> => {
      const now = new Date();
      const end = new Date(now.getTime() + days * 86_400_000);
      return (
        await call(
          S.findSlots,
          { psychologist: parent, sessionType, startTime: timestampFromDate(now), endTime: timestampFromDate(end) },
          { signal },
        )
      ).slots;
    },
    enabled: sessionType !== "",
  });
}
