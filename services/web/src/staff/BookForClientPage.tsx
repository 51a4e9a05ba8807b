import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { call, newAction } from "../api/client";
import { S } from "../api/staff";
import type { Appointment, Psychologist } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading, Notice } from "../ui/states";
import { dateTimeLabel, timeIn, viewerZone, zoneName, zonesDiffer } from "../ui/time";
import { Field, PsychologistOptions, useAllPsychologists } from "./common";
import { insideWorkingHours } from "./workingHours";

function OutsideHoursWarning({ psychologist, booked }: { psychologist: Psychologist; booked: boolean }) {
  return (
    <div className="notice notice--warning" role="status" data-warning="outside-working-hours">
      <p className="notice__title">
        {booked ? "Booked outside" : "Outside"} {psychologist.displayName}'s working hours.
      </p>
      <p>
        Staff may book it anyway (clients cannot). Please make sure {psychologist.displayName} knows and agrees.
      </p>
    </div>
  );
}

function BookingForm({ psychologist }: { psychologist: Psychologist }) {
  const [client, setClient] = useState("");
  const [sessionType, setSessionType] = useState("");
  const [when, setWhen] = useState("");
  const [action, setAction] = useState(newAction);
  const [booked, setBooked] = useState<{ a: Appointment; outside: boolean } | null>(null);
  const clients = useQuery({
    queryKey: ["staff", "clients", psychologist.name, "all"],
    queryFn: async ({ signal }) =>
      (await call(S.listClients, { psychologist: psychologist.name, pageSize: 1000 }, { signal })).clients,
  });
  const types = useQuery({
    queryKey: ["staff", "sessionTypes", "all"],
    queryFn: async ({ signal }) => (await call(S.listSessionTypes, { pageSize: 1000 }, { signal })).sessionTypes,
    staleTime: 60_000,
  });
  const availability = useQuery({
    queryKey: ["staff", "availability", psychologist.name],
    queryFn: ({ signal }) => call(S.getAvailability, { name: `${psychologist.name}/availability` }, { signal }),
  });
  const start = when ? new Date(when) : null;
  const type = types.data?.find((t) => t.name === sessionType);
  const minutes = type?.duration ? Number(type.duration.seconds) / 60 : 0;
  const end = start ? new Date(start.getTime() + minutes * 60_000) : null;
  const outside =
    start && end && !Number.isNaN(start.getTime()) && availability.data
      ? !insideWorkingHours(availability.data, start, end, psychologist.timeZone)
      : false;
  const otherZone = zonesDiffer(psychologist.timeZone) ? psychologist.timeZone : null;
  const book = useMutation({
    mutationFn: () =>
      call(
        S.createAppointment,
        {
          parent: psychologist.name,
          appointment: { client, sessionType, startTime: start ? timestampFromDate(start) : undefined },
        },
        { action },
      ),
    onSuccess: (a) => {
      setBooked({ a, outside });
      setAction(newAction());
    },
  });
  if (clients.isPending || types.isPending || availability.isPending) return <Loading what="clients and session types" />;
  if (clients.isError) return <ErrorNotice error={clients.error} onRetry={() => void clients.refetch()} />;
  if (types.isError) return <ErrorNotice error={types.error} onRetry={() => void types.refetch()} />;
  if (availability.isError) return <ErrorNotice error={availability.error} onRetry={() => void availability.refetch()} />;
  return (
    <form
      className="card staff-form"
      aria-label="Booking"
      onSubmit={(e) => {
        e.preventDefault();
        book.mutate();
      }}
    >
      {booked ? (
        <Notice>
          Booked for {dateTimeLabel(new Date(Number(booked.a.startTime?.seconds ?? 0n) * 1000))}
          {otherZone && booked.a.startTime
            ? ` (${timeIn(new Date(Number(booked.a.startTime.seconds) * 1000), otherZone)} in ${zoneName(otherZone)})`
            : ""}
          .
        </Notice>
      ) : null}
      {booked?.outside ? <OutsideHoursWarning psychologist={psychologist} booked /> : null}
      <Field label="Client" error={book.error} field="client" hint="Clients assigned to this psychologist">
        {(p) => (
          <select {...p} value={client} onChange={(e) => { setClient(e.target.value); }}>
            <option value="">Choose a client</option>
            {clients.data.map((c) => (
              <option key={c.name} value={c.name}>
                {c.displayName}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Session type" error={book.error} field="session_type">
        {(p) => (
          <select {...p} value={sessionType} onChange={(e) => { setSessionType(e.target.value); }}>
            <option value="">Choose a session type</option>
            {types.data.map((t) => (
              <option key={t.name} value={t.name}>
                {t.displayName}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Starts at"
        error={book.error}
        field="start_time"
        hint={`In your time zone, ${zoneName(viewerZone)}${otherZone ? `; ${psychologist.displayName} works in ${zoneName(otherZone)}` : ""}`}
      >
        {(p) => <input {...p} type="datetime-local" value={when} onChange={(e) => { setWhen(e.target.value); }} />}
      </Field>
      {start && otherZone && !Number.isNaN(start.getTime()) ? (
        <p className="zone-note">
          That is {timeIn(start, otherZone)} in {zoneName(otherZone)}, where {psychologist.displayName} works.
        </p>
      ) : null}
      {outside ? <OutsideHoursWarning psychologist={psychologist} booked={false} /> : null}
      {book.error ? <ErrorNotice error={book.error} /> : null}
      <button type="submit" className="button button--primary" disabled={book.isPending}>
        {book.isPending ? "Booking…" : "Book this session"}
      </button>
    </form>
  );
}

export function BookForClientPage() {
  const psychologists = useAllPsychologists();
  const [chosen, setChosen] = useState("");
  const psychologist = psychologists.data?.find((p) => p.name === chosen);
  return (
    <Page title="Book for a client" lead="Staff bookings are confirmed at once and may fall outside working hours.">
      {psychologists.isPending ? (
        <Loading what="psychologists" />
      ) : psychologists.isError ? (
        <ErrorNotice error={psychologists.error} onRetry={() => void psychologists.refetch()} />
      ) : (
        <>
          <div className="staff-field staff-filter">
            <label htmlFor="book-psychologist">Psychologist</label>
            <select
              id="book-psychologist"
              value={chosen}
              onChange={(e) => {
                setChosen(e.target.value);
              }}
            >
              <option value="">Choose a psychologist</option>
              <PsychologistOptions list={psychologists.data} activeOnly />
            </select>
          </div>
          {psychologist ? <BookingForm key={psychologist.name} psychologist={psychologist} /> : null}
        </>
      )}
    </Page>
  );
}
