import { useMemo } from "react";
import { useMyClients } from "../api/psychologist";
import { useSessionTypes } from "../api/scheduling";

/** Display names of the psychologist's clients and the session types, by resource name. */
export function useNames(parent: string) {
  const clients = useMyClients(parent);
  const types = useSessionTypes();
  return useMemo(() => {
    const byClient = new Map((clients.data ?? []).map((c) => [c.name, c.displayName]));
    const byType = new Map((types.data ?? []).map((t) => [t.name, t.displayName]));
    return {
      // A request from someone not yet assigned (an intake) has no readable record yet.
      client: (name: string) => byClient.get(name) ?? "New client (intake request)",
      sessionType: (name: string) => byType.get(name) ?? name.replace("sessionTypes/", "Session "),
    };
  }, [clients.data, types.data]);
}

export type Names = ReturnType<typeof useNames>;
