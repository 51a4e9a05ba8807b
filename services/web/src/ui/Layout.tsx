import { useEffect, useRef, type ReactNode } from "react";
import { NavLink } from "react-router";
import { useAuth } from "../auth/AuthProvider";

const CLIENT_LINKS = [
  { to: "/", label: "Home" },
  { to: "/book", label: "Book" },
  { to: "/appointments", label: "Appointments" },
  { to: "/notifications", label: "Notifications" },
];

const PSYCHOLOGIST_LINKS = [
  { to: "/", label: "Today" },
  { to: "/week", label: "Week" },
  { to: "/requests", label: "Requests" },
  { to: "/availability", label: "Availability" },
  { to: "/series", label: "Series" },
  { to: "/clients", label: "Clients" },
  { to: "/caseload", label: "Caseload" },
  { to: "/settings", label: "Settings" },
];

const STAFF_LINKS: [string, string][] = [
  ["/psychologists", "Psychologists"],
  ["/clients", "Clients"],
  ["/session-types", "Session types"],
  ["/reports", "Reports"],
  ["/audit", "Audit log"],
  ["/book-for-client", "Book for a client"],
];

export function AppShell({ children, nav = true }: { children: ReactNode; nav?: boolean | "staff" }) {
  const { state, signOut } = useAuth();
  const name = state.status === "signedIn" ? state.principal.displayName : "";
  const role = state.status === "signedIn" ? state.principal.role : null;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <div className="app-header__inner">
          <span className="brand">PHS</span>
          {nav === "staff" ? (
            <nav aria-label="Main">
              <ul className="nav">
                {STAFF_LINKS.map(([to, label]) => (
                  <li key={to}>
                    <NavLink to={to}>{label}</NavLink>
                  </li>
                ))}
              </ul>
            </nav>
          ) : nav ? (
          <nav aria-label="Main">
            <ul className="nav">
              {(role === "psychologist" ? PSYCHOLOGIST_LINKS : CLIENT_LINKS).map((l) => (
                <li key={l.to}>
                  <NavLink to={l.to} end={l.to === "/"}>
                    {l.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          ) : null}
          <div className="who">
            <span className="who__name">{name}</span>
            <button type="button" className="button button--quiet" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      {children}
    </>
  );
}

/** A page: its title is the document's title and takes focus when the page opens. */
export function Page({ title, children, lead }: { title: string; children: ReactNode; lead?: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} — PHS`;
    heading.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <main className="page" id="main">
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {lead ? <p className="lead">{lead}</p> : null}
      {children}
    </main>
  );
}
