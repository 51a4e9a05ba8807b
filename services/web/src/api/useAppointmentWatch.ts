// Live appointment changes for the psychologist's and the staff's pages: one
// WatchAppointments stream through the gateway; each change invalidates the appointment
// queries (and the slots they free or take), so TanStack Query refetches what is shown.
//
// While the stream is down the hook reconnects with backoff, and pages poll instead:
//
//   const { live } = useAppointmentWatch(psychologistName);
//   useQuery({ ..., refetchInterval: pollWhileDown(live) });
//
// On every (re)connection the queries are invalidated once too: changes made while the
// stream was down are fetched then.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { SchedulingService } from "../gen/phs/scheduling/v1/scheduling_service_pb";
import { ApiError } from "./errors";
import { keys } from "./scheduling";
import { stream } from "./stream";

/** How often pages poll the appointment queries while the stream is down. */
export const FALLBACK_POLL_MS = 10_000;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** A query's refetchInterval: none while the watch is live, else the fallback polling. */
export function pollWhileDown(live: boolean): number | false {
  return live ? false : FALLBACK_POLL_MS;
}

/**
 * Watches `parent` (`psychologists/{id}`, or `psychologists/-` for staff); nothing while
 * it is undefined. `live` is true from the stream's first message until it drops.
 */
export function useAppointmentWatch(parent: string | undefined): { live: boolean } {
  const queryClient = useQueryClient();
  const [live, setLive] = useState(false);

  useEffect(() => {
    if (!parent) return;
    const abort = new AbortController();
    let retry = FIRST_RETRY_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const invalidate = (): void => {
      void queryClient.invalidateQueries({ queryKey: keys.appointments });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
    };

    const run = async (): Promise<void> => {
      let opened = false;
      try {
        for await (const msg of stream(SchedulingService.method.watchAppointments, { parent }, { signal: abort.signal })) {
          if (!opened) {
            opened = true;
            retry = FIRST_RETRY_MS;
            setLive(true);
            invalidate(); // what changed while the stream was down
          }
          if (msg.kind.case === "change") invalidate();
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        // Refused for good (signed out, not allowed): stay on polling, do not hammer.
        if (e instanceof ApiError && [401, 403, 404].includes(e.httpStatus)) {
          setLive(false);
          return;
        }
      }
      if (abort.signal.aborted) return;
      setLive(false);
      // Jitter keeps many pages from reconnecting at the same instant after a restart.
      const wait = retry * (0.5 + Math.random() / 2);
      retry = Math.min(retry * 2, MAX_RETRY_MS);
      timer = setTimeout(() => void run(), wait);
    };

    void run();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
      setLive(false);
    };
  }, [parent, queryClient]);

  return { live };
}
