import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { call } from "../api/client";
import { S } from "../api/scheduling";
import { appointmentName } from "./names";

export function useAppointmentFromRoute() {
  const { pid = "", aid = "" } = useParams();
  const name = appointmentName(pid, aid);
  const query = useQuery({
    queryKey: ["appointment", name],
    queryFn: ({ signal }) => call(S.getAppointment, { name }, { signal }),
  });
  return { name, pid, query };
}
