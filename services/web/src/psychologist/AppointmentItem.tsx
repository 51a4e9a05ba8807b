// One appointment in a list: when, who, what, its state in words, and what can be done.
import { useState } from "react";
import { startOf } from "../api/scheduling";
import { Cancellation_Actor as Actor, type Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { ErrorNotice } from "../ui/states";
import { useNow } from "../ui/useNow";
import { CancelDialog } from "./CancelDialog";
import { DeclineDialog } from "./DeclineDialog";
import { MoveDialog } from "./MoveDialog";
import type { Names } from "./names";
import { useChange } from "./useActions";
import { isActive, isPending, stateWords } from "./words";
import { labelIn } from "./zone";

export function StateBadge({ appointment }: { appointment: Appointment }) {
  const w = stateWords(appointment);
  return <span className={`badge badge--${w.tone}`}>{w.label}</span>;
}

export function AppointmentItem({
  appointment: a,
  names,
  zone,
  parent,
}: {
  appointment: Appointment;
  names: Names;
  zone: string;
  parent: string;
}) {
  const change = useChange();
  const now = useNow();
  const [dialog, setDialog] = useState<"cancel" | "decline" | "move" | null>(null);
  const start = startOf(a);
  const who = names.client(a.client);
  const started = start.getTime() <= now;
  const busy = change.isPending;
  return (
    <li className="card psy-item" data-appointment={a.name}>
      <div className="psy-item__head">
        <p className="appointment__when">{labelIn(start, zone)}</p>
        <StateBadge appointment={a} />
      </div>
      <p className="appointment__what">
        <strong>{who}</strong> · {names.sessionType(a.sessionType)}
        {a.series ? <span className="tag">Weekly series</span> : null}
      </p>
      {isActive(a) ? (
        <div className="actions">
          {isPending(a) ? (
            <>
              <button
                type="button"
                className="button button--primary"
                disabled={busy}
                onClick={() => {
                  change.mutate({ appointment: a, change: { kind: "approve" } });
                }}
                aria-label={`Approve ${who}, ${labelIn(start, zone)}`}
              >
                Approve
              </button>
              <button
                type="button"
                className="button button--danger"
                disabled={busy}
                onClick={() => {
                  setDialog("decline");
                }}
                aria-label={`Decline ${who}, ${labelIn(start, zone)}…`}
              >
                Decline…
              </button>
            </>
          ) : null}
          {started && !isPending(a) ? (
            <>
              <button
                type="button"
                className="button button--secondary"
                disabled={busy}
                onClick={() => {
                  change.mutate({ appointment: a, change: { kind: "complete" } });
                }}
              >
                Mark completed
              </button>
              <button
                type="button"
                className="button button--secondary"
                disabled={busy}
                onClick={() => {
                  change.mutate({ appointment: a, change: { kind: "noShow" } });
                }}
              >
                Mark no-show
              </button>
            </>
          ) : null}
          {!started ? (
            <button
              type="button"
              className="button button--secondary"
              onClick={() => {
                setDialog("move");
              }}
            >
              Move…
            </button>
          ) : null}
          <button
            type="button"
            className="button button--quiet"
            onClick={() => {
              setDialog("cancel");
            }}
          >
            Cancel…
          </button>
        </div>
      ) : null}
      {change.error ? <ErrorNotice error={change.error} focus /> : null}
      {dialog === "move" ? (
        <MoveDialog
          appointment={a}
          zone={zone}
          parent={parent}
          who={who}
          onClose={() => {
            setDialog(null);
          }}
        />
      ) : null}
      {a.cancellation?.explanation ? (
        <p className="explanation">
          <span className="muted">{a.cancellation.cancelledBy === Actor.CLIENT ? "The client wrote: " : "Told the client: "}</span>
          {a.cancellation.explanation}
        </p>
      ) : null}
      {dialog === "decline" ? (
        <DeclineDialog
          appointment={a}
          who={who}
          zone={zone}
          onClose={() => {
            setDialog(null);
          }}
        />
      ) : null}
      {dialog === "cancel" ? (
        <CancelDialog
          appointment={a}
          who={who}
          zone={zone}
          onClose={() => {
            setDialog(null);
          }}
        />
      ) : null}
    </li>
  );
}
