-- wrk script: every request carries the bearer token read from the file named by
-- $BENCH_TOKEN_FILE, so the token never appears on wrk's command line. The request itself is
-- wrk's default (the URL given), built once per thread.
local file = assert(io.open(assert(os.getenv("BENCH_TOKEN_FILE"), "BENCH_TOKEN_FILE is not set"), "r"))
local token = file:read("*l")
file:close()
wrk.headers["Authorization"] = "Bearer " .. token
