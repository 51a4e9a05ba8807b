// One generic client for every RPC: the route and body come from the method's
// google.api.http option, the codec from protobuf-es. No URL is written per call.
import {
  create,
  fromJson,
  getOption,
  toJson,
  type DescField,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type JsonValue,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { http } from "../gen/google/api/annotations_pb";
import { ApiError, parseErrorBody } from "./errors";

/** One user action: its ids survive a retry of that same action. */
export interface Action {
  requestId: string;
  idempotencyKey: string;
}

export function newAction(): Action {
  return { requestId: crypto.randomUUID(), idempotencyKey: crypto.randomUUID() };
}

export interface Session {
  /** The current access token, renewed when needed; null when signed out. */
  token(): Promise<string | null>;
  /** Called on a 401: renew the sign-in; true when a retry may succeed. */
  renew(): Promise<boolean>;
}

let session: Session = { token: () => Promise.resolve(null), renew: () => Promise.resolve(false) };

export function setSession(s: Session): void {
  session = s;
}

/** The session calls and streams take their token from. */
export function currentSession(): Session {
  return session;
}

type Json = Record<string, JsonValue>;

export interface Route {
  verb: string;
  path: string;
  body: JsonValue | undefined;
  query: URLSearchParams;
}

/** The JSON names along a proto field path such as `psychologist.name`. */
function jsonNames(desc: DescMessage, protoPath: string): string[] {
  const names: string[] = [];
  let msg: DescMessage | undefined = desc;
  for (const part of protoPath.split(".")) {
    if (!msg) throw new Error(`route field ${protoPath} is not a message path`);
    const field: DescField | undefined = msg.fields.find((f) => f.name === part);
    if (!field) throw new Error(`route field ${protoPath} not in ${desc.typeName}`);
    names.push(field.jsonName);
    msg = field.fieldKind === "message" ? field.message : undefined;
  }
  return names;
}

/** Removes and returns the value at a JSON path of the request. */
function take(json: Json, names: string[]): JsonValue | undefined {
  let node: Json = json;
  for (const n of names.slice(0, -1)) {
    const next = node[n];
    if (typeof next !== "object" || next === null || Array.isArray(next)) return undefined;
    node = next;
  }
  const last = names[names.length - 1] ?? "";
  const value = node[last];
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the path variable leaves the body
  delete node[last];
  return value;
}

function flatten(prefix: string, value: JsonValue, out: URLSearchParams): void {
  if (value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) flatten(prefix, v, out);
  } else if (typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v, out);
  } else {
    out.append(prefix, String(value));
  }
}

export function routeFor<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O> | DescMethodServerStreaming<I, O>,
  request: MessageShape<I>,
): Route {
  const rule = getOption(method, http);
  const { case: verb, value: template } = rule.pattern;
  if (verb === undefined || verb === "custom" || typeof template !== "string") {
    throw new Error(`${method.name} has no REST route`);
  }
  const json = toJson(method.input, request) as Json;
  // The idempotency key travels in its header, kept across retries of one action.
  delete json.requestId;
  const path = template.replace(/\{([^}=]+)(?:=[^}]*)?\}/g, (_, field: string) => {
    const value = take(json, jsonNames(method.input, field));
    if (typeof value !== "string" || value === "") throw new Error(`${method.name}: ${field} is required`);
    return value.split("/").map(encodeURIComponent).join("/");
  });
  let body: JsonValue | undefined;
  const query = new URLSearchParams();
  if (rule.body === "*") {
    body = json;
  } else {
    if (rule.body !== "") body = take(json, jsonNames(method.input, rule.body)) ?? {};
    flatten("", json, query);
  }
  return { verb: verb.toUpperCase(), path, body, query };
}

export interface CallOptions {
  action?: Action;
  signal?: AbortSignal;
}

export async function call<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  init: MessageInitShape<I>,
  opts: CallOptions = {},
): Promise<MessageShape<O>> {
  const action = opts.action ?? newAction();
  const route = routeFor(method, create(method.input, init));
  const url = route.path + (route.query.size ? `?${route.query.toString()}` : "");
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", "X-Request-ID": action.requestId };
    const token = await session.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    // Creates and custom methods (every POST here) are made safe to retry (AIP-155).
    if (route.verb === "POST") headers["Idempotency-Key"] = action.idempotencyKey;
    if (route.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: route.verb,
      headers,
      body: route.body === undefined ? undefined : JSON.stringify(route.body),
      signal: opts.signal,
      credentials: "omit",
    });
  };
  let res: Response;
  try {
    res = await send();
    if (res.status === 401 && (await session.renew())) res = await send();
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw ApiError.network(action.requestId);
  }
  if (!res.ok) throw await parseErrorBody(res, action.requestId);
  const body = (await res.json()) as JsonValue;
  return fromJson(method.output, body, { ignoreUnknownFields: true });
}
