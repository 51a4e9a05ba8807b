// Server streams through the gateway: the route comes from the method's google.api.http
// option (as for unary calls); the gateway sends each message as one line of JSON,
// flushed as it comes, read here with fetch and a ReadableStream.
import {
  create,
  fromJson,
  type DescMessage,
  type DescMethodServerStreaming,
  type JsonValue,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { currentSession, newAction, routeFor } from "./client";
import { ApiError, parseErrorBody } from "./errors";

export interface StreamOptions {
  /** Aborting it ends the stream (the server sees the caller go away). */
  signal?: AbortSignal;
}

/**
 * Opens a server stream and yields its messages as they arrive. Ends when the server
 * ends the stream; throws ApiError when it is refused (status JSON) or cut, and the
 * AbortError when `signal` aborts.
 */
export async function* stream<I extends DescMessage, O extends DescMessage>(
  method: DescMethodServerStreaming<I, O>,
  init: MessageInitShape<I>,
  opts: StreamOptions = {},
): AsyncGenerator<MessageShape<O>, void, undefined> {
  const action = newAction();
  const route = routeFor(method, create(method.input, init));
  if (route.body !== undefined && route.verb !== "GET") throw new Error(`${method.name}: streams here are GETs`);
  const url = route.path + (route.query.size ? `?${route.query.toString()}` : "");
  const session = currentSession();
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", "X-Request-ID": action.requestId };
    const token = await session.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(url, { method: route.verb, headers, signal: opts.signal, credentials: "omit", cache: "no-store" });
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
  if (!res.body) throw ApiError.network(action.requestId);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e instanceof DOMException && e.name === "AbortError") throw e;
        throw ApiError.network(action.requestId);
      }
      if (chunk.done) break;
      pending += chunk.value;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line !== "") yield await parseLine(method.output, line, action.requestId);
        newline = pending.indexOf("\n");
      }
    }
    const last = pending.trim();
    if (last !== "") yield await parseLine(method.output, last, action.requestId);
  } finally {
    // Leaving early (break, abort, an error) releases the connection.
    reader.cancel().catch(() => undefined);
  }
}

async function parseLine<O extends DescMessage>(schema: O, line: string, requestId: string): Promise<MessageShape<O>> {
  let json: JsonValue;
  try {
    json = JSON.parse(line) as JsonValue;
  } catch {
    throw ApiError.network(requestId);
  }
  // A stream that fails after it started may end with a google.rpc.Status line: an
  // error (the service was unavailable), not a message with unknown fields.
  if (typeof json === "object" && json !== null && !Array.isArray(json) && "code" in json && "message" in json) {
    throw await parseErrorBody(new Response(line, { status: 503 }), requestId);
  }
  return fromJson(schema, json, { ignoreUnknownFields: true });
}
