// Typed wrappers for the practice staff's console: the same generic client, the services'
// own method descriptors, no URL written per call.
import { create, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import { ReportService } from "../gen/phs/reports/v1/reports_service_pb";
import { Report_State, type Report } from "../gen/phs/reports/v1/resources_pb";
import { SchedulingService } from "../gen/phs/scheduling/v1/scheduling_service_pb";
import { currentSession, newAction, routeFor } from "./client";
import { parseErrorBody, ApiError } from "./errors";

export const S = SchedulingService.method;
export const R = ReportService.method;

export type AuditLog = "scheduling" | "reports";

/** ListAuditEvents of one service's log (both have the same request and answer). */
export function auditMethod(log: AuditLog) {
  return log === "scheduling" ? S.listAuditEvents : R.listAuditEvents;
}

export function isFinal(r: Report): boolean {
  return r.state !== Report_State.QUEUED && r.state !== Report_State.RUNNING;
}

export interface Download {
  blob: Blob;
  filename: string;
}

function filenameOf(disposition: string | null, fallback: string): string {
  const m = disposition ? /filename="?([^";]+)"?/i.exec(disposition) : null;
  return m?.[1] ?? fallback;
}

/** An RPC answering google.api.HttpBody (a file): its route comes from the method's
 *  google.api.http option like every other call; the body is kept as bytes. */
export async function download<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  init: MessageInitShape<I>,
  fallbackName: string,
): Promise<Download> {
  const action = newAction();
  const route = routeFor(method, create(method.input, init));
  const url = route.path + (route.query.size ? `?${route.query.toString()}` : "");
  const headers: Record<string, string> = { "X-Request-ID": action.requestId };
  const token = await currentSession().token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { method: route.verb, headers, credentials: "omit" });
  } catch {
    throw ApiError.network(action.requestId);
  }
  if (!res.ok) throw await parseErrorBody(res, action.requestId);
  return { blob: await res.blob(), filename: filenameOf(res.headers.get("Content-Disposition"), fallbackName) };
}
