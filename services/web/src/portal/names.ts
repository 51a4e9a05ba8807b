/** `psychologists/p1/appointments/a1` -> its psychologist, `psychologists/p1`. */
export function psychologistOf(appointment: string): string {
  return appointment.split("/").slice(0, 2).join("/");
}

/** The app's path for an appointment action. */
export function appointmentPath(appointment: string, action: "cancel" | "move"): string {
  const [, pid = "", , aid = ""] = appointment.split("/");
  return `/appointments/${encodeURIComponent(pid)}/${encodeURIComponent(aid)}/${action}`;
}

export function appointmentName(pid: string, aid: string): string {
  return `psychologists/${pid}/appointments/${aid}`;
}
