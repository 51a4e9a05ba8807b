// Requesting a time (a new session or a move): one action per chosen time, so a retry
// of the same request reuses its Idempotency-Key; a time taken in between refreshes the
// open times and says so.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { newAction, type Action } from "../api/client";
import { ApiError } from "../api/errors";
import { keys } from "../api/scheduling";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import type { SlotChoice } from "./SlotPicker";

export function useSlotRequest(
  psychologist: string,
  sessionType: string,
  send: (choice: SlotChoice, action: Action) => Promise<Appointment>,
  onDone: (a: Appointment) => void,
) {
  const queryClient = useQueryClient();
  const [choice, setChoice] = useState<SlotChoice | null>(null);
  const [action, setAction] = useState<Action>(newAction);
  const [taken, setTaken] = useState(false);
  const [missing, setMissing] = useState(false);
  const mutation = useMutation({
    mutationFn: (v: { choice: SlotChoice; action: Action }) => send(v.choice, v.action),
    // The same variables (the same key) on a retry: the server answers it once.
    retry: (count, error) => count < 2 && error instanceof ApiError && error.retryable,
    onSuccess: (a) => {
      queryClient.setQueryData<Appointment[]>(keys.appointments, (old) => (old ? [...old, a] : old));
      void queryClient.invalidateQueries({ queryKey: keys.appointments });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
      onDone(a);
    },
    onError: (error) => {
      // A stale etag (also 409) is not a taken slot: it shows as an error of its own.
      if (error instanceof ApiError && error.reason === "SLOT_UNAVAILABLE") {
        setTaken(true);
        setChoice(null);
        void queryClient.invalidateQueries({ queryKey: keys.slots(psychologist, sessionType) });
      } else if (error instanceof ApiError && error.httpStatus === 409) {
        void queryClient.invalidateQueries({ queryKey: ["appointment"] });
      }
    },
  });
  return {
    choice,
    taken,
    missing,
    mutation,
    choose: (c: SlotChoice) => {
      setChoice(c);
      setAction(newAction());
      setTaken(false);
      setMissing(false);
      mutation.reset();
    },
    submit: () => {
      if (choice) mutation.mutate({ choice, action });
      else setMissing(true);
    },
  };
}
