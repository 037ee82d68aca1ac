#!/usr/bin/env bash
# Proxied vs direct: the same wrk run against the upstream app directly and through authgate in
# proxy mode (a signed-in Bearer request, so every proxied request verifies a token), same
# machine, same run. Reports requests/s and p50/p99 latency, and the proxy's share and added p50.
#
# Needs: wrk (Debian package `wrk`), curl, a release build (`cargo build --release --bin authgate
# --example bench_upstream`, done here). Tunables: DURATION (10s), CONNECTIONS (16), THREADS (1),
# WORKERS (1, for both authgate and the upstream).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
UP_PORT=${UP_PORT:-38080}
AG_PORT=${AG_PORT:-38081}

cargo build --release --quiet --bin authgate --example bench_upstream
TARGET=${CARGO_TARGET_DIR:-target}/release

WORK=$(mktemp -d)
cleanup() {
  [[ -n "${UP_PID:-}" ]] && kill "$UP_PID" 2>/dev/null || true
  [[ -n "${AG_PID:-}" ]] && kill "$AG_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/examples/bench_upstream" "$UP_PORT" "$WORKERS" &
UP_PID=$!
AUTHGATE_LISTEN=127.0.0.1:$AG_PORT \
AUTHGATE_DATABASE_URL="sqlite://$WORK/authgate.db" \
AUTHGATE_UPSTREAM=http://127.0.0.1:$UP_PORT \
AUTHGATE_WORKERS=$WORKERS \
AUTHGATE_BCRYPT_COST=4 \
AUTHGATE_LOG=warn \
  "$TARGET/authgate" serve >"$WORK/authgate.log" 2>&1 &
AG_PID=$!

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$AG_PORT/readyz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$UP_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done

TOKEN=$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"bench-$$@example.com\",\"password\":\"correct horse battery\",\"name\":\"Bench\"}" \
  "http://127.0.0.1:$AG_PORT/api/v1/auth/signup/" |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: access_token=\([^;]*\).*/\1/p')
[[ -n "$TOKEN" ]] || { echo "could not sign up" >&2; exit 1; }
# Control: the proxied path really is checked.
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/page") == 401 ]]
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$AG_PORT/page") == 200 ]]

run() { # url -> "rps p50_ms p99_ms"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "authorization: Bearer $TOKEN" "$1" |
    awk '
      function ms(v) { if (v ~ /us$/) return substr(v,1,length(v)-2)/1000; if (v ~ /ms$/) return substr(v,1,length(v)-2)+0; if (v ~ /s$/) return substr(v,1,length(v)-1)*1000; return v }
      /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
      END { printf "%s %.3f %.3f\n", rps, p50, p99 }'
}

# Warm both paths, then measure.
wrk -t1 -c4 -d2s "http://127.0.0.1:$UP_PORT/page" >/dev/null
wrk -t1 -c4 -d2s -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$AG_PORT/page" >/dev/null
read -r D_RPS D_P50 D_P99 < <(run "http://127.0.0.1:$UP_PORT/page")
read -r P_RPS P_P50 P_P99 < <(run "http://127.0.0.1:$AG_PORT/page")

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $WORKERS worker(s) each, $(nproc) cores"
printf '%-9s %12s %9s %9s\n' path 'requests/s' 'p50 ms' 'p99 ms'
printf '%-9s %12s %9s %9s\n' direct "$D_RPS" "$D_P50" "$D_P99"
printf '%-9s %12s %9s %9s\n' proxied "$P_RPS" "$P_P50" "$P_P99"
awk -v d="$D_RPS" -v p="$P_RPS" -v d50="$D_P50" -v p50="$P_P50" -v d99="$D_P99" -v p99="$P_P99" 'BEGIN {
  printf "proxied throughput: %.0f%% of direct (target >= 60%%); added p50 %.3f ms (target <= 0.5), added p99 %.3f ms\n", 100*p/d, p50-d50, p99-d99 }'
