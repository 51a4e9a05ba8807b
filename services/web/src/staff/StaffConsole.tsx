// The practice staff's console (role admin). Loaded lazily: a client's portal never
// downloads it.
import { Navigate, Route, Routes } from "react-router";
import { Page } from "../ui/Layout";
import { AuditPage } from "./AuditPage";
import { BookForClientPage } from "./BookForClientPage";
import { ClientsPage } from "./ClientsPage";
import { PsychologistsPage } from "./PsychologistsPage";
import { ReportsPage } from "./ReportsPage";
import { SessionTypesPage } from "./SessionTypesPage";
import "./staff.css";

export default function StaffConsole() {
  return (
    <Routes>
      <Route path="/" element={<Navigate to="/psychologists" replace />} />
      <Route path="/psychologists" element={<PsychologistsPage />} />
      <Route path="/clients" element={<ClientsPage />} />
      <Route path="/session-types" element={<SessionTypesPage />} />
      <Route path="/reports" element={<ReportsPage />} />
      <Route path="/audit" element={<AuditPage />} />
      <Route path="/book-for-client" element={<BookForClientPage />} />
      <Route
        path="*"
        element={
          <Page title="Page not found">
            <p>There is nothing at this address.</p>
          </Page>
        }
      />
    </Routes>
  );
}
