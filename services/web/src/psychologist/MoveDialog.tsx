// The keyboard way to move an appointment: a date and a time in the psychologist's zone.
import { useState } from "react";
import { startOf } from "../api/scheduling";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { Dialog } from "./Dialog";
import { moveRefusal, useChange, useSeriesChange } from "./useActions";
import { instantAt, labelIn, wallClock } from "./zone";

export function MoveDialog({
  appointment,
  zone,
  who,
  onClose,
}: {
  appointment: Appointment;
  zone: string;
  parent: string;
  who: string;
  onClose: () => void;
}) {
  const start = startOf(appointment);
  const initial = wallClock(start, zone);
  const [date, setDate] = useState(initial.date);
  const [time, setTime] = useState(initial.time);
  const one = useChange();
  const many = useSeriesChange();
  const [following, setFollowing] = useState(false);
  const change = following ? many : one;
  return (
    <Dialog title={`Move ${who}'s session`} onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const start = instantAt(date, time, zone);
          if (following) many.mutate({ appointment, change: { kind: "move", start } }, { onSuccess: onClose });
          else one.mutate({ appointment, change: { kind: "move", start } }, { onSuccess: onClose });
        }}
      >
        <p>
          Now: {labelIn(start, zone)}. Times are in your zone, {zone.replace(/_/g, " ")}.
        </p>
        <label className="field">
          <span>New date</span>
          <input
            type="date"
            required
            value={date}
            onChange={(e) => {
              setDate(e.target.value);
              one.reset();
              many.reset();
            }}
          />
        </label>
        <label className="field">
          <span>New start time</span>
          <input
            type="time"
            required
            step={300}
            value={time}
            onChange={(e) => {
              setTime(e.target.value);
              one.reset();
              many.reset();
            }}
          />
        </label>
        {appointment.series ? (
          <label className="choice">
            <input
              type="checkbox"
              checked={following}
              onChange={(e) => {
                setFollowing(e.target.checked);
                one.reset();
                many.reset();
              }}
            />
            <span>Also move the following sessions of this weekly series (same weekday and time)</span>
          </label>
        ) : null}
        {change.error ? (
          <div className="notice notice--error" role="alert">
            <p className="notice__title">Not moved. {moveRefusal(change.error)}</p>
          </div>
        ) : null}
        <div className="actions">
          <button type="submit" className="button button--primary" disabled={change.isPending}>
            {change.isPending ? "Moving…" : "Move"}
          </button>
          <button type="button" className="button button--quiet" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
    </Dialog>
  );
}
