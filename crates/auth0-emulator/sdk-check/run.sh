#!/usr/bin/env bash
# Fidelity check with Auth0's official SDKs (auth0-python from PyPI, auth0 from npm), used
# unmodified against the emulator. Not part of CI (it installs packages); run it by hand after
# changing wire shapes. Needs python3 (venv) and node >= 20 with npm.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="${SDK_CHECK_DIR:-${TMPDIR:-/tmp}/auth0-emulator-sdk-check}"
mkdir -p "$work"

(cd "$root" && cargo build -q -p auth0-emulator --bin auth0-emulator)
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "auth0-python>=5"
[ -d "$work/node/node_modules/auth0" ] || (mkdir -p "$work/node" && cd "$work/node" && npm init -y >/dev/null && npm install -q "auth0@>=5")

pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT
# Starts a fresh emulator; sets pid and emulator (its base URL).
start() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  : >"$work/out"
  RUST_LOG=warn "$root/target/debug/auth0-emulator" --listen 127.0.0.1:0 --seed "$here/seed.json" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 50); do grep -q '^listening on ' "$work/out" && break; sleep 0.1; done
  emulator="$(sed -n 's/^listening on //p' "$work/out")"
}

start
EMULATOR="$emulator" "$work/venv/bin/python" "$here/check_python.py"
# A fresh emulator: the Python run rotated the seeded secret.
start
EMULATOR="$emulator" NODE_PATH="$work/node/node_modules" node "$here/check_node.js"
