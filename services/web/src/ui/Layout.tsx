import { useEffect, useRef, type ReactNode } from "react";
import { NavLink } from "react-router";
import { useAuth } from "../auth/AuthProvider";

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
              <li>
                <NavLink to="/" end>
                  Home
                </NavLink>
              </li>
              <li>
                <NavLink to="/book">Book</NavLink>
              </li>
              <li>
                <NavLink to="/appointments">Appointments</NavLink>
              </li>
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
