// google.rpc.Status from the gateway, unpacked into what a form and a person need.
import { createRegistry, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  file_google_rpc_error_details,
  PreconditionFailureSchema,
} from "../gen/google/rpc/error_details_pb";
import { StatusSchema } from "../gen/google/rpc/status_pb";

const registry = createRegistry(file_google_rpc_error_details);

export interface FieldViolation {
  field: string;
  description: string;
}

/** ErrorInfo.reason, in plain words for the person using the app. */
const REASONS: Record<string, string> = {
  SLOT_UNAVAILABLE: "Someone else has just taken this time.",
  TOO_SHORT_NOTICE: "This time is too soon to request: your psychologist needs more notice.",
  BEYOND_BOOKING_HORIZON: "This time is too far ahead to request yet.",
  OUTSIDE_WORKING_HOURS: "Your psychologist does not work at this time.",
  SESSION_TYPE_NOT_SELF_BOOKABLE: "With a new psychologist you can only request an intake session first.",
  PSYCHOLOGIST_INACTIVE: "This psychologist is not taking bookings at the moment.",
  PSYCHOLOGIST_UNAVAILABLE: "This psychologist is not available.",
  INVALID_STATE_TRANSITION: "This appointment can no longer be changed this way.",
  SERIES_CONFLICTS: "Some dates clash with other sessions, so nothing was saved. The clashing dates are marked.",
  NOTHING_TO_RESCHEDULE: "This appointment can no longer be moved.",
  ETAG_MISMATCH: "This appointment was changed in the meantime. We reloaded it: please check and try again.",
  CONCURRENT_MODIFICATION: "This appointment was changed in the meantime. Please try again.",
  IDEMPOTENCY_KEY_REUSED: "This request was already sent with different details. Please start again.",
  NO_ACCESS: "Your account has no access to this practice's scheduling. Please contact the practice.",
  NOT_YOURSELF: "You can only see and book your own appointments.",
  CLIENT_ACTS_AS_CLIENT: "You can only change your own appointments.",
  ROLE_NOT_ALLOWED: "Your account may not do this.",
  NOT_YOUR_PSYCHOLOGIST: "You may not act on another psychologist's data.",
  RESOURCE_NOT_FOUND: "We could not find this. It may have been removed.",
  APPOINTMENT_NOT_STARTED: "This appointment has not started yet.",
  DATABASE_UNAVAILABLE: "The service is having trouble right now. Please try again in a minute.",
  AUDIT_UNAVAILABLE: "The service is having trouble right now. Please try again in a minute.",
  INVALID_ARGUMENT: "Some details need fixing.",
};

const BY_STATUS: Record<number, string> = {
  400: "Some details need fixing.",
  401: "Your sign-in has ended. Please sign in again.",
  403: "Your account may not do this.",
  404: "We could not find this. It may have been removed.",
  409: "This was changed by someone else in the meantime.",
  413: "That is too much to send at once.",
  429: "Too many requests. Please wait a moment and try again.",
  503: "The service is busy or restarting. Please try again in a minute.",
};

export class ApiError extends Error {
  readonly httpStatus: number;
  readonly reason: string;
  readonly metadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  /** The X-Request-ID of the action, for the practice's support. */
  readonly requestId: string;

  constructor(
    httpStatus: number,
    message: string,
    reason: string,
    requestId: string,
    metadata: Record<string, string> = {},
    fieldViolations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = "ApiError";
    this.httpStatus = httpStatus;
    this.reason = reason;
    this.requestId = requestId;
    this.metadata = metadata;
    this.fieldViolations = fieldViolations;
  }

  static network(requestId: string): ApiError {
    return new ApiError(0, "network error", "NETWORK", requestId);
  }

  /** What to tell the person. */
  get plain(): string {
    if (this.reason === "NETWORK") return "We could not reach the service. Check your connection and try again.";
    return REASONS[this.reason] ?? BY_STATUS[this.httpStatus] ?? "Something went wrong on our side. Please try again.";
  }

  /** Violations of one request field (proto path, e.g. "start_time"), or under it. */
  violationsOf(field: string): string[] {
    return this.fieldViolations
      .filter((v) => v.field === field || v.field.endsWith(`.${field}`))
      .map((v) => v.description);
  }

  /** Whether the same action may simply be sent again. */
  get retryable(): boolean {
    return this.httpStatus === 0 || this.httpStatus === 503 || this.httpStatus === 504 || this.httpStatus === 429;
  }
}

export async function parseErrorBody(res: Response, requestId: string): Promise<ApiError> {
  let body: JsonValue;
  try {
    body = (await res.json()) as JsonValue;
  } catch {
    return new ApiError(res.status, res.statusText, "", requestId);
  }
  try {
    const status = fromJson(StatusSchema, body, { registry, ignoreUnknownFields: true });
    let reason = "";
    let metadata: Record<string, string> = {};
    const violations: FieldViolation[] = [];
    for (const any of status.details) {
      const info = anyUnpack(any, ErrorInfoSchema);
      if (info) {
        reason = info.reason;
        metadata = info.metadata;
      }
      const bad = anyUnpack(any, BadRequestSchema);
      if (bad) violations.push(...bad.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
      const pre = anyUnpack(any, PreconditionFailureSchema);
      if (pre) violations.push(...pre.violations.map((v) => ({ field: v.subject, description: v.description })));
    }
    return new ApiError(res.status, status.message, reason, requestId, metadata, violations);
  } catch {
    return new ApiError(res.status, res.statusText, "", requestId);
  }
}
