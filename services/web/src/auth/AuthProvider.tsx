// OpenID Connect sign-in (Authorization Code + PKCE) with oidc-client-ts. Tokens stay in
// this tab's sessionStorage (never localStorage, never a URL). The access token is renewed
// with the refresh token when a call needs it and it is about to expire (one renewal at a
// time: refresh tokens rotate, and one used twice ends the sign-in); when renewal fails,
// the person is asked to sign in again.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useNavigate } from "react-router";
import { setSession } from "../api/client";
import type { AppConfig } from "../config";
import { principalFrom, type Principal } from "./principal";

export const CALLBACK_PATH = "/auth/callback";

// The code in the callback URL can be exchanged once; React may run effects twice in
// development, so the exchange is shared.
let callback: Promise<User> | null = null;

export type AuthState =
  | { status: "loading" }
  | { status: "signedOut"; ended: boolean; error?: string }
  | { status: "signedIn"; principal: Principal };

interface AuthApi {
  state: AuthState;
  signIn: (returnTo?: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthApi | null>(null);

export function useAuth(): AuthApi {
  const api = useContext(AuthContext);
  if (!api) throw new Error("useAuth outside AuthProvider");
  return api;
}

function makeManager(config: AppConfig): UserManager {
  const origin = window.location.origin;
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  return new UserManager({
    authority: config.oidc.authority,
    client_id: config.oidc.clientId,
    scope: config.oidc.scope,
    redirect_uri: origin + CALLBACK_PATH,
    post_logout_redirect_uri: origin + "/",
    response_type: "code",
    userStore: store,
    stateStore: store,
    automaticSilentRenew: false,
    loadUserInfo: false,
    monitorSession: false,
  });
}

export function AuthProvider({ config, children }: { config: AppConfig; children: ReactNode }) {
  const manager = useMemo(() => makeManager(config), [config]);
  // The router's navigate changes with the location; the session must not restart with it.
  const navigate = useNavigate();
  const navigateRef = useRef(navigate);
  useEffect(() => {
    navigateRef.current = navigate;
  }, [navigate]);
  const [state, setState] = useState<AuthState>({ status: "loading" });

  const adopt = useCallback(
    (user: User | null, ended = false) => {
      if (user && !user.expired) {
        setState({ status: "signedIn", principal: principalFrom(user.profile, config.claims) });
      } else {
        setState({ status: "signedOut", ended });
      }
    },
    [config.claims],
  );

  useEffect(() => {
    let renewing: Promise<boolean> | null = null;
    // Seconds an access token lives, learned from each token response.
    let lifetime = Infinity;
    const learn = (u: User) => {
      if (u.expires_in !== undefined) lifetime = u.expires_in;
    };
    const renew = (): Promise<boolean> => {
      renewing ??= manager
        .signinSilent()
        .then((u) => {
          adopt(u);
          return u !== null;
        })
        .catch(async () => {
          await manager.removeUser();
          adopt(null, true);
          return false;
        })
        .finally(() => {
          renewing = null;
        });
      return renewing;
    };
    setSession({
      token: async () => {
        const user = await manager.getUser();
        if (!user) return null;
        const margin = Math.min(30, lifetime / 4);
        if ((user.expires_in ?? 0) <= margin && !(await renew())) return null;
        return (await manager.getUser())?.access_token ?? null;
      },
      renew,
    });
    const onLoaded = (u: User) => {
      learn(u);
      adopt(u);
    };
    const onRenewError = () => {
      void manager.removeUser().then(() => {
        adopt(null, true);
      });
    };
    manager.events.addUserLoaded(onLoaded);
    manager.events.addSilentRenewError(onRenewError);

    const start = async () => {
      const url = new URL(window.location.href);
      if (url.pathname === CALLBACK_PATH) {
        try {
          callback ??= manager.signinRedirectCallback();
          const user = await callback;
          learn(user);
          const returnTo = typeof user.state === "string" && user.state.startsWith("/") ? user.state : "/";
          adopt(user);
          void navigateRef.current(returnTo, { replace: true });
        } catch {
          void navigateRef.current("/", { replace: true });
          setState({ status: "signedOut", ended: false, error: "Sign-in did not complete. Please try again." });
        }
        return;
      }
      const user = await manager.getUser();
      if (user?.expired) {
        await renew();
        return;
      }
      adopt(user);
    };
    void start();
    return () => {
      manager.events.removeUserLoaded(onLoaded);
      manager.events.removeSilentRenewError(onRenewError);
    };
  }, [manager, adopt]);

  const api = useMemo<AuthApi>(
    () => ({
      state,
      signIn: (returnTo = window.location.pathname + window.location.search) =>
        manager.signinRedirect({ state: returnTo }),
      signOut: async () => {
        const user = await manager.getUser();
        await manager.removeUser();
        // RP-initiated logout ends the sign-in at the provider (its refresh tokens stop working).
        await manager.signoutRedirect({ id_token_hint: user?.id_token });
      },
    }),
    [manager, state],
  );

  return <AuthContext.Provider value={api}>{children}</AuthContext.Provider>;
}
