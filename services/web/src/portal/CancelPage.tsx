import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { call, newAction, type Action } from "../api/client";
import { ApiError } from "../api/errors";
import { keys, S, startOf } from "../api/scheduling";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Cancellation_Actor, Cancellation_Reason, type Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading } from "../ui/states";
import { dateTimeLabel } from "../ui/time";
import { useNow } from "../ui/useNow";
import { PsychologistName, SessionTypeName } from "./AppointmentCard";
import { isActive, stateWords } from "./stateWords";
import { useAppointmentFromRoute } from "./useAppointment";

// The service says after which instant a cancellation counts as late (the psychologist's
// window); an older server that does not falls back to the policy default.
const DEFAULT_LATE_WINDOW_MS = 24 * 3_600_000;

function lateFrom(a: Appointment): Date {
  return a.lateCancelTime
    ? timestampDate(a.lateCancelTime)
    : new Date(startOf(a).getTime() - DEFAULT_LATE_WINDOW_MS);
}

/** "24 hours", "2 days", "90 minutes": the window, as the person would say it. */
function windowWords(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes % 1440 === 0 && minutes >= 2880) return `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? "1 hour" : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}

const REASONS: { value: Cancellation_Reason; label: string }[] = [
  { value: Cancellation_Reason.CLIENT_REQUEST, label: "I can't make it" },
  { value: Cancellation_Reason.CLIENT_ILLNESS, label: "I'm unwell" },
  { value: Cancellation_Reason.OTHER, label: "Another reason" },
];

export function CancelPage() {
  const { name, query } = useAppointmentFromRoute();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState<Cancellation_Reason | null>(null);
  const [missing, setMissing] = useState(false);
  // One action per reason chosen: a retry of the same choice reuses its key.
  const [action, setAction] = useState<Action>(newAction);
  const now = useNow();
  const mutation = useMutation({
    mutationFn: (r: Cancellation_Reason) =>
      call(
        S.cancelAppointment,
        { name, reason: r, cancelledBy: Cancellation_Actor.CLIENT, etag: query.data?.etag ?? "" },
        { action },
      ),
    retry: (count, error) => count < 2 && error instanceof ApiError && error.retryable,
    onSuccess: (a) => {
      void queryClient.invalidateQueries({ queryKey: keys.appointments });
      void queryClient.invalidateQueries({ queryKey: ["slots"] });
      void navigate("/appointments", { state: { cancelled: { late: a.cancellation?.late ?? false } } });
    },
    onError: (error) => {
      if (error instanceof ApiError && (error.reason === "ETAG_MISMATCH" || error.httpStatus === 409)) void query.refetch();
    },
  });
  let body;
  if (query.isPending) body = <Loading what="the appointment" />;
  else if (query.isError) body = <ErrorNotice error={query.error} onRetry={() => void query.refetch()} />;
  else {
    const a = query.data;
    const start = startOf(a);
    const lateAfter = lateFrom(a);
    const late = now > lateAfter.getTime();
    const reasonErrors = [
      ...(missing ? ["Please choose a reason."] : []),
      ...(mutation.error instanceof ApiError ? mutation.error.violationsOf("reason") : []),
    ];
    body = !isActive(a) ? (
      <p>
        This appointment is {stateWords(a).label.toLowerCase()}: there is nothing to cancel.{" "}
        <Link to="/appointments">Back to your appointments</Link>
      </p>
    ) : (
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (reason === null) {
            setMissing(true);
            return;
          }
          mutation.mutate(reason);
        }}
      >
        <div className="card">
          <p className="appointment__when">{dateTimeLabel(start)}</p>
          <p className="appointment__what">
            <SessionTypeName name={a.sessionType} /> with <PsychologistName name={name.split("/").slice(0, 2).join("/")} />
          </p>
        </div>
        {late ? (
          <div className="notice notice--warning" id="late-warning">
            <p className="notice__title">This is a late cancellation.</p>
            <p>
              The session starts in less than {windowWords(start.getTime() - lateAfter.getTime())}. Cancelling now is
              recorded as late, and your practice may charge for it.
            </p>
          </div>
        ) : null}
        <fieldset className="choices" aria-describedby={reasonErrors.length ? "reason-errors" : undefined} aria-invalid={reasonErrors.length > 0}>
          <legend>Why are you cancelling?</legend>
          {reasonErrors.length ? (
            <ul className="field-errors" id="reason-errors">
              {reasonErrors.map((e) => (
                <li key={e}>{e}</li>
              ))}
            </ul>
          ) : null}
          {REASONS.map((r) => (
            <label className="choice" key={r.value}>
              <input
                type="radio"
                name="reason"
                checked={reason === r.value}
                onChange={() => {
                  setReason(r.value);
                  setAction(newAction());
                  setMissing(false);
                }}
              />
              <span>{r.label}</span>
            </label>
          ))}
        </fieldset>
        {mutation.error && !(mutation.error instanceof ApiError && mutation.error.violationsOf("reason").length) ? (
          <ErrorNotice error={mutation.error} focus />
        ) : null}
        <div className="actions">
          <button
            type="submit"
            className="button button--danger"
            disabled={mutation.isPending}
            aria-describedby={late ? "late-warning" : undefined}
          >
            {mutation.isPending ? "Cancelling…" : late ? "Cancel anyway (late)" : "Cancel this session"}
          </button>
          <Link className="button button--quiet" to="/appointments">
            Keep it
          </Link>
        </div>
      </form>
    );
  }
  return <Page title="Cancel a session">{body}</Page>;
}
