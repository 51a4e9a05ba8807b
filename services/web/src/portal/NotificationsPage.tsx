// The client's notification preferences: email at all, which of the practice's
// reminders, and the time zone of the times in messages. Every state is said in words.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { call, newAction } from "../api/client";
import { ApiError } from "../api/errors";
import { N, offsetWords, settingsKeys, useClientPreferences } from "../api/notifications";
import type { ClientNotificationPreferences } from "../gen/phs/notifications/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading, Notice } from "../ui/states";

const TITLE = "Notifications";

function seconds(d: { seconds: bigint }): number {
  return Number(d.seconds);
}

function listWords(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1] ?? ""}`;
}

interface Form {
  email: boolean;
  reminders: number[]; // offsets in seconds, as the practice lists them
  zone: string;
}

function toForm(p: ClientNotificationPreferences): Form {
  return { email: p.emailEnabled, reminders: p.reminderOffsets.map(seconds), zone: p.timeZone };
}

/** What the saved (or about to be saved) choices mean, in one sentence each. */
export function summary(f: Form): string[] {
  if (!f.email) return ["You get no email from the practice about your sessions, and so no reminders."];
  const sorted = [...f.reminders].sort((a, b) => b - a);
  return [
    "You get an email when a session is booked, moved or cancelled.",
    sorted.length === 0
      ? "You get no reminders."
      : `You get a reminder ${listWords(sorted.map((s) => `${offsetWords(s)} before`))} each session.`,
    f.zone ? `Times in messages are in ${f.zone.replaceAll("_", " ")}.` : "Times in messages are in your psychologist's time zone.",
  ];
}

function zones(): string[] {
  return typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
}

function PreferencesForm({ client, initial }: { client: string; initial: ClientNotificationPreferences }) {
  const [form, setForm] = useState<Form>(() => toForm(initial));
  const queryClient = useQueryClient();
  const available = initial.availableReminderOffsets.map(seconds).sort((a, b) => b - a);
  const zoneHelp = useId();
  const mutation = useMutation({
    mutationFn: (f: Form) =>
      call(
        N.updateClientNotificationPreferences,
        {
          preferences: {
            name: initial.name,
            emailEnabled: f.email,
            reminderOffsets: f.reminders.map((s) => ({ seconds: BigInt(s) })),
            timeZone: f.zone,
          },
          updateMask: { paths: ["email_enabled", "reminder_offsets", "time_zone"] },
        },
        { action: newAction() },
      ),
    onSuccess: (saved) => {
      queryClient.setQueryData(settingsKeys.client(client), saved);
    },
  });
  const set = (f: Partial<Form>) => {
    setForm({ ...form, ...f });
    mutation.reset();
  };
  const violations = mutation.error instanceof ApiError ? mutation.error.fieldViolations : [];
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        mutation.mutate(form);
      }}
    >
      <fieldset className="choices">
        <legend>Email</legend>
        <label className="choice">
          <input
            type="checkbox"
            checked={form.email}
            onChange={(e) => {
              set({ email: e.target.checked });
            }}
          />
          <span>Send me email about my sessions</span>
        </label>
        <p className="muted">
          {form.email
            ? "On: you get an email when a session is booked, moved or cancelled."
            : "Off: the practice sends you no email about your sessions."}
        </p>
      </fieldset>
      <fieldset className="choices" disabled={!form.email}>
        <legend>Reminders</legend>
        {available.length === 0 ? <p>The practice sends no reminders.</p> : null}
        {available.map((s) => (
          <label className="choice" key={s}>
            <input
              type="checkbox"
              checked={form.reminders.includes(s)}
              onChange={(e) => {
                set({ reminders: e.target.checked ? [...form.reminders, s] : form.reminders.filter((x) => x !== s) });
              }}
            />
            <span>{offsetWords(s)} before each session</span>
          </label>
        ))}
        <p className="muted">
          {!form.email
            ? "Reminders come by email: turn email on to choose them."
            : form.reminders.length === 0
              ? "No reminders chosen."
              : `${String(form.reminders.length)} of ${String(available.length)} reminders chosen.`}
        </p>
      </fieldset>
      <label className="field settings-field">
        <span>Time zone for the times in messages</span>
        <select
          value={form.zone}
          aria-describedby={zoneHelp}
          onChange={(e) => {
            set({ zone: e.target.value });
          }}
        >
          <option value="">My psychologist's time zone</option>
          {zones().map((z) => (
            <option key={z} value={z}>
              {z.replaceAll("_", " ")}
            </option>
          ))}
        </select>
      </label>
      <p className="muted" id={zoneHelp}>
        Your calendar shows the attached event in your device's own zone either way.
      </p>
      {mutation.error ? (
        <ErrorNotice error={mutation.error} focus>
          {violations.length ? (
            <ul className="field-errors">
              {violations.map((v) => (
                <li key={`${v.field}:${v.description}`}>
                  {v.field}: {v.description}
                </li>
              ))}
            </ul>
          ) : null}
        </ErrorNotice>
      ) : null}
      {mutation.isSuccess ? (
        <Notice>
          <p className="notice__title">Your choices are saved.</p>
          <p>"What you get now" above says what they mean.</p>
        </Notice>
      ) : null}
      <div className="actions">
        <button type="submit" className="button button--primary" disabled={mutation.isPending}>
          {mutation.isPending ? "Saving…" : "Save my choices"}
        </button>
      </div>
    </form>
  );
}

export function NotificationsPage({ client }: { client: string }) {
  const prefs = useClientPreferences(client);
  if (prefs.isPending)
    return (
      <Page title={TITLE}>
        <Loading what="your notification choices" />
      </Page>
    );
  if (prefs.isError)
    return (
      <Page title={TITLE}>
        <ErrorNotice error={prefs.error} onRetry={() => void prefs.refetch()} />
      </Page>
    );
  return (
    <Page title={TITLE} lead="How the practice tells you about your sessions.">
      <section aria-labelledby="now-title" className="card">
        <h2 id="now-title">What you get now</h2>
        {summary(toForm(prefs.data)).map((line) => (
          <p key={line}>{line}</p>
        ))}
      </section>
      <PreferencesForm client={client} initial={prefs.data} />
    </Page>
  );
}
