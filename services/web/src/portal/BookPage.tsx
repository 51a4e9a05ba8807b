import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { call } from "../api/client";
import { ApiError } from "../api/errors";
import { S, useClient, usePsychologist, useSessionTypes, useSlots, SLOT_DAYS } from "../api/scheduling";
import type { Psychologist, SessionType } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { dateTimeLabel, timeIn, zoneName, zonesDiffer } from "../ui/time";
import { SlotPicker, ZoneNote } from "./SlotPicker";
import { useSlotRequest } from "./useSlotRequest";

function minutes(t: SessionType): number {
  return t.duration ? Number(t.duration.seconds) / 60 : 0;
}

function SessionTypeChoice({
  types,
  value,
  onChange,
}: {
  types: SessionType[];
  value: string;
  onChange: (name: string) => void;
}) {
  return (
    <fieldset className="choices">
      <legend>Session type</legend>
      {types.map((t) => (
        <label className="choice" key={t.name}>
          <input
            type="radio"
            name="sessionType"
            value={t.name}
            checked={value === t.name}
            onChange={() => {
              onChange(t.name);
            }}
          />
          <span>
            {t.displayName} <span className="muted">({minutes(t)} min)</span>
          </span>
        </label>
      ))}
    </fieldset>
  );
}

export function SlotRequestForm({
  psychologist,
  sessionType,
  submitLabel,
  exclude,
  send,
  onDone,
}: {
  psychologist: Psychologist;
  sessionType: string;
  submitLabel: string;
  exclude?: string;
  send: Parameters<typeof useSlotRequest>[2];
  onDone: Parameters<typeof useSlotRequest>[3];
}) {
  const slots = useSlots(psychologist.name, sessionType);
  const req = useSlotRequest(psychologist.name, sessionType, send, onDone);
  const error = req.mutation.error;
  const fieldErrors = error instanceof ApiError ? error.violationsOf("start_time") : [];
  const otherZone = zonesDiffer(psychologist.timeZone) ? psychologist.timeZone : null;
  if (slots.isPending) return <Loading what="open times" />;
  if (slots.isError) return <ErrorNotice error={slots.error} onRetry={() => void slots.refetch()} />;
  return (
    <form
      className="slot-form"
      onSubmit={(e) => {
        e.preventDefault();
        req.submit();
      }}
    >
      <ZoneNote psychologist={psychologist} />
      {req.taken ? (
        <div className="notice notice--warning" role="alert">
          <p className="notice__title">Someone else has just taken that time.</p>
          <p>{slots.isFetching ? "Loading the times still open…" : "Here are the times still open. Please pick another one."}</p>
        </div>
      ) : null}
      {slots.data.length === 0 ? (
        <Empty title={`No open times in the next ${SLOT_DAYS} days.`}>
          <p>Try another session type, or contact the practice.</p>
        </Empty>
      ) : (
        <SlotPicker
          slots={slots.data}
          selected={req.choice?.iso ?? null}
          onSelect={req.choose}
          psychologist={psychologist}
          exclude={exclude}
          errors={fieldErrors}
        />
      )}
      {error && !req.taken ? (
        <ErrorNotice
          error={error}
          focus
          onRetry={error instanceof ApiError && error.retryable ? req.submit : undefined}
        />
      ) : null}
      <div className="submit-bar">
        <p className="submit-bar__choice" aria-live="polite">
          {req.choice
            ? `${dateTimeLabel(req.choice.start)}${otherZone ? ` (${timeIn(req.choice.start, otherZone)} in ${zoneName(otherZone)})` : ""}`
            : req.missing
              ? <span className="field-error">Please pick a time first.</span>
              : "No time picked yet"}
        </p>
        <button type="submit" className="button button--primary" disabled={req.mutation.isPending}>
          {req.mutation.isPending ? "Sending…" : submitLabel}
        </button>
      </div>
    </form>
  );
}

function BookWith({ psychologist, client, ownPsychologist }: { psychologist: Psychologist; client: string; ownPsychologist: boolean }) {
  const navigate = useNavigate();
  const types = useSessionTypes();
  const [picked, setPicked] = useState("");
  if (types.isPending) return <Loading what="session types" />;
  if (types.isError) return <ErrorNotice error={types.error} onRetry={() => void types.refetch()} />;
  // A client new to this psychologist may only request what clients may book themselves (the intake).
  const allowed = ownPsychologist ? types.data : types.data.filter((t) => t.clientBookable);
  const sessionType = picked || (allowed[0]?.name ?? "");
  return (
    <>
      <p className="lead">
        With <strong>{psychologist.displayName}</strong>
        {ownPsychologist ? null : ". As a new client, you start with an intake session."}
      </p>
      {allowed.length === 0 ? (
        <Empty title="There is nothing you can book online right now.">
          <p>Please contact the practice.</p>
        </Empty>
      ) : (
        <>
          {allowed.length > 1 ? <SessionTypeChoice types={allowed} value={sessionType} onChange={setPicked} /> : null}
          <SlotRequestForm
            key={sessionType}
            psychologist={psychologist}
            sessionType={sessionType}
            submitLabel="Request this time"
            send={(choice, action) =>
              call(
                S.createAppointment,
                {
                  parent: psychologist.name,
                  appointment: { client, sessionType, startTime: timestampFromDate(choice.start) },
                  requestApproval: true,
                },
                { action },
              )
            }
            onDone={(a) => {
              void navigate("/appointments", { state: { requested: a.name } });
            }}
          />
        </>
      )}
    </>
  );
}

function PsychologistLoader({ name, client, own }: { name: string; client: string; own: boolean }) {
  const p = usePsychologist(name);
  if (p.isPending) return <Loading what="the psychologist" />;
  if (p.isError) return <ErrorNotice error={p.error} onRetry={() => void p.refetch()} />;
  return <BookWith psychologist={p.data} client={client} ownPsychologist={own} />;
}

export function BookPage({ client }: { client: string }) {
  const me = useClient(client);
  const [params] = useSearchParams();
  const chosen = params.get("psychologist") ?? "";
  let body;
  if (me.isPending) body = <Loading what="your details" />;
  else if (me.isError) body = <ErrorNotice error={me.error} onRetry={() => void me.refetch()} />;
  else {
    const name = chosen || me.data.psychologist;
    body = name ? (
      <PsychologistLoader name={name} client={client} own={name === me.data.psychologist} />
    ) : (
      <Empty title="First choose a psychologist.">
        <p>
          <Link to="/">See the practice's psychologists</Link>
        </p>
      </Empty>
    );
  }
  return <Page title="Book a session">{body}</Page>;
}
