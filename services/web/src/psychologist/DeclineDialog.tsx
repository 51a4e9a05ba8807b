// Declining a request, with a word for the client on why (optional, at most 500
// characters; the client sees it on their appointment, and it stays out of events).
import { useState } from "react";
import { startOf } from "../api/scheduling";
import { ApiError } from "../api/errors";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { ErrorNotice } from "../ui/states";
import { Dialog } from "./Dialog";
import { useChange } from "./useActions";
import { labelIn } from "./zone";

export const EXPLANATION_MAX = 500;

export function DeclineDialog({
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
  const [explanation, setExplanation] = useState("");
  const change = useChange();
  const problems = change.error instanceof ApiError ? change.error.violationsOf("explanation") : [];
  const left = EXPLANATION_MAX - explanation.length;
  return (
    <Dialog title={`Decline ${who}'s request`} onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          change.mutate({ appointment, change: { kind: "decline", explanation } }, { onSuccess: onClose });
        }}
      >
        <p>{labelIn(startOf(appointment), zone)}</p>
        <label htmlFor="decline-explanation">Why? (optional, {who} will read this)</label>
        <textarea
          id="decline-explanation"
          rows={4}
          maxLength={EXPLANATION_MAX}
          value={explanation}
          aria-describedby="decline-left"
          aria-invalid={problems.length ? true : undefined}
          onChange={(e) => {
            setExplanation(e.target.value);
          }}
        />
        <p className="muted" id="decline-left">
          {left} characters left. Keep clinical details out: this is a short note, not a record.
        </p>
        {problems.length ? (
          <ul className="field-errors">
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        ) : null}
        {change.error && !problems.length ? <ErrorNotice error={change.error} focus /> : null}
        <div className="actions">
          <button type="submit" className="button button--danger" disabled={change.isPending}>
            {change.isPending ? "Declining…" : "Decline the request"}
          </button>
          <button type="button" className="button button--quiet" onClick={onClose}>
            Keep it
          </button>
        </div>
      </form>
    </Dialog>
  );
}
