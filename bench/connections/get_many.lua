-- wrk script: GET /api/v1/app-connections/auth0/{id}, cycling over the ids in the file named by
-- the first script argument (one a line), each thread starting at a different offset so the two
-- threads do not ask for the same rows in lockstep. Authenticates like auth.lua. A second argument
-- replaces the path prefix: bench/peers reads OpenBao's KV v2 (`/v1/secret/data/`) with this same
-- script, so both servers see the same client (OpenBao accepts "Authorization: Bearer" too).
local file = assert(io.open(assert(os.getenv("BENCH_TOKEN_FILE"), "BENCH_TOKEN_FILE is not set"), "r"))
local token = file:read("*l")
file:close()
wrk.headers["Authorization"] = "Bearer " .. token

local ids = {}
local n = 0
local i = 0
local prefix = "/api/v1/app-connections/auth0/"

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 4999)
end

function init(args)
  if args[2] then
    prefix = args[2]
  end
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      ids[n] = line
    end
  end
  if n == 0 then
    error("no ids in " .. tostring(args[1]))
  end
  i = (offset or 0) % n
end

function request()
  i = i % n + 1
  return wrk.format("GET", prefix .. ids[i])
end
