// The week in the psychologist's own zone: working hours shaded from the availability,
// time off marked, appointments by state (in words as well as colour), series marked.
// Drag to move; the server decides, and a refusal puts it back and says why.
import FullCalendar from "@fullcalendar/react";
import interactionPlugin from "@fullcalendar/react/interaction";
import listPlugin from "@fullcalendar/react/list";
import timeGridPlugin from "@fullcalendar/react/timegrid";
import classicTheme from "@fullcalendar/react/themes/classic";
import "@fullcalendar/react/skeleton.css";
import "@fullcalendar/react/themes/classic/theme.css";
import "@fullcalendar/react/themes/classic/palette.css";
import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { Temporal } from "temporal-polyfill";
import { useAgenda, useAvailability } from "../api/psychologist";
import { startOf } from "../api/scheduling";
import type { Appointment } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Notice } from "../ui/states";
import { useNow } from "../ui/useNow";
import { AppointmentItem } from "./AppointmentItem";
import { useNames } from "./names";
import { ZoneLine } from "./ZoneLine";
import { moveRefusal, useChange } from "./useActions";
import { hoursOn } from "./workingHours";
import { isActive, onCalendar, stateWords } from "./words";
import { labelIn, startOfDay, todayIn } from "./zone";

interface Range {
  from: Date;
  to: Date;
}

/** The week holding `?date=YYYY-MM-DD` (a link to a given week), else this week. */
function initialDay(zone: string, param: string | null): Temporal.PlainDate {
  if (param && /^\d{4}-\d{2}-\d{2}$/.test(param)) {
    try {
      return Temporal.PlainDate.from(param);
    } catch {
      // An impossible date falls back to today.
    }
  }
  return todayIn(zone);
}

function initialRange(today: Temporal.PlainDate, zone: string): Range {
  const monday = today.subtract({ days: today.dayOfWeek - 1 });
  return { from: startOfDay(monday, zone), to: startOfDay(monday.add({ days: 7 }), zone) };
}

export function WeekPage({ parent, zone }: { parent: string; zone: string }) {
  const [params] = useSearchParams();
  const [day] = useState(() => initialDay(zone, params.get("date")));
  const [range, setRange] = useState<Range>(() => initialRange(day, zone));
  const agenda = useAgenda(parent, range.from, range.to);
  const availability = useAvailability(parent);
  const names = useNames(parent);
  const change = useChange();
  const now = useNow();
  const [selected, setSelected] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [moved, setMoved] = useState<string | null>(null);

  const byName = useMemo(() => new Map((agenda.data ?? []).map((a) => [a.name, a])), [agenda.data]);
  const events = useMemo(() => {
    const appointments = (agenda.data ?? []).filter(onCalendar).map((a: Appointment) => {
      const w = stateWords(a);
      const who = names.client(a.client);
      return {
        id: a.name,
        // The state first: a 45-minute event has room for two short lines.
        title: `${w.label}${a.series ? " · Series" : ""} · ${who}`,
        start: startOf(a),
        end: a.endTime ? new Date(Number(a.endTime.seconds) * 1000) : startOf(a),
        editable: isActive(a) && startOf(a).getTime() > now,
        className: `psy-ev psy-ev--${w.tone}${a.series ? " psy-ev--series" : ""}`,
      };
    });
    const shading = hoursOn(availability.data, range.from, range.to, zone).flatMap((d) => [
      ...d.work.map((s) => ({
        start: s.start,
        end: s.end,
        display: "background",
        className: d.changed ? "psy-work psy-work--extra" : "psy-work",
      })),
      ...(d.off
        ? [{ start: d.date, allDay: true, display: "background", title: "Time off", className: "psy-off" }]
        : []),
    ]);
    return [...shading, ...appointments];
  }, [agenda.data, availability.data, names, range, zone, now]);

  useEffect(() => {
    // Measured once the calendar has painted these events (phs:agenda-data is set on arrival).
    requestAnimationFrame(() => {
      if (performance.getEntriesByName("phs:agenda-data").length && !performance.getEntriesByName("phs:week-render").length) {
        performance.measure("phs:week-render", "phs:agenda-data");
      }
    });
  }, [events]);
  const chosen = selected ? byName.get(selected) : undefined;
  return (
    <Page title="Your week">
      <ZoneLine zone={zone} />
      <ul className="legend" aria-label="Legend">
        <li><span className="swatch psy-work" aria-hidden="true" /> Working hours</li>
        <li><span className="swatch psy-off" aria-hidden="true" /> Time off</li>
        <li><span className="swatch psy-ev--waiting" aria-hidden="true" /> Requested</li>
        <li><span className="swatch psy-ev--good" aria-hidden="true" /> Booked</li>
        <li><span className="swatch psy-ev--bad" aria-hidden="true" /> Cancelled or no-show</li>
      </ul>
      {refusal ? (
        <div className="notice notice--error" role="alert" data-testid="move-refused">
          <p className="notice__title">Not moved: {refusal}</p>
        </div>
      ) : null}
      {moved ? <Notice>{moved}</Notice> : null}
      {agenda.isError ? <ErrorNotice error={agenda.error} onRetry={() => void agenda.refetch()} /> : null}
      <div className="psy-calendar" aria-busy={agenda.isPending}>
        <FullCalendar
          plugins={[classicTheme, timeGridPlugin, listPlugin, interactionPlugin]}
          initialView="timeGridWeek"
          initialDate={day.toString()}
          timeZone={zone}
          firstDay={1}
          headerToolbar={{ start: "prev,today,next", center: "title", end: "timeGridDay,timeGridWeek,listWeek" }}
          buttons={{ timeGridDay: { text: "Day" }, timeGridWeek: { text: "Week" }, listWeek: { text: "List" }, today: { text: "Today" } }}
          allDaySlot
          nowIndicator
          slotMinTime="06:00:00"
          slotMaxTime="21:00:00"
          scrollTime="08:00:00"
          eventDurationEditable={false}
          events={events}
          datesSet={(info: { start: Date; end: Date }) => {
            if (info.start.getTime() !== range.from.getTime() || info.end.getTime() !== range.to.getTime()) {
              setRange({ from: info.start, to: info.end });
            }
          }}
          eventDidMount={(info: { event: { id: string }; el: HTMLElement }) => {
            // Tests and assistive tools find an appointment by its resource name.
            if (info.event.id) info.el.dataset.appointment = info.event.id;
          }}
          eventClick={(info: { event: { id: string } }) => {
            if (info.event.id) setSelected(info.event.id);
          }}
          eventDrop={(info: { event: { id: string; start: Date | null }; revert: () => void }) => {
            const a = byName.get(info.event.id);
            const start = info.event.start;
            setRefusal(null);
            setMoved(null);
            if (!a || !start) {
              info.revert();
              return;
            }
            change.mutate(
              { appointment: a, change: { kind: "move", start } },
              {
                onSuccess: (m) => {
                  setMoved(`Moved to ${labelIn(startOf(m), zone)}.`);
                  setSelected(m.name);
                },
                onError: (e) => {
                  info.revert();
                  setRefusal(moveRefusal(e));
                },
              },
            );
          }}
        />
      </div>
      {chosen ? (
        <section aria-labelledby="selected-title" className="psy-selected">
          <h2 id="selected-title">Selected appointment</h2>
          <ul className="list">
            <AppointmentItem appointment={chosen} names={names} zone={zone} parent={parent} />
          </ul>
        </section>
      ) : (
        <p className="muted">Select an appointment (click or Enter) to see what you can do with it.</p>
      )}
    </Page>
  );
}
