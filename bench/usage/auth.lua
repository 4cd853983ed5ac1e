-- wrk script: every request carries `Authorization: Bearer <token>` read from the file named by
-- $BENCH_TOKEN_FILE (so no token is on wrk's command line), and `Host: $BENCH_HOST` when set (the
-- emulator picks the Auth0 tenant by Host). The request is wrk's default GET of the given URL.
local file = assert(io.open(assert(os.getenv("BENCH_TOKEN_FILE"), "BENCH_TOKEN_FILE is not set"), "r"))
local token = file:read("*l")
file:close()
wrk.headers["Authorization"] = "Bearer " .. token
local host = os.getenv("BENCH_HOST")
if host and host ~= "" then
  wrk.headers["Host"] = host
end
