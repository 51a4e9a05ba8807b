// Small pieces every console page shares: paging by page token, a form field with its
// violations next to it, a table's box, and the psychologists every picker offers.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { call } from "../api/client";
import { ApiError } from "../api/errors";
import { S } from "../api/staff";
import type { Psychologist } from "../gen/phs/scheduling/v1/resources_pb";

export const staffKeys = {
  psychologists: ["staff", "psychologists"] as const,
  allPsychologists: ["staff", "psychologists", "all"] as const,
  clients: ["staff", "clients"] as const,
  sessionTypes: ["staff", "sessionTypes"] as const,
  reports: ["staff", "reports"] as const,
  report: (name: string) => ["staff", "report", name] as const,
  audit: ["staff", "audit"] as const,
};

export const PAGE_SIZE = 20;

/** Page tokens seen so far: the last one is the page shown. */
export function usePager() {
  const [tokens, setTokens] = useState<string[]>([""]);
  return {
    token: tokens[tokens.length - 1] ?? "",
    page: tokens.length,
    next: (t: string) => {
      setTokens((ts) => [...ts, t]);
    },
    previous: () => {
      setTokens((ts) => (ts.length > 1 ? ts.slice(0, -1) : ts));
    },
    reset: () => {
      setTokens([""]);
    },
  };
}

export function PagerNav({
  pager,
  nextToken,
  label,
}: {
  pager: ReturnType<typeof usePager>;
  nextToken: string | undefined;
  label: string;
}) {
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" className="button button--quiet" disabled={pager.page === 1} onClick={pager.previous}>
        Previous page
      </button>
      <span aria-live="polite">Page {pager.page}</span>
      <button
        type="button"
        className="button button--quiet"
        disabled={!nextToken}
        onClick={() => {
          if (nextToken) pager.next(nextToken);
        }}
      >
        Next page
      </button>
    </nav>
  );
}

/** A labelled control with the API's field violations beside it. */
export function Field({
  label,
  error,
  field,
  children,
  hint,
}: {
  label: string;
  error: unknown;
  field: string;
  hint?: string;
  children: (props: { id: string; "aria-describedby"?: string; "aria-invalid"?: boolean }) => ReactNode;
}) {
  const id = useId();
  const problems = error instanceof ApiError ? error.violationsOf(field) : [];
  const described = [hint ? `${id}-hint` : "", problems.length ? `${id}-err` : ""].filter(Boolean).join(" ");
  return (
    <div className="staff-field">
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p className="muted staff-field__hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {children({
        id,
        "aria-describedby": described || undefined,
        "aria-invalid": problems.length ? true : undefined,
      })}
      {problems.length ? (
        <ul className="field-errors" id={`${id}-err`}>
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** Every psychologist (for pickers and names), active or not. */
export function useAllPsychologists() {
  return useQuery({
    queryKey: staffKeys.allPsychologists,
    queryFn: async ({ signal }): Promise<Psychologist[]> =>
      (await call(S.listPsychologists, { pageSize: 1000 }, { signal })).psychologists,
    staleTime: 60_000,
  });
}

export function PsychologistOptions({ list, activeOnly = false }: { list: Psychologist[]; activeOnly?: boolean }) {
  return (
    <>
      {list
        .filter((p) => p.active || !activeOnly)
        .map((p) => (
          <option key={p.name} value={p.name}>
            {p.displayName}
            {p.active ? "" : " (inactive)"}
          </option>
        ))}
    </>
  );
}

/**
 * A table's box. On a phone the table reflows into one card per row (staff.css, each
 * cell named by its data-label); wider, a table too wide for the page scrolls sideways
 * inside this box, which then takes keyboard focus (arrow keys scroll it) and a name.
 */
export function TableBox({ label, children }: { label: string; children: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // Called once on observing, then on every change of either size.
    const watch = new ResizeObserver(() => {
      setScrolls(el.scrollWidth > el.clientWidth + 1);
    });
    watch.observe(el);
    if (el.firstElementChild) watch.observe(el.firstElementChild);
    return () => {
      watch.disconnect();
    };
  }, []);
  return (
    <div
      ref={box}
      className="staff-table-wrap"
      role={scrolls ? "region" : undefined}
      aria-label={scrolls ? label : undefined}
      tabIndex={scrolls ? 0 : undefined}
    >
      {children}
    </div>
  );
}

/**
 * A row's last cell: its buttons (and any form they open) side by side. The cell itself
 * stays a table cell, so its border lines up with its neighbours' however tall the row
 * is, and an empty one (a finished report) still draws it.
 */
export function ActionsCell({ label = "Actions", children }: { label?: string; children: ReactNode }) {
  return (
    <td data-label={label} className="staff-actions-cell">
      <div className="staff-actions">{children}</div>
    </td>
  );
}
