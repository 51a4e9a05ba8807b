import {
  Appointment_State as State,
  Cancellation_Actor as Actor,
  Cancellation_Reason as Reason,
  type Appointment,
} from "../gen/phs/scheduling/v1/resources_pb";

export type Tone = "waiting" | "good" | "bad" | "neutral";

const BY: Record<number, string> = {
  [Actor.CLIENT]: "by the client",
  [Actor.PSYCHOLOGIST]: "by you",
  [Actor.STAFF]: "by the practice",
};

/** Every state in the psychologist's words, with a tone for its colour (never alone). */
export function stateWords(a: Appointment): { label: string; tone: Tone } {
  switch (a.state) {
    case State.PENDING:
      return { label: a.rescheduledFrom ? "Move requested" : "Requested", tone: "waiting" };
    case State.BOOKED:
      return { label: "Booked", tone: "good" };
    case State.DECLINED:
      return { label: "Declined", tone: "bad" };
    case State.COMPLETED:
      return { label: "Completed", tone: "neutral" };
    case State.NO_SHOW:
      return { label: "No-show", tone: "bad" };
    case State.CANCELLED: {
      const c = a.cancellation;
      if (c?.reason === Reason.RESCHEDULED || a.rescheduledTo) return { label: "Moved", tone: "neutral" };
      const by = c ? (BY[c.cancelledBy] ?? "") : "";
      return { label: `${c?.late ? "Cancelled late" : "Cancelled"}${by ? ` ${by}` : ""}`, tone: "bad" };
    }
    default:
      return { label: "Unknown state", tone: "neutral" };
  }
}

export function isActive(a: Appointment): boolean {
  return a.state === State.PENDING || a.state === State.BOOKED;
}

export function isPending(a: Appointment): boolean {
  return a.state === State.PENDING;
}

/** Moved and declined entries only clutter a calendar: their replacement shows instead. */
export function onCalendar(a: Appointment): boolean {
  return a.state !== State.DECLINED && !(a.state === State.CANCELLED && a.rescheduledTo !== "");
}

export const CANCEL_REASONS: { value: Reason; label: string }[] = [
  { value: Reason.PSYCHOLOGIST_UNAVAILABLE, label: "I am unavailable" },
  { value: Reason.CLIENT_REQUEST, label: "The client asked to cancel" },
  { value: Reason.CLIENT_ILLNESS, label: "The client is unwell" },
  { value: Reason.OTHER, label: "Another reason" },
];
