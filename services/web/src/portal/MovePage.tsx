import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Link, useNavigate } from "react-router";
import { call } from "../api/client";
import { S, startOf, usePsychologist } from "../api/scheduling";
import { Cancellation_Actor } from "../gen/phs/scheduling/v1/resources_pb";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading } from "../ui/states";
import { dateTimeLabel } from "../ui/time";
import { SlotRequestForm } from "./BookPage";
import { psychologistOf } from "./names";
import { isActive, stateWords } from "./stateWords";
import { useAppointmentFromRoute } from "./useAppointment";

export function MovePage() {
  const { name, query } = useAppointmentFromRoute();
  const navigate = useNavigate();
  const psychologist = usePsychologist(psychologistOf(name));
  let body;
  if (query.isPending || psychologist.isPending) body = <Loading what="the appointment" />;
  else if (query.isError) body = <ErrorNotice error={query.error} onRetry={() => void query.refetch()} />;
  else if (psychologist.isError)
    body = <ErrorNotice error={psychologist.error} onRetry={() => void psychologist.refetch()} />;
  else {
    const a = query.data;
    const start = startOf(a);
    body = !isActive(a) ? (
      <p>
        This appointment is {stateWords(a).label.toLowerCase()}: it cannot be moved.{" "}
        <Link to="/appointments">Back to your appointments</Link>
      </p>
    ) : (
      <>
        <p className="lead">
          Now: <strong>{dateTimeLabel(start)}</strong>. Pick another open time; your psychologist confirms the move.
        </p>
        <SlotRequestForm
          psychologist={psychologist.data}
          sessionType={a.sessionType}
          exclude={start.toISOString()}
          submitLabel="Ask to move to this time"
          send={(choice, action) =>
            call(
              S.rescheduleAppointment,
              {
                name,
                startTime: timestampFromDate(choice.start),
                rescheduledBy: Cancellation_Actor.CLIENT,
                etag: a.etag,
              },
              { action },
            )
          }
          onDone={(moved) => {
            void navigate("/appointments", { state: { moved: moved.name } });
          }}
        />
      </>
    );
  }
  return <Page title="Move a session">{body}</Page>;
}
