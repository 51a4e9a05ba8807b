// Runtime settings from the server (phs_web's /config.json), so one build serves any
// practice's identity provider.
export interface ClaimSettings {
  /** Claim naming the person (`clients/{id}`, ...); dotted paths allowed. */
  subject: string;
  /** Claim holding the role (a string or a list); dotted paths allowed. */
  role: string;
  /** Provider role name -> PHS role (admin, psychologist, client). */
  roleMap: Record<string, string>;
}

export interface AppConfig {
  oidc: { authority: string; clientId: string; scope: string };
  claims: ClaimSettings;
}

interface RawConfig {
  oidc?: { authority?: string; clientId?: string; scope?: string };
  claims?: Partial<ClaimSettings>;
}

export async function loadConfig(): Promise<AppConfig> {
  const res = await fetch("/config.json", { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const raw = (await res.json()) as RawConfig;
  const { authority, clientId } = raw.oidc ?? {};
  if (!authority || !clientId) throw new Error("config.json lacks oidc.authority or oidc.clientId");
  return {
    oidc: { authority, clientId, scope: raw.oidc?.scope ?? "openid profile offline_access" },
    claims: { subject: "sub", role: "role", roleMap: {}, ...raw.claims },
  };
}
