import { Link } from "react-router";
import { startOf, usePsychologist, useSessionTypes } from "../api/scheduling";
import { Cancellation_Actor as Actor, type Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { dateTimeLabel, timeIn, zoneName, zonesDiffer } from "../ui/time";
import { useNow } from "../ui/useNow";
import { appointmentPath, psychologistOf } from "./names";
import { isActive, stateWords } from "./stateWords";

export function SessionTypeName({ name }: { name: string }) {
  const types = useSessionTypes();
  return <>{types.data?.find((t) => t.name === name)?.displayName ?? "Session"}</>;
}

export function PsychologistName({ name }: { name: string }) {
  const p = usePsychologist(name);
  return <>{p.data?.displayName ?? "your psychologist"}</>;
}

function ExplanationAuthor({ appointment: a }: { appointment: Appointment }) {
  if (a.cancellation?.cancelledBy === Actor.CLIENT) return <>You</>;
  if (a.cancellation?.cancelledBy === Actor.STAFF) return <>The practice</>;
  return <PsychologistName name={psychologistOf(a.name)} />;
}

export function AppointmentCard({ appointment: a, actions = true }: { appointment: Appointment; actions?: boolean }) {
  const now = useNow();
  const start = startOf(a);
  const words = stateWords(a);
  const canChange = actions && isActive(a) && start.getTime() > now;
  const psychologist = usePsychologist(psychologistOf(a.name)).data;
  const theirZone = psychologist && zonesDiffer(psychologist.timeZone) ? psychologist.timeZone : null;
  return (
    <li className="card appointment" data-appointment={a.name}>
      <p className="appointment__when">{dateTimeLabel(start)}</p>
      {theirZone ? (
        <p className="zone-line">
          {timeIn(start, theirZone)} in {zoneName(theirZone)}, your psychologist's time
        </p>
      ) : null}
      <p className="appointment__what">
        <SessionTypeName name={a.sessionType} /> with <PsychologistName name={psychologistOf(a.name)} />
      </p>
      <p className={`badge badge--${words.tone}`}>{words.label}</p>
      {a.cancellation?.explanation ? (
        <blockquote className="explanation">
          <p className="muted">
            <ExplanationAuthor appointment={a} /> wrote:
          </p>
          <p>{a.cancellation.explanation}</p>
        </blockquote>
      ) : null}
      {canChange ? (
        <div className="actions">
          <Link className="button button--secondary" to={appointmentPath(a.name, "move")}>
            Move<span className="visually-hidden"> the session on {dateTimeLabel(start)}</span>
          </Link>
          <Link className="button button--danger-quiet" to={appointmentPath(a.name, "cancel")}>
            Cancel<span className="visually-hidden"> the session on {dateTimeLabel(start)}</span>
          </Link>
        </div>
      ) : null}
    </li>
  );
}
