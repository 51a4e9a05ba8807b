// One report's progress through the WatchReport server stream: each message goes into
// the report's query (and a change of state refreshes the history list). While the
// stream is down the report is polled with GetReport instead, and the stream is opened
// again with backoff, as useAppointmentWatch does for appointments.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError } from "../api/errors";
import { isFinal, R } from "../api/staff";
import { stream } from "../api/stream";
import type { Report } from "../gen/phs/reports/v1/resources_pb";
import { staffKeys } from "./common";

/** connecting: first attempt under way (no polling yet); live: messages flow; down: polling. */
export type WatchState = "connecting" | "live" | "down";

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** Watches the report `name` unless `final`, until a final message; says how its progress arrives. */
export function useReportWatch(name: string, final: boolean): WatchState {
  const queryClient = useQueryClient();
  const [state, setState] = useState<WatchState>("connecting");

  useEffect(() => {
    if (final) return;
    const abort = new AbortController();
    let retry = FIRST_RETRY_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastState: Report["state"] | undefined;

    const run = async (): Promise<void> => {
      let opened = false;
      try {
        for await (const report of stream(R.watchReport, { name }, { signal: abort.signal })) {
          if (!opened) {
            opened = true;
            retry = FIRST_RETRY_MS;
            setState("live");
          }
          queryClient.setQueryData(staffKeys.report(name), report);
          // Progress counts only touch this row; the list is refetched when the state moves.
          if (report.state !== lastState) {
            lastState = report.state;
            void queryClient.invalidateQueries({ queryKey: staffKeys.reports });
          }
          if (isFinal(report)) return;
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        // Refused for good (signed out, not allowed, gone): poll only, do not hammer.
        if (e instanceof ApiError && [401, 403, 404].includes(e.httpStatus)) {
          setState("down");
          return;
        }
      }
      if (abort.signal.aborted) return;
      setState("down");
      // Jitter keeps many rows from reconnecting at the same instant after a restart.
      const wait = retry * (0.5 + Math.random() / 2);
      retry = Math.min(retry * 2, MAX_RETRY_MS);
      timer = setTimeout(() => void run(), wait);
    };

    void run();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
      setState("connecting");
    };
  }, [name, final, queryClient]);

  return state;
}
