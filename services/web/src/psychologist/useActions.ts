// The psychologist's changes to one appointment. Each sends the etag it was shown, so
// a change made elsewhere in between is refused rather than overwritten; afterwards the
// agenda and the open times are read again.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { call, newAction } from "../api/client";
import { ApiError } from "../api/errors";
import { S } from "../api/scheduling";
import { Cancellation_Actor as Actor, type Appointment, type Cancellation_Reason } from "../gen/phs/scheduling/v1/resources_pb";

export type Change =
  | { kind: "approve" }
  | { kind: "decline"; explanation: string }
  | { kind: "cancel"; reason: Cancellation_Reason; explanation?: string }
  | { kind: "complete" }
  | { kind: "noShow" }
  | { kind: "move"; start: Date };

function send(a: Appointment, c: Change): Promise<Appointment> {
  const action = newAction();
  const base = { name: a.name, etag: a.etag };
  switch (c.kind) {
    case "approve":
      return call(S.approveAppointment, base, { action });
    case "decline":
      return call(S.declineAppointment, { ...base, explanation: c.explanation.trim() }, { action });
    case "cancel":
      return call(
        S.cancelAppointment,
        { ...base, reason: c.reason, cancelledBy: Actor.PSYCHOLOGIST, explanation: (c.explanation ?? "").trim() },
        { action },
      );
    case "complete":
      return call(S.completeAppointment, base, { action });
    case "noShow":
      return call(S.markAppointmentNoShow, base, { action });
    case "move":
      return call(
        S.rescheduleAppointment,
        { ...base, startTime: timestampFromDate(c.start), rescheduledBy: Actor.PSYCHOLOGIST },
        { action },
      );
  }
}

export function useChange() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (v: { appointment: Appointment; change: Change }) => send(v.appointment, v.change),
    // Each action's own key makes a retry safe; only failures a second try may fix.
    retry: (count, error) => count < 2 && error instanceof ApiError && error.retryable,
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ["appointments", "agenda"] });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
    },
  });
}

/** What a failed move means, in plain words. */
export function moveRefusal(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.reason === "SLOT_UNAVAILABLE") return "That time is taken: you already have an appointment then (buffers included).";
    return error.plain;
  }
  return "Something went wrong. Please try again.";
}

export type SeriesChange = { kind: "move"; start: Date } | { kind: "cancel"; reason: Cancellation_Reason };

/** This occurrence and the following ones of its series. */
export function useSeriesChange() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (v: { appointment: Appointment; change: SeriesChange }) => {
      const a = v.appointment;
      const action = newAction();
      return v.change.kind === "move"
        ? call(
            S.rescheduleSeries,
            {
              name: a.series,
              fromTime: a.startTime,
              newStartTime: timestampFromDate(v.change.start),
              rescheduledBy: Actor.PSYCHOLOGIST,
            },
            { action },
          )
        : call(
            S.cancelSeries,
            { name: a.series, fromTime: a.startTime, reason: v.change.reason, cancelledBy: Actor.PSYCHOLOGIST },
            { action },
          );
    },
    retry: (count, error) => count < 2 && error instanceof ApiError && error.retryable,
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ["appointments", "agenda"] });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
    },
  });
}
