// Loading, error and empty states, designed rather than left to defaults.
import { useEffect, useRef, type ReactNode } from "react";
import { ApiError } from "../api/errors";

export function Loading({ what }: { what: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>Loading {what}…</span>
    </div>
  );
}

export function plainError(error: unknown): string {
  return error instanceof ApiError ? error.plain : "Something went wrong. Please try again.";
}

/** An error in plain words, the reference for support, and a way forward. */
export function ErrorNotice({
  error,
  onRetry,
  retryLabel = "Try again",
  focus = false,
  children,
}: {
  error: unknown;
  onRetry?: () => void;
  retryLabel?: string;
  focus?: boolean;
  children?: ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (focus) box.current?.focus();
  }, [focus, error]);
  return (
    <div className="notice notice--error" role="alert" tabIndex={-1} ref={box}>
      <p className="notice__title">{plainError(error)}</p>
      {children}
      {error instanceof ApiError && error.requestId ? (
        <p className="notice__ref">Reference for the practice: {error.requestId}</p>
      ) : null}
      {onRetry ? (
        <button type="button" className="button button--secondary" onClick={onRetry}>
          {retryLabel}
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty__title">{title}</p>
      {children}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="notice notice--success" role="status">
      {children}
    </div>
  );
}
