// Declining a request, with a word for the client on why (the client sees it on their
// appointment; it stays out of events).
import { useState } from "react";
import { startOf } from "../api/scheduling";
import { ApiError } from "../api/errors";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { ErrorNotice } from "../ui/states";
import { Dialog } from "./Dialog";
import { NoteToClientField } from "./NoteToClientField";
import { useChange } from "./useActions";
import { labelIn } from "./zone";

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
        <NoteToClientField
          id="decline-explanation"
          label={`Why? (optional, ${who} will read this)`}
          value={explanation}
          onChange={setExplanation}
          problems={problems}
          rows={4}
        />
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
