// The psychologist's settings: email about new requests, and a private calendar feed
// (its address shown once, with copy; a new address; the feed off; what events say
// about clients). Every state is said in words.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { call, newAction } from "../api/client";
import { ApiError } from "../api/errors";
import { N, settingsKeys, useCalendarFeed, usePsychologistPreferences } from "../api/notifications";
import { S } from "../api/scheduling";
import type { PsychologistNotificationPreferences } from "../gen/phs/notifications/v1/resources_pb";
import { CalendarFeed_ClientDetail, CalendarFeed_State, type CalendarFeed } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading, Notice } from "../ui/states";

function RequestMail({ parent, initial }: { parent: string; initial: PsychologistNotificationPreferences }) {
  const [on, setOn] = useState(initial.newRequestEmails);
  const [email, setEmail] = useState(initial.email);
  const queryClient = useQueryClient();
  const emailHelp = useId();
  const mutation = useMutation({
    mutationFn: () =>
      call(
        N.updatePsychologistNotificationPreferences,
        {
          preferences: { name: initial.name, newRequestEmails: on, email: email.trim() },
          updateMask: { paths: ["new_request_emails", "email"] },
        },
        { action: newAction() },
      ),
    onSuccess: (saved) => {
      queryClient.setQueryData(settingsKeys.psychologist(parent), saved);
    },
  });
  const saved = queryClient.getQueryData<PsychologistNotificationPreferences>(settingsKeys.psychologist(parent)) ?? initial;
  const emailErrors = mutation.error instanceof ApiError ? mutation.error.violationsOf("email") : [];
  return (
    <section aria-labelledby="mail-title" className="card">
      <h2 id="mail-title">Email about new requests</h2>
      <p>
        {saved.newRequestEmails
          ? `On: each new request from a client is announced by email to ${saved.email}.`
          : "Off: new requests wait in your Requests inbox; no email is sent."}
      </p>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          mutation.mutate();
        }}
      >
        <div className="choices">
          <label className="choice">
            <input
              type="checkbox"
              checked={on}
              onChange={(e) => {
                setOn(e.target.checked);
                mutation.reset();
              }}
            />
            <span>Email me when a client requests a session</span>
          </label>
        </div>
        <label className="field settings-field">
          <span>Email address{on ? " (required)" : ""}</span>
          <input
            type="email"
            autoComplete="email"
            value={email}
            required={on}
            aria-invalid={emailErrors.length > 0}
            aria-describedby={emailHelp}
            onChange={(e) => {
              setEmail(e.target.value);
              mutation.reset();
            }}
          />
        </label>
        <p className="muted" id={emailHelp}>
          {emailErrors.length ? emailErrors.join(" ") : "The practice holds no other address for you: this is where the emails go."}
        </p>
        {mutation.error ? <ErrorNotice error={mutation.error} focus /> : null}
        {mutation.isSuccess ? <Notice>Saved.</Notice> : null}
        <div className="actions">
          <button type="submit" className="button button--primary" disabled={mutation.isPending}>
            {mutation.isPending ? "Saving…" : "Save email choice"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** The address made just now: shown once, with a copy button. */
function NewAddress({ url }: { url: string }) {
  const [copied, setCopied] = useState<"" | "done" | "failed">("");
  const field = useId();
  const full = new URL(url, window.location.origin).href;
  return (
    <div className="notice notice--info" role="status">
      <p className="notice__title">Your feed's new address</p>
      <label className="field settings-field" htmlFor={field}>
        <span>Subscribe to this address in your calendar app</span>
      </label>
      {/* A read-only text box, not a one-line input: the whole address wraps into view on a
          phone (a one-line input showed its start only and scrolled). */}
      <textarea
        id={field}
        className="feed-url"
        readOnly
        rows={3}
        spellCheck={false}
        value={full}
        onFocus={(e) => {
          e.target.select();
        }}
      />
      <div className="actions">
        <button
          type="button"
          className="button button--secondary"
          onClick={() => {
            navigator.clipboard.writeText(full).then(
              () => {
                setCopied("done");
              },
              () => {
                setCopied("failed");
              },
            );
          }}
        >
          Copy the address
        </button>
      </div>
      <p aria-live="polite">
        {copied === "done"
          ? "Copied."
          : copied === "failed"
            ? "Copying is not allowed here: select the address and copy it yourself."
            : ""}
      </p>
      <p>
        This is the only time the address is shown. Keep it private: anyone who has it sees your appointment times. If
        it gets out, make a new address; the old one stops working at once.
      </p>
    </div>
  );
}

function feedWords(feed: CalendarFeed): string {
  if (feed.state !== CalendarFeed_State.ACTIVE)
    return "Off: you have no calendar feed. Make one to see your appointments in your own calendar app.";
  const since = feed.rotateTime ? timestampDate(feed.rotateTime).toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" }) : "";
  return `On: calendar apps subscribed to its address receive your appointments from 30 days back to your booking horizon${since ? ` (address made ${since})` : ""}.`;
}

function Feed({ parent, feed }: { parent: string; feed: CalendarFeed }) {
  const queryClient = useQueryClient();
  const name = `${parent}/calendarFeed`;
  const [shown, setShown] = useState("");
  const [detail, setDetail] = useState(feed.clientDetail === CalendarFeed_ClientDetail.NONE ? "none" : "initials");
  const store = (f: CalendarFeed) => {
    queryClient.setQueryData(settingsKeys.feed(parent), f);
  };
  const rotate = useMutation({
    mutationFn: () => call(S.rotateCalendarFeed, { name }, { action: newAction() }),
    onSuccess: (f) => {
      setShown(f.url);
      store({ ...f, url: "" });
    },
  });
  const revoke = useMutation({
    mutationFn: () => call(S.revokeCalendarFeed, { name }, { action: newAction() }),
    onSuccess: (f) => {
      setShown("");
      store(f);
    },
  });
  const details = useMutation({
    mutationFn: (choice: string) =>
      call(
        S.updateCalendarFeed,
        {
          calendarFeed: {
            name,
            clientDetail: choice === "none" ? CalendarFeed_ClientDetail.NONE : CalendarFeed_ClientDetail.INITIALS,
          },
          updateMask: { paths: ["client_detail"] },
        },
        { action: newAction() },
      ),
    onSuccess: store,
  });
  const active = feed.state === CalendarFeed_State.ACTIVE;
  const busy = rotate.isPending || revoke.isPending;
  return (
    <section aria-labelledby="feed-title" className="card">
      <h2 id="feed-title">Calendar feed</h2>
      <p>{feedWords(feed)}</p>
      {shown ? <NewAddress url={shown} /> : null}
      {revoke.isSuccess && !active ? <Notice>The feed is off: its address no longer works.</Notice> : null}
      {rotate.error ? <ErrorNotice error={rotate.error} focus /> : null}
      {revoke.error ? <ErrorNotice error={revoke.error} focus /> : null}
      <div className="actions">
        <button
          type="button"
          className="button button--primary"
          disabled={busy}
          onClick={() => {
            rotate.mutate();
          }}
        >
          {rotate.isPending ? "Making the address…" : active ? "Make a new address" : "Make a feed address"}
        </button>
        {active ? (
          <button
            type="button"
            className="button button--danger-quiet"
            disabled={busy}
            onClick={() => {
              revoke.mutate();
            }}
          >
            {revoke.isPending ? "Turning the feed off…" : "Turn the feed off"}
          </button>
        ) : null}
      </div>
      {active ? <p className="muted">A new address replaces the old one, which stops working at once.</p> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          details.mutate(detail);
        }}
      >
        <fieldset className="choices">
          <legend>What events say about your clients</legend>
          <label className="choice">
            <input
              type="radio"
              name="client-detail"
              value="initials"
              checked={detail === "initials"}
              onChange={() => {
                setDetail("initials");
                details.reset();
              }}
            />
            <span>The session type and the client's initials, e.g. "Psychotherapy, 45 min (J.D.)"</span>
          </label>
          <label className="choice">
            <input
              type="radio"
              name="client-detail"
              value="none"
              checked={detail === "none"}
              onChange={() => {
                setDetail("none");
                details.reset();
              }}
            />
            <span>The session type only: nothing about the client</span>
          </label>
        </fieldset>
        {details.error ? <ErrorNotice error={details.error} focus /> : null}
        {details.isSuccess ? <Notice>Saved: calendar apps get the change at their next refresh.</Notice> : null}
        <button type="submit" className="button button--secondary" disabled={details.isPending}>
          {details.isPending ? "Saving…" : "Save what events say"}
        </button>
      </form>
    </section>
  );
}

export function SettingsPage({ parent }: { parent: string }) {
  const prefs = usePsychologistPreferences(parent);
  const feed = useCalendarFeed(parent);
  return (
    <Page title="Settings" lead="Email about new requests, and your appointments in your own calendar app.">
      <div className="stack">
        {prefs.isPending ? <Loading what="your email choice" /> : null}
        {prefs.isError ? <ErrorNotice error={prefs.error} onRetry={() => void prefs.refetch()} /> : null}
        {prefs.isSuccess ? <RequestMail parent={parent} initial={prefs.data} /> : null}
        {feed.isPending ? <Loading what="your calendar feed" /> : null}
        {feed.isError ? <ErrorNotice error={feed.error} onRetry={() => void feed.refetch()} /> : null}
        {feed.isSuccess ? <Feed parent={parent} feed={feed.data} /> : null}
      </div>
    </Page>
  );
}
