import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { BrowserRouter, Route, Routes } from "react-router";
import { ApiError } from "./api/errors";
import { AuthProvider, useAuth } from "./auth/AuthProvider";
import type { AppConfig } from "./config";
import { AppointmentsPage } from "./portal/AppointmentsPage";
import { BookPage } from "./portal/BookPage";
import { CancelPage } from "./portal/CancelPage";
import { MovePage } from "./portal/MovePage";
import { NotificationsPage } from "./portal/NotificationsPage";
import { OverviewPage } from "./portal/OverviewPage";
import { AppShell, Page } from "./ui/Layout";
import { SignInPage } from "./ui/SignInPage";
import { Loading } from "./ui/states";

// The psychologist's workspace (calendar included) is its own chunk: the portal never loads it.
const Workspace = lazy(() => import("./psychologist/Workspace"));
// The staff console is its own chunk: a client's portal never loads it.
const StaffConsole = lazy(() => import("./staff/StaffConsole"));

function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Only failures that a second try may fix are retried (never a 4xx).
        retry: (count, error) => count < 2 && error instanceof ApiError && error.retryable,
        refetchOnWindowFocus: true,
      },
    },
  });
}

function Routed() {
  const { state } = useAuth();
  if (state.status === "loading") {
    return (
      <Page title="Signing you in">
        <Loading what="your sign-in" />
      </Page>
    );
  }
  if (state.status === "signedOut") return <SignInPage ended={state.ended} error={state.error} />;
  const { principal } = state;
  if (principal.role === "psychologist") {
    return (
      <AppShell>
        <Suspense
          fallback={
            <Page title="Opening your workspace">
              <Loading what="your workspace" />
            </Page>
          }
        >
          <Workspace psychologist={principal.subject} />
        </Suspense>
      </AppShell>
    );
  }
  if (principal.role === "admin") {
    return (
      <AppShell nav="staff">
        <Suspense fallback={<Loading what="the staff console" />}>
          <StaffConsole />
        </Suspense>
      </AppShell>
    );
  }
  if (principal.role !== "client") {
    return (
      <AppShell nav={false}>
        <Page title={`Welcome, ${principal.displayName}`}>
          <p>Your account has no access to this practice's scheduling. Please contact the practice.</p>
        </Page>
      </AppShell>
    );
  }
  return (
    <AppShell>
      <Routes>
        <Route path="/" element={<OverviewPage client={principal.subject} />} />
        <Route path="/book" element={<BookPage client={principal.subject} />} />
        <Route path="/appointments" element={<AppointmentsPage />} />
        <Route path="/appointments/:pid/:aid/cancel" element={<CancelPage />} />
        <Route path="/appointments/:pid/:aid/move" element={<MovePage />} />
        <Route path="/notifications" element={<NotificationsPage client={principal.subject} />} />
        <Route
          path="*"
          element={
            <Page title="Page not found">
              <p>There is nothing at this address.</p>
            </Page>
          }
        />
      </Routes>
    </AppShell>
  );
}

export function App({ config }: { config: AppConfig }) {
  const [queryClient] = useState(makeQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <AuthProvider config={config}>
          <Routed />
        </AuthProvider>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
