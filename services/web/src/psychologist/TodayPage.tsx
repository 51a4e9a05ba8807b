// The landing page: today's sessions in order, and how many requests wait.
import { useMemo } from "react";
import { Link } from "react-router";
import { useAgenda } from "../api/psychologist";
import { startOf } from "../api/scheduling";
import { Page } from "../ui/Layout";
import { Empty, ErrorNotice, Loading } from "../ui/states";
import { AppointmentItem } from "./AppointmentItem";
import { useNames } from "./names";
import { usePendingRequests } from "./RequestsPage";
import { ZoneLine } from "./ZoneLine";
import { onCalendar } from "./words";
import { startOfDay, todayIn } from "./zone";

export function TodayPage({ parent, zone }: { parent: string; zone: string }) {
  const { from, to, label } = useMemo(() => {
    const today = todayIn(zone);
    return {
      from: startOfDay(today, zone),
      to: startOfDay(today.add({ days: 1 }), zone),
      label: today.toLocaleString(undefined, { weekday: "long", day: "numeric", month: "long" }),
    };
  }, [zone]);
  const agenda = useAgenda(parent, from, to);
  const pending = usePendingRequests(parent);
  const names = useNames(parent);
  let body;
  if (agenda.isPending) body = <Loading what="today's sessions" />;
  else if (agenda.isError) body = <ErrorNotice error={agenda.error} onRetry={() => void agenda.refetch()} />;
  else {
    const list = agenda.data.filter(onCalendar).sort((a, b) => startOf(a).getTime() - startOf(b).getTime());
    body =
      list.length === 0 ? (
        <Empty title="No sessions today." />
      ) : (
        <ul className="list">
          {list.map((a) => (
            <AppointmentItem key={a.name} appointment={a} names={names} zone={zone} parent={parent} />
          ))}
        </ul>
      );
  }
  const waiting = pending.data?.length ?? 0;
  return (
    <Page title="Today" lead={label}>
      <ZoneLine zone={zone} />
      {waiting > 0 ? (
        <p className="notice notice--warning">
          <Link to="/requests">
            {waiting === 1 ? "1 request waits" : `${waiting} requests wait`} for your answer
          </Link>
        </p>
      ) : null}
      {body}
    </Page>
  );
}
