#!/usr/bin/env bash
# Property-based fuzzing of the HTTP contract: schemathesis against openapi.yml and a running
# authgate (fresh SQLite database, random port), positive and negative data, every check chosen in
# schemathesis.toml must pass (schema-valid input accepted wherever no hidden state decides, see
# there), and a stateful phase that chains sign-up, sign-in and the user through the OpenAPI
# links. Bounded: MAX_EXAMPLES test cases per operation and phase.
#
#   tests/schemathesis/run.sh [path/to/authgate]    (default: target/debug/authgate)
#
# Environment: MAX_EXAMPLES (default 40), SEED (default 1: the same cases every run; set another
# value, or "random", to explore), SCHEMATHESIS_REPORT_DIR (default: a temp dir, removed).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
bin=${1:-target/debug/authgate}
max_examples=${MAX_EXAMPLES:-40}
seed=${SEED:-1}

if [ ! -x "$bin" ]; then
  echo "no authgate binary at $bin (build it: cargo build --locked)" >&2
  exit 2
fi
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl; }
if [ "$(schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# Limits off or generous: the fuzzer sends thousands of requests from one IP and to few addresses.
# Any AUTHGATE_* variable already in the caller's environment passes through (clap reads only the
# ones it declares and ignores the rest), so a CI can raise limits this script does not name.
env \
  AUTHGATE_LISTEN="127.0.0.1:$port" \
  AUTHGATE_DATABASE_URL="sqlite://$work/authgate.db" \
  AUTHGATE_PUBLIC_URL="$base" \
  AUTHGATE_LOG_FORMAT=json \
  AUTHGATE_LOG=warn \
  AUTHGATE_BCRYPT_COST=4 \
  AUTHGATE_COOKIE_SECURE=false \
  AUTHGATE_MAIL_COOLDOWN=0s \
  AUTHGATE_MAIL_PER_IP_PER_HOUR=0 \
  AUTHGATE_RATE_LIMIT_AUTH=0 \
  AUTHGATE_RATE_LIMIT_REFRESH=0 \
  AUTHGATE_RATE_LIMIT_API=0 \
  AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES=0 \
  AUTHGATE_LOCKOUT_LADDER= \
  AUTHGATE_MESSAGES_PER_RECIPIENT_PER_HOUR=0 \
  "$bin" serve > "$work/authgate.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/authgate.log"; echo "authgate exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

# A user of our own, and its Bearer token for the operations that need one. The fuzzer cannot
# end this token's session (it never learns the refresh cookie or the session id, and
# revoke-others keeps the caller's), so the token stays good for its 15 minutes.
email="fuzz-$(date +%s)@example.com"
curl -fsS -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"name\":\"Fuzz\"}" \
  "$base/api/v1/auth/signup/"
token=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"grant_type\":\"password\",\"login\":\"$email\",\"password\":\"correct horse battery\"}" \
  "$base/api/v1/auth/token/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

report=${SCHEMATHESIS_REPORT_DIR:-$work/report}
status=0
repo=$(pwd)
# One schemathesis run: a Bearer credential, the report's subdirectory, then its own arguments.
# Run from the temp dir: schemathesis keeps a cache of past failures in ./.schemathesis. One
# worker: with two, Hypothesis's lambda-source cache (not thread-safe) raised a KeyError inside
# schemathesis's coverage phase ("Inconsistent results") once the admin paths were in the spec.
fuzz() {
  local bearer=$1 reports=$2
  shift 2
  (cd "$work" && schemathesis --config-file "$repo/tests/schemathesis/schemathesis.toml" run "$repo/openapi.yml" \
    --url "$base" \
    --header "Authorization: Bearer $bearer" \
    --mode all \
    --max-examples "$max_examples" \
    $( [ "$seed" = random ] || echo --seed "$seed" ) \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --continue-on-failure \
    --report junit --report-dir "$reports" \
    "$@")
}

fuzz "$token" "$report" --phases examples,coverage,fuzzing,stateful || status=$?

# The admin API's reads, with a read-only admin API key, so that real pages, accounts and audit
# events (not only 403s) meet the response schemas. Positive-data acceptance stays off for them
# (schemathesis.toml): a schema-valid id or cursor still names nothing.
admin_key=$(AUTHGATE_DATABASE_URL="sqlite://$work/authgate.db" AUTHGATE_LOG=error \
  "$bin" admin-keys create --scope read --name schemathesis 2>/dev/null)
fuzz "$admin_key" "$report/admin" --phases examples,coverage,fuzzing \
  --include-name-regex '^GET /api/v1/admin/' || status=$?

if [ "$status" -ne 0 ]; then
  echo "--- authgate log (last 50 lines)"
  tail -n 50 "$work/authgate.log"
fi
# An error the service logged is a finding even when the client saw no 5xx (a retried database
# error, say). actix-http logs the requests it could not parse (the fuzzer's control characters
# in header values) at ERROR: those are refused with 400 and are not ours.
errors=$(grep '"level":"ERROR"' "$work/authgate.log" | grep -v '"target":"actix_http::h1::dispatcher"' || true)
if [ -n "$errors" ]; then
  echo "authgate logged errors during the run:" >&2
  echo "$errors" | head -20 >&2
  status=1
fi
exit "$status"
