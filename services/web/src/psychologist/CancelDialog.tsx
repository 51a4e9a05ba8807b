import { useState } from "react";
import { ApiError } from "../api/errors";
import { startOf } from "../api/scheduling";
import type { Appointment, Cancellation_Reason } from "../gen/phs/scheduling/v1/resources_pb";
import { ErrorNotice } from "../ui/states";
import { Dialog } from "./Dialog";
import { NoteToClientField } from "./NoteToClientField";
import { useChange, useSeriesChange } from "./useActions";
import { CANCEL_REASONS } from "./words";
import { labelIn } from "./zone";

export function CancelDialog({
  appointment,
  who,
  zone,
  onClose,
}: {
  appointment: Appointment;
  who: string;
  zone: string;
  onClose: () => void;
}) {
  const [reason, setReason] = useState<Cancellation_Reason | null>(null);
  const [missing, setMissing] = useState(false);
  const [explanation, setExplanation] = useState("");
  const one = useChange();
  const many = useSeriesChange();
  const [following, setFollowing] = useState(false);
  const change = following ? many : one;
  return (
    <Dialog title={`Cancel ${who}'s session`} onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (reason === null) {
            setMissing(true);
            return;
          }
          if (following) many.mutate({ appointment, change: { kind: "cancel", reason } }, { onSuccess: onClose });
          else one.mutate({ appointment, change: { kind: "cancel", reason, explanation } }, { onSuccess: onClose });
        }}
      >
        <p>{labelIn(startOf(appointment), zone)}</p>
        <fieldset className="choices" aria-describedby={missing ? "cancel-missing" : undefined}>
          <legend>Why?</legend>
          {missing ? (
            <p className="field-error" id="cancel-missing">
              Please choose a reason.
            </p>
          ) : null}
          {CANCEL_REASONS.map((r) => (
            <label className="choice" key={r.value}>
              <input
                type="radio"
                name="cancel-reason"
                checked={reason === r.value}
                onChange={() => {
                  setReason(r.value);
                  setMissing(false);
                }}
              />
              <span>{r.label}</span>
            </label>
          ))}
        </fieldset>
        {following ? null : (
          <NoteToClientField
            id="cancel-explanation"
            label={`A note for ${who} (optional)`}
            value={explanation}
            onChange={setExplanation}
            problems={change.error instanceof ApiError ? change.error.violationsOf("explanation") : []}
          />
        )}
        {appointment.series ? (
          <label className="choice">
            <input
              type="checkbox"
              checked={following}
              onChange={(e) => {
                setFollowing(e.target.checked);
              }}
            />
            <span>Also cancel the following sessions of this weekly series</span>
          </label>
        ) : null}
        {change.error ? <ErrorNotice error={change.error} focus /> : null}
        <div className="actions">
          <button type="submit" className="button button--danger" disabled={change.isPending}>
            {change.isPending ? "Cancelling…" : "Cancel the session"}
          </button>
          <button type="button" className="button button--quiet" onClick={onClose}>
            Keep it
          </button>
        </div>
      </form>
    </Dialog>
  );
}
