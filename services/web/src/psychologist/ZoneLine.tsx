import { viewerZone, zoneName, zonesDiffer } from "../ui/time";

/** Workspace times are in the psychologist's zone; say so, and say when the browser's differs. */
export function ZoneLine({ zone }: { zone: string }) {
  return (
    <p className="zone-line">
      Times are in your working time zone, <strong>{zoneName(zone)}</strong>.
      {zonesDiffer(zone) ? (
        <>
          {" "}
          This device is set to <strong>{zoneName(viewerZone)}</strong>.
        </>
      ) : null}
    </p>
  );
}
