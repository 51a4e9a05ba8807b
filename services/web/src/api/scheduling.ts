// Server state for the portal, through TanStack Query. Every call goes through the one
// generic client; the methods are the service's own descriptors.
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@tanstack/react-query";
import type { Appointment, Psychologist, SessionType, Slot } from "../gen/phs/scheduling/v1/resources_pb";
import { SchedulingService } from "../gen/phs/scheduling/v1/scheduling_service_pb";
import { call } from "./client";

export const S = SchedulingService.method;

export const keys = {
  client: (name: string) => ["client", name] as const,
  psychologist: (name: string) => ["psychologist", name] as const,
  directory: ["psychologists"] as const,
  sessionTypes: ["sessionTypes"] as const,
  appointments: ["appointments"] as const,
  slots: (psychologist: string, sessionType: string) => ["slots", psychologist, sessionType] as const,
};

export function useClient(name: string) {
  return useQuery({
    queryKey: keys.client(name),
    queryFn: ({ signal }) => call(S.getClient, { name }, { signal }),
    enabled: name !== "",
  });
}

export function usePsychologist(name: string) {
  return useQuery({
    queryKey: keys.psychologist(name),
    queryFn: ({ signal }) => call(S.getPsychologist, { name }, { signal }),
    enabled: name !== "",
    staleTime: 5 * 60_000,
  });
}

export function useDirectory(enabled = true) {
  return useQuery({
    queryKey: keys.directory,
    queryFn: async ({ signal }): Promise<Psychologist[]> => {
      const res = await call(S.listPsychologists, { pageSize: 200 }, { signal });
      return res.psychologists.filter((p) => p.active);
    },
    enabled,
    staleTime: 5 * 60_000,
  });
}

export function useSessionTypes() {
  return useQuery({
    queryKey: keys.sessionTypes,
    queryFn: async ({ signal }): Promise<SessionType[]> =>
      (await call(S.listSessionTypes, { pageSize: 100 }, { signal })).sessionTypes,
    staleTime: 10 * 60_000,
  });
}

/** The signed-in client's appointments (the service limits the list to them). */
export function useMyAppointments() {
  return useQuery({
    queryKey: keys.appointments,
    queryFn: async ({ signal }): Promise<Appointment[]> =>
      (await call(S.listAppointments, { parent: "psychologists/-", pageSize: 1000 }, { signal })).appointments,
  });
}

export const SLOT_DAYS = 14;

export function useSlots(psychologist: string, sessionType: string) {
  return useQuery({
    queryKey: keys.slots(psychologist, sessionType),
    queryFn: async ({ signal }): Promise<Slot[]> => {
      const now = new Date();
      const end = new Date(now.getTime() + SLOT_DAYS * 86_400_000);
      const res = await call(
        S.findSlots,
        {
          psychologist,
          sessionType,
          startTime: timestampFromDate(now),
          endTime: timestampFromDate(end),
        },
        { signal },
      );
      performance.clearMarks("phs:slots-data");
      performance.clearMeasures("phs:slots-render");
      performance.mark("phs:slots-data");
      return res.slots;
    },
    enabled: psychologist !== "" && sessionType !== "",
    staleTime: 30_000,
  });
}

export function startOf(a: { startTime?: Timestamp }): Date {
  return a.startTime ? timestampDate(a.startTime) : new Date(0);
}
