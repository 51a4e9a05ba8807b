import { useEffect } from "react";
import { useAuth } from "../auth/AuthProvider";

export function SignInPage({ ended, error }: { ended: boolean; error?: string }) {
  const { signIn } = useAuth();
  useEffect(() => {
    document.title = "Sign in — PHS";
  }, []);
  return (
    <main className="page page--narrow" id="main">
      <h1>Your sessions with the practice</h1>
      {ended ? (
        <p className="notice notice--info" role="status">
          Your sign-in has ended. Please sign in again to continue.
        </p>
      ) : null}
      {error ? (
        <p className="notice notice--error" role="alert">
          {error}
        </p>
      ) : null}
      <p className="lead">Sign in to see your psychologist's open times, request a session, and manage your appointments.</p>
      <button type="button" className="button button--primary button--large" onClick={() => void signIn()}>
        Sign in
      </button>
    </main>
  );
}
