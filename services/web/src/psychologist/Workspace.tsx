// The psychologist's workspace: its own lazily loaded chunk, so a client's portal never
// downloads the calendar.
import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router";
import { WatchLive } from "../api/psychologist";
import { usePsychologist } from "../api/scheduling";
import { useAppointmentWatch } from "../api/useAppointmentWatch";
import { Page } from "../ui/Layout";
import { ErrorNotice, Loading } from "../ui/states";
import { AvailabilityPage } from "./AvailabilityPage";
import { ClientsPage } from "./ClientsPage";
import { RequestsPage } from "./RequestsPage";
import { SeriesPage } from "./SeriesPage";
import { SettingsPage } from "./SettingsPage";
import { TodayPage } from "./TodayPage";
import { WeekPage } from "./WeekPage";
import "./psychologist.css";

// The charts load only with the caseload page.
const CaseloadPage = lazy(() => import("./CaseloadPage"));

export default function Workspace({ psychologist }: { psychologist: string }) {
  const me = usePsychologist(psychologist);
  // Live changes (a client's request, a move elsewhere); the pages poll only while it is down.
  const { live } = useAppointmentWatch(psychologist);
  if (me.isPending)
    return (
      <Page title="Your workspace">
        <Loading what="your profile" />
      </Page>
    );
  if (me.isError)
    return (
      <Page title="Your workspace">
        <ErrorNotice error={me.error} onRetry={() => void me.refetch()} />
      </Page>
    );
  const zone = me.data.timeZone || "UTC";
  const p = { parent: psychologist, zone };
  return (
    <WatchLive.Provider value={live}>
      <Routes>
        <Route path="/" element={<TodayPage {...p} />} />
        <Route path="/week" element={<WeekPage {...p} />} />
        <Route path="/requests" element={<RequestsPage {...p} />} />
        <Route path="/availability" element={<AvailabilityPage {...p} />} />
        <Route path="/series" element={<SeriesPage {...p} />} />
        <Route path="/clients" element={<ClientsPage {...p} />} />
        <Route path="/settings" element={<SettingsPage parent={psychologist} />} />
        <Route
          path="/caseload"
          element={
            <Suspense fallback={<Loading what="the charts" />}>
              <CaseloadPage {...p} />
            </Suspense>
          }
        />
        <Route
          path="*"
          element={
            <Page title="Page not found">
              <p>There is nothing at this address.</p>
            </Page>
          }
        />
      </Routes>
    </WatchLive.Provider>
  );
}
