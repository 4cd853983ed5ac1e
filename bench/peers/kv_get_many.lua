-- wrk script: GET /v1/secret/data/{name} on OpenBao's KV v2 mount, cycling over the names in the
-- file named by the first script argument (one a line). It mirrors bench/connections/get_many.lua,
-- which drives Keyhold in the same run, so both servers see the same client: the same header
-- (OpenBao accepts "Authorization: Bearer" as well as X-Vault-Token), the same per-thread offsets,
-- the same string work per request. The token is read from the file named by $BENCH_TOKEN_FILE so
-- that it never appears on wrk's command line.
local file = assert(io.open(assert(os.getenv("BENCH_TOKEN_FILE"), "BENCH_TOKEN_FILE is not set"), "r"))
local token = file:read("*l")
file:close()
wrk.headers["Authorization"] = "Bearer " .. token

local names = {}
local n = 0
local i = 0
local prefix = "/v1/secret/data/"

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 4999)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      names[n] = line
    end
  end
  if n == 0 then
    error("no names in " .. tostring(args[1]))
  end
  i = (offset or 0) % n
end

function request()
  i = i % n + 1
  return wrk.format("GET", prefix .. names[i])
end
