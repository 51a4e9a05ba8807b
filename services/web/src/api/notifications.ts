// Server state for notification preferences and the psychologist's calendar feed,
// through TanStack Query and the one generic client.
import { useQuery } from "@tanstack/react-query";
import { NotificationService } from "../gen/phs/notifications/v1/notifications_service_pb";
import type {
  ClientNotificationPreferences,
  PsychologistNotificationPreferences,
} from "../gen/phs/notifications/v1/resources_pb";
import type { CalendarFeed } from "../gen/phs/scheduling/v1/resources_pb";
import { call } from "./client";
import { S } from "./scheduling";

export const N = NotificationService.method;

export const settingsKeys = {
  client: (client: string) => ["notificationPreferences", client] as const,
  psychologist: (psychologist: string) => ["notificationPreferences", psychologist] as const,
  feed: (psychologist: string) => ["calendarFeed", psychologist] as const,
};

export function useClientPreferences(client: string) {
  return useQuery({
    queryKey: settingsKeys.client(client),
    queryFn: ({ signal }): Promise<ClientNotificationPreferences> =>
      call(N.getClientNotificationPreferences, { name: `${client}/notificationPreferences` }, { signal }),
  });
}

export function usePsychologistPreferences(psychologist: string) {
  return useQuery({
    queryKey: settingsKeys.psychologist(psychologist),
    queryFn: ({ signal }): Promise<PsychologistNotificationPreferences> =>
      call(N.getPsychologistNotificationPreferences, { name: `${psychologist}/notificationPreferences` }, { signal }),
  });
}

export function useCalendarFeed(psychologist: string) {
  return useQuery({
    queryKey: settingsKeys.feed(psychologist),
    queryFn: ({ signal }): Promise<CalendarFeed> =>
      call(S.getCalendarFeed, { name: `${psychologist}/calendarFeed` }, { signal }),
  });
}

/** "1 day", "2 hours", "30 minutes": a reminder offset in words. */
export function offsetWords(seconds: number): string {
  const unit = (n: number, word: string) => `${String(n)} ${word}${n === 1 ? "" : "s"}`;
  if (seconds % 86400 === 0) return unit(seconds / 86400, "day");
  if (seconds % 3600 === 0) return unit(seconds / 3600, "hour");
  return unit(Math.round(seconds / 60), "minute");
}
