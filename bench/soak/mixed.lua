-- wrk script of the soak: a mixed workload, chosen per request.
--
--   90% reads  : 45% GET one connection (random id), 15% a page of connections (limit 50, random
--                page), 25% GET one rotation (random id), 5% a page of rotations (limit 50)
--    8% writes :  4% POST a connection (unique name per run, thread and counter; the server checks
--                the credentials with the Auth0 emulator), 4% PATCH a connection's description
--    2% rotate : POST .../{rotationId}/rotate-secrets, round-robin over this thread's share of the
--                rotations, so one rotation is asked again only after all its siblings were
--
-- Each thread owns a disjoint share of the PATCH targets and of the rotations (index modulo the
-- thread count), so two requests never race on the same row: a PATCH without If-Match that races
-- another answers 409, and so does rotate-secrets while that rotation is queued or running.
--
-- Every request carries `x-request-id: <kind>-<thread>-<n>`; the server echoes it, which is how
-- response() learns the kind of the request it answers (wrk does not tell). Statuses are counted
-- per kind; any status other than the kind's documented success is an error. done() prints
-- `KIND <kind> <status> <count>` and `WRKERR <kind> <count>` lines, and the same to $SOAK_OUT.
--
-- Inputs (files, so no secret or token is ever on a command line): $SOAK_TOKEN_FILE (bearer token
-- of a project member), $SOAK_DATA (directory: project, conn_ids, patch_ids, rot_ids, conn_cursors,
-- rot_cursors, create_credentials.json), $SOAK_TAG (a lowercase word distinguishing this wrk run's
-- new names), $SOAK_THREADS (wrk -t).

local KINDS = {
  -- name, per-mille weight, method, expected status
  { "getconn", 450, "GET", 200 },
  { "listconn", 150, "GET", 200 },
  { "getrot", 250, "GET", 200 },
  { "listrot", 50, "GET", 200 },
  { "create", 40, "POST", 201 },
  { "patch", 40, "PATCH", 200 },
  { "rotate", 20, "POST", 200 },
}
-- $SOAK_MIX (optional, for diagnostics): seven per-mille weights in the order above, e.g.
-- "450,150,250,50,40,40,20" (the default); they must add up to 1000.
do
  local mix = os.getenv("SOAK_MIX")
  if mix and #mix > 0 then
    local i, sum = 0, 0
    for w in mix:gmatch("[^,]+") do
      i = i + 1
      KINDS[i][2] = assert(tonumber(w), "SOAK_MIX: not a number: " .. w)
      sum = sum + KINDS[i][2]
    end
    assert(i == #KINDS and sum == 1000, "SOAK_MIX needs " .. #KINDS .. " weights adding up to 1000")
  end
end

local function env(name)
  local value = os.getenv(name)
  assert(value, name .. " is not set")
  return value
end

local function read_lines(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

local function read_all(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

-- ---------------------------------------------------------------- main state (setup/done)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- ---------------------------------------------------------------- per-thread state
local data, tag, nthreads
local project, conn_ids, rot_ids, conn_cursors, rot_cursors
local my_patch, my_rot = {}, {}
local patch_i, rot_i, created, seq = 0, 0, 0, 0
local creds
local hdr_get, hdr_json
counts = {} -- "kind status" -> n, read by done() through thread:get

function init(args)
  data = env("SOAK_DATA")
  tag = env("SOAK_TAG")
  nthreads = tonumber(env("SOAK_THREADS"))
  assert(tid and tid >= 1 and tid <= nthreads, "thread id out of range")
  math.randomseed(os.time() * 1000 + tid * 7919)

  local token = read_lines(env("SOAK_TOKEN_FILE"))[1]
  project = read_lines(data .. "/project")[1]
  conn_ids = read_lines(data .. "/conn_ids")
  rot_ids = read_lines(data .. "/rot_ids")
  conn_cursors = read_lines(data .. "/conn_cursors")
  rot_cursors = read_lines(data .. "/rot_cursors")
  -- The credentials object of a create, JSON text (holds the Auth0 client secret).
  creds = read_all(data .. "/create_credentials.json"):gsub("%s+$", "")

  -- This thread's shares: every nthreads-th element, starting at tid.
  local patch_ids = read_lines(data .. "/patch_ids")
  for i = tid, #patch_ids, nthreads do my_patch[#my_patch + 1] = patch_ids[i] end
  for i = tid, #rot_ids, nthreads do my_rot[#my_rot + 1] = rot_ids[i] end
  assert(#conn_ids > 0 and #rot_ids > 0 and #my_patch > 0 and #my_rot > 0, "empty inputs")
  -- Start the round-robins at a random place, so a second run does not begin where the warm-up did.
  patch_i = math.random(#my_patch) - 1
  rot_i = math.random(#my_rot) - 1

  local auth = "Bearer " .. token
  hdr_get = { ["Authorization"] = auth }
  hdr_json = { ["Authorization"] = auth, ["Content-Type"] = "application/json" }
end

local function pick_kind()
  local r = math.random(1000)
  for _, k in ipairs(KINDS) do
    r = r - k[2]
    if r <= 0 then return k[1] end
  end
  return "getconn"
end

local function with_id(headers, kind)
  seq = seq + 1
  headers["x-request-id"] = kind .. "-" .. tid .. "-" .. seq
  return headers
end

local function page_query(cursors)
  -- Page 1 (no cursor) as often as any other page.
  local i = math.random(#cursors + 1)
  if i > #cursors then return "" end
  return "&cursor=" .. cursors[i]
end

function request()
  local kind = pick_kind()
  if kind == "getconn" then
    return wrk.format("GET", "/api/v1/app-connections/auth0/" .. conn_ids[math.random(#conn_ids)],
      with_id(hdr_get, kind))
  elseif kind == "listconn" then
    return wrk.format("GET", "/api/v1/app-connections/auth0?projectId=" .. project .. "&limit=50"
      .. page_query(conn_cursors), with_id(hdr_get, kind))
  elseif kind == "getrot" then
    return wrk.format("GET", "/api/v2/secret-rotations/auth0-client-secret/" .. rot_ids[math.random(#rot_ids)],
      with_id(hdr_get, kind))
  elseif kind == "listrot" then
    return wrk.format("GET", "/api/v2/secret-rotations/auth0-client-secret?projectId=" .. project
      .. "&limit=50" .. page_query(rot_cursors), with_id(hdr_get, kind))
  elseif kind == "create" then
    created = created + 1
    local body = '{"name":"soak-' .. tag .. '-t' .. tid .. '-' .. created
      .. '","description":"created by the soak","method":"client-credentials","projectId":"'
      .. project .. '","credentials":' .. creds .. '}'
    return wrk.format("POST", "/api/v1/app-connections/auth0", with_id(hdr_json, kind), body)
  elseif kind == "patch" then
    patch_i = patch_i % #my_patch + 1
    local body = '{"description":"soak ' .. tag .. ' t' .. tid .. ' n' .. seq .. '"}'
    return wrk.format("PATCH", "/api/v1/app-connections/auth0/" .. my_patch[patch_i],
      with_id(hdr_json, kind), body)
  else -- rotate
    rot_i = rot_i % #my_rot + 1
    return wrk.format("POST", "/api/v2/secret-rotations/auth0-client-secret/" .. my_rot[rot_i]
      .. "/rotate-secrets", with_id(hdr_get, kind))
  end
end

function response(status, headers, body)
  local rid = headers["x-request-id"] or headers["X-Request-Id"] or ""
  local kind = rid:match("^(%a+)-") or "unknown"
  local key = kind .. " " .. status
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for key, n in pairs(c or {}) do total[key] = (total[key] or 0) + n end
  end
  local keys = {}
  for key in pairs(total) do keys[#keys + 1] = key end
  table.sort(keys)
  local lines = {}
  for _, key in ipairs(keys) do lines[#lines + 1] = "KIND " .. key .. " " .. total[key] end
  local e = summary.errors
  lines[#lines + 1] = "WRKERR connect " .. e.connect
  lines[#lines + 1] = "WRKERR read " .. e.read
  lines[#lines + 1] = "WRKERR write " .. e.write
  lines[#lines + 1] = "WRKERR timeout " .. e.timeout
  lines[#lines + 1] = "WRKERR status " .. e.status
  lines[#lines + 1] = "TOTAL requests " .. summary.requests .. " duration_us " .. summary.duration
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    lines[#lines + 1] = "LATENCY p" .. p .. " " .. latency:percentile(p)
  end
  lines[#lines + 1] = "LATENCY max " .. latency.max
  lines[#lines + 1] = "LATENCY mean " .. latency.mean
  local text = table.concat(lines, "\n") .. "\n"
  io.write(text)
  local out = os.getenv("SOAK_OUT")
  if out then
    local f = assert(io.open(out, "w"))
    f:write(text)
    f:close()
  end
end
