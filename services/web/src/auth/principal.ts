import type { ClaimSettings } from "../config";

export type Role = "admin" | "psychologist" | "client";

export interface Principal {
  /** Resource name: `clients/{id}`, `psychologists/{id}`, `staff/{id}`. */
  subject: string;
  role: Role | null;
  displayName: string;
}

const ROLES = new Set<string>(["admin", "psychologist", "client"]);

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let node: unknown = claims;
  for (const part of path.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** The person and role from ID token claims, read with the same settings as the services. */
export function principalFrom(claims: Record<string, unknown>, settings: ClaimSettings): Principal {
  const subject = claimAt(claims, settings.subject);
  const raw = claimAt(claims, settings.role);
  const names = Array.isArray(raw) ? raw : [raw];
  const roles = new Set(
    names
      .filter((n): n is string => typeof n === "string")
      .map((n) => settings.roleMap[n] ?? n)
      .filter((n) => ROLES.has(n)),
  );
  const name = claims.name;
  return {
    subject: typeof subject === "string" ? subject : "",
    // More than one PHS role is refused by the services too.
    role: roles.size === 1 ? ([...roles][0] as Role) : null,
    displayName: typeof name === "string" && name ? name : "you",
  };
}
