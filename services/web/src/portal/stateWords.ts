import {
  Appointment_State as State,
  Cancellation_Actor as Actor,
  Cancellation_Reason as Reason,
  type Appointment,
} from "../gen/phs/scheduling/v1/resources_pb";

const BY: Record<number, string> = {
  [Actor.CLIENT]: "by you",
  [Actor.PSYCHOLOGIST]: "by your psychologist",
  [Actor.STAFF]: "by the practice",
};

export type Tone = "waiting" | "good" | "bad" | "neutral";

/** Every state in plain words, with a tone for its badge. */
export function stateWords(a: Appointment): { label: string; tone: Tone } {
  switch (a.state) {
    case State.PENDING:
      return { label: "Requested, waiting for your psychologist", tone: "waiting" };
    case State.BOOKED:
      return { label: "Booked", tone: "good" };
    case State.DECLINED:
      return { label: "Declined by your psychologist", tone: "bad" };
    case State.COMPLETED:
      return { label: "Took place", tone: "neutral" };
    case State.NO_SHOW:
      return { label: "Missed (no-show)", tone: "bad" };
    case State.CANCELLED: {
      const c = a.cancellation;
      if (c?.reason === Reason.RESCHEDULED || a.rescheduledTo) return { label: "Moved to another time", tone: "neutral" };
      const by = c ? (BY[c.cancelledBy] ?? "") : "";
      const label = `${c?.late ? "Cancelled late" : "Cancelled"}${by ? ` ${by}` : ""}`;
      return { label, tone: "bad" };
    }
    default:
      return { label: "Unknown state", tone: "neutral" };
  }
}

export function isActive(a: Appointment): boolean {
  return a.state === State.PENDING || a.state === State.BOOKED;
}
