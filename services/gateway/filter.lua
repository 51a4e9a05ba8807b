-- The gateway's request checks, run before the gRPC-JSON transcoder (see
-- tools/gen_gateway.py, which prepends ROUTES and MESSAGES generated from the protos).
--
-- 1. A bearer token in the query string is refused: URLs end up in logs and history.
-- 2. A gRPC request is refused (UNIMPLEMENTED): this port is for REST with JSON bodies.
-- 3. A known path with a method it does not have is 405 with `Allow` (the transcoder
--    would say 404, as for a path that does not exist).
-- 4. A JSON body field the request message does not have is 400 with a field
--    violation (the transcoder drops unknown fields silently: a typo must not pass).
-- 5. A calendar feed's path (its secret) is marked for the redacting access log, and
--    a service's "not modified" answer becomes 304.
-- A caller's X-Request-ID is kept only when short and safe.
-- Malformed JSON is left to the transcoder, which refuses it; its local reply becomes
-- a google.rpc.Status by the connection manager's local_reply_config.

local MAX_QUOTE = 40
local MAX_DEPTH = 32
local MAX_VIOLATIONS = 10

local function json_string(text)
  return '"' .. text:gsub('[%c"\\\127-\255]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- At most a short prefix of caller input, with anything unprintable replaced.
local function quote(text)
  local short = text:sub(1, MAX_QUOTE):gsub("[%c\127-\255]", "?")
  if #text > MAX_QUOTE then short = short .. "..." end
  return short
end

local function reply(handle, status, code, reason, message, violations, extra_headers)
  local details = {
    '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":' .. json_string(reason)
      .. ',"domain":"phs.health","metadata":{}}',
  }
  if violations and #violations > 0 then
    local items = {}
    for _, v in ipairs(violations) do
      items[#items + 1] = '{"field":' .. json_string(v[1]) .. ',"description":' .. json_string(v[2]) .. "}"
    end
    details[#details + 1] = '{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":['
      .. table.concat(items, ",") .. "]}"
  end
  local body = '{"code":' .. code .. ',"message":' .. json_string(message)
    .. ',"details":[' .. table.concat(details, ",") .. "]}"
  local headers = {[":status"] = tostring(status), ["content-type"] = "application/json"}
  for k, v in pairs(extra_headers or {}) do headers[k] = v end
  -- Marks the reply as already a google.rpc.Status, so local_reply_config leaves it be.
  handle:streamInfo():dynamicMetadata():set("phs.gateway", "status_json", true)
  handle:respond(headers, body)
end

local function url_decode(text)
  return (text:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function has_token_param(query)
  for pair in query:gmatch("[^&]+") do
    local key = url_decode(pair:match("^[^=]*")):lower()
    if key == "access_token" then return true end
  end
  return false
end

-- JSON scanning: just enough to find each object's keys. Returns the index after the
-- value, or nil when the text is not JSON this scanner follows (the transcoder decides).
local scan_value

local function scan_string(s, i)
  -- s:sub(i, i) == '"'; returns (raw contents, index after the closing quote)
  local j = i + 1
  local escaped = false
  while true do
    local k = s:find('["\\]', j)
    if not k then return nil end
    if s:sub(k, k) == '"' then return s:sub(i + 1, k - 1), k + 1, escaped end
    escaped = true
    j = k + 2
  end
end

local function decode_key(raw)
  -- Field names are ASCII: \uXXXX below 128 and the one-letter escapes are enough.
  local ok = true
  local out = raw:gsub("\\(u?)(%x?%x?%x?%x?)", function(u, hex)
    if u == "u" then
      local n = tonumber(hex, 16)
      if n and #hex == 4 and n < 128 then return string.char(n) end
      ok = false
      return "?"
    end
    return hex
  end)
  return ok and out or nil
end

local function skip_ws(s, i)
  return s:find("[^ \t\r\n]", i) or (#s + 1)
end

local function scan_object(s, i, schema, path, depth, violations)
  local fields = schema ~= nil and MESSAGES[schema] or nil
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "}" then return i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then return nil end
    local raw, after, escaped = scan_string(s, i)
    if not raw then return nil end
    local key = escaped and decode_key(raw) or raw
    i = skip_ws(s, after)
    if s:sub(i, i) ~= ":" then return nil end
    local nested = nil
    if fields ~= nil then
      local kind = key and fields[key]
      if kind == nil then
        if #violations < MAX_VIOLATIONS then
          violations[#violations + 1] = {path .. quote(key or raw), "is not a field of this request"}
        end
      elseif kind:sub(1, 4) == "map:" then
        nested = {map = kind:sub(5)}
      elseif kind ~= "" and kind ~= "map" then
        nested = kind
      end
    end
    local child_path = path .. (key and quote(key) or "?") .. "."
    i = scan_value(s, skip_ws(s, i + 1), nested, child_path, depth + 1, violations)
    if not i then return nil end
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "}" then return i + 1 end
    if c ~= "," then return nil end
    i = skip_ws(s, i + 1)
  end
end

local function scan_map(s, i, value_schema, path, depth, violations)
  -- A JSON object whose keys are data and whose values are `value_schema` messages.
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "}" then return i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then return nil end
    local _, after = scan_string(s, i)
    if not after then return nil end
    i = skip_ws(s, after)
    if s:sub(i, i) ~= ":" then return nil end
    i = scan_value(s, skip_ws(s, i + 1), value_schema, path .. "*.", depth + 1, violations)
    if not i then return nil end
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "}" then return i + 1 end
    if c ~= "," then return nil end
    i = skip_ws(s, i + 1)
  end
end

scan_value = function(s, i, schema, path, depth, violations)
  if depth > MAX_DEPTH then return nil end
  local c = s:sub(i, i)
  if c == "{" then
    if type(schema) == "table" then return scan_map(s, i, schema.map, path, depth, violations) end
    return scan_object(s, i, schema, path, depth, violations)
  elseif c == "[" then
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "]" then return i + 1 end
    while true do
      i = scan_value(s, i, schema, path, depth + 1, violations)
      if not i then return nil end
      i = skip_ws(s, i)
      local d = s:sub(i, i)
      if d == "]" then return i + 1 end
      if d ~= "," then return nil end
      i = skip_ws(s, i + 1)
    end
  elseif c == '"' then
    local _, after = scan_string(s, i)
    return after
  else
    local _, e = s:find("^[%w%.%+%-]+", i)
    if not e then return nil end
    return e + 1
  end
end

local function body_violations(text, schema, prefix)
  local violations = {}
  local i = skip_ws(text, 1)
  if text:sub(i, i) ~= "{" then return violations end
  local after = scan_object(text, i, schema, prefix, 0, violations)
  -- Not JSON as far as we follow it (a trailing comma, say): refused here, since the
  -- transcoder's parser lets some of it through with the path's fields alone.
  if not after then return nil end
  return violations
end

local function find_route(method, path)
  local allowed, seen = {}, {}
  -- As the transcoder reads a path: a last segment ending in a verb some method has
  -- (reports/R:cancel) names that verb; any other ':' is part of the segment.
  local verb = path:match(":([^/:]*)$")
  if verb == nil or not VERBS[verb] then verb = "" end
  for _, r in ipairs(ROUTES) do
    if r.verb == verb and path:find(r.pattern) then
      if r.method == method then return r, nil end
      if not seen[r.method] then
        seen[r.method] = true
        allowed[#allowed + 1] = r.method
      end
    end
  end
  return nil, allowed
end

-- A caller's X-Request-ID is kept only when it is a short, safe token (the services
-- apply the same rule): it is echoed in the response, logged and passed on to Kafka.
local MAX_REQUEST_ID = 128
-- Each worker thread has its own Lua state: seed each apart (time and a table's address).
math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003))

local function new_request_id()
  local function hex(n)
    local out = {}
    for i = 1, n do out[i] = string.format("%x", math.random(0, 15)) end
    return table.concat(out)
  end
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11))
    .. hex(3) .. "-" .. hex(12)
end

local function check_request_id(headers)
  local rid = headers:get("x-request-id")
  if rid == nil or #rid == 0 or #rid > MAX_REQUEST_ID or rid:find("[^%w%._:%-]") then
    headers:replace("x-request-id", new_request_id())
  end
end

-- A calendar feed's address holds its secret (the credential): the access log shows
-- such a path redacted (envoy.yaml.tmpl logs requests marked so with another format).
-- Any path naming feeds/ however spelled (case, escapes) is marked, so a mistyped
-- address is not logged either.
local function mark_secret_path(handle, path)
  if url_decode(path):lower():find("feeds/", 1, true) then
    handle:streamInfo():dynamicMetadata():set("phs.gateway", "redact_path", true)
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  check_request_id(headers)
  local full = headers:get(":path") or ""
  local path, query = full:match("^([^?]*)%??(.*)$")
  mark_secret_path(handle, path)
  if query ~= "" and has_token_param(query) then
    reply(handle, 400, 3, "TOKEN_IN_URL",
      "access tokens go in the Authorization header, never in the URL", {{"access_token", "is not accepted in the query string"}})
    return
  end
  -- This port speaks REST/JSON; gRPC clients connect to the services themselves (the
  -- transcoder would pass a gRPC request through to whatever route its path names).
  -- Envoy answers a gRPC request in gRPC (HTTP 200, the status in grpc-status): 404
  -- becomes UNIMPLEMENTED, what a gRPC server says of a method it does not have.
  local content_type = (headers:get("content-type") or ""):lower()
  if content_type:find("^application/grpc") then
    handle:streamInfo():dynamicMetadata():set("phs.gateway", "status_json", true)
    handle:respond({[":status"] = "404"},
      "gRPC is not served on the REST port: connect to the services directly")
    return
  end
  if path:sub(1, 4) ~= "/v1/" then return end
  local method = headers:get(":method")
  local route, allowed = find_route(method, path)
  if route == nil then
    if #allowed > 0 then
      table.sort(allowed)
      local list = table.concat(allowed, ", ")
      reply(handle, 405, 12, "METHOD_NOT_ALLOWED",
        "this path does not accept " .. quote(method or "") .. "; it accepts " .. list, nil, {allow = list})
    end
    return -- unknown paths: the transcoder answers 404
  end
  if route.body == "" then return end
  local length = tonumber(headers:get("content-length") or "")
  if length == 0 then return end
  local body = handle:body()
  if body == nil or body:length() == 0 then return end
  local violations = body_violations(body:getBytes(0, body:length()), route.body, route.prefix or "")
  if violations == nil then
    reply(handle, 400, 3, "MALFORMED_JSON", "invalid request: the body is not valid JSON")
  elseif #violations > 0 then
    reply(handle, 400, 3, "UNKNOWN_FIELD",
      "invalid request: the body has fields this request does not have", violations)
  end
end

-- Envoy's local replies (formatted by local_reply_config, which marks them with a
-- header) quote parts of the request: an unknown query parameter's name, a value that
-- did not parse. Each quoted part is cut to a short prefix, and the whole message too,
-- so no reply echoes unbounded input.
local MAX_MESSAGE = 240
local LOCAL_REPLY_HEADER = "x-phs-local-reply"

local function cut_escaped(text, limit)
  if #text <= limit then return text end
  -- Never end inside an escape sequence or a multi-byte character.
  local cut = text:sub(1, limit):gsub("\\u%x?%x?%x?$", ""):gsub("\\$", ""):gsub("[\128-\255]+$", "")
  return cut .. "..."
end

local function shorten_message(text)
  local head, message = text:match('^(.*"message":")(.*)"}%s*$')
  if head == nil then return nil end
  -- Inside the JSON string a quote is \" : shorten what each pair of them encloses.
  local shorter = message:gsub('\\"(.-)\\"', function(quoted)
    return '\\"' .. cut_escaped(quoted, MAX_QUOTE) .. '\\"'
  end)
  shorter = cut_escaped(shorter, MAX_MESSAGE)
  if shorter == message then return nil end
  return head .. shorter .. '"}\n'
end

-- A service marks an answer whose content the caller already has (its If-None-Match
-- named the current ETag; the transcoder can only answer 200): it becomes 304.
local NOT_MODIFIED_HEADER = "x-phs-not-modified"

function envoy_on_response(handle)
  local headers = handle:headers()
  if headers:get(NOT_MODIFIED_HEADER) ~= nil then
    headers:remove(NOT_MODIFIED_HEADER)
    headers:replace(":status", "304")
    headers:remove("content-length")
    headers:remove("content-type")
    return
  end
  if headers:get(LOCAL_REPLY_HEADER) == nil then return end
  headers:remove(LOCAL_REPLY_HEADER)
  local body = handle:body()
  if body == nil then return end
  local shorter = shorten_message(body:getBytes(0, body:length()))
  if shorter ~= nil then
    -- body() waited for the whole body: the headers object from before is out of scope.
    handle:headers():replace("content-length", tostring(body:setBytes(shorter)))
  end
end
