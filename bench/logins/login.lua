-- POST machine-identity logins, taking the bodies in LOGIN_BODIES (one JSON object per line) in turn.
local bodies = {}
for line in string.gmatch(os.getenv("LOGIN_BODIES") or "", "[^\n]+") do
  bodies[#bodies + 1] = line
end
local next_body = 0

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[next_body])
end
