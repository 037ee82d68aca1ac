#!/usr/bin/env bash
# Sidecar proxy mode, same run, same machine, against two references:
#   direct    the upstream app called directly (examples/bench_upstream.rs);
#   ceiling   a minimal actix-web + awc pass-through proxy with no auth (bench/proxy_ceiling.rs),
#             the least any proxy built from these crates costs;
#   authgate  authgate in proxy mode, a signed-in Bearer request (a token check per request).
# Three loads: saturated (wrk, THREADS x CONNECTIONS), one request at a time (wrk -t1 -c1), and a
# moderate paced load (wrk -t1 -c4, each connection pausing DELAY_MS after every answer: about
# 2,000 requests/s, far from saturation). Prints requests/s and p50/p99 per path and load, then
# throughput ratios and added latency.
#
# Needs: wrk (Debian package `wrk`), curl, and a release build of authgate and the two examples
# (done here). Tunables: DURATION (10s), CONNECTIONS (16), THREADS (1), WORKERS (upstream
# workers, 1), PROXY_WORKERS (workers of authgate and of the ceiling, = WORKERS), DELAY_MS (2).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
PROXY_WORKERS=${PROXY_WORKERS:-$WORKERS}
export DELAY_MS=${DELAY_MS:-2}
UP_PORT=${UP_PORT:-38080}
AG_PORT=${AG_PORT:-38081}
CE_PORT=${CE_PORT:-38082}

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done

cargo build --release --quiet --bin authgate --example bench_upstream --example proxy_ceiling
TARGET=${CARGO_TARGET_DIR:-target}/release

WORK=$(mktemp -d)
cleanup() {
  for pid in "${UP_PID:-}" "${AG_PID:-}" "${CE_PID:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/examples/bench_upstream" "$UP_PORT" "$WORKERS" &
UP_PID=$!
"$TARGET/examples/proxy_ceiling" "$CE_PORT" "$PROXY_WORKERS" "http://127.0.0.1:$UP_PORT" &
CE_PID=$!
AUTHGATE_LISTEN=127.0.0.1:$AG_PORT \
AUTHGATE_DATABASE_URL="sqlite://$WORK/authgate.db" \
AUTHGATE_UPSTREAM=http://127.0.0.1:$UP_PORT \
AUTHGATE_WORKERS=$PROXY_WORKERS \
AUTHGATE_BCRYPT_COST=4 \
AUTHGATE_LOG=warn \
  "$TARGET/authgate" serve >"$WORK/authgate.log" 2>&1 &
AG_PID=$!

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$AG_PORT/readyz" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$UP_PORT/" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$CE_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done

TOKEN=$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"bench-$$@example.com\",\"password\":\"correct horse battery\",\"name\":\"Bench\"}" \
  "http://127.0.0.1:$AG_PORT/api/v1/auth/signup/" |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: access_token=\([^;]*\).*/\1/p')
[[ -n "$TOKEN" ]] || { echo "could not sign up" >&2; exit 1; }
# Controls: the proxied path really is checked, and every path answers 200 with the token.
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/page") == 401 ]]
for port in "$UP_PORT" "$CE_PORT" "$AG_PORT"; do
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$port/page") == 200 ]]
done

wrk_run() { # threads connections url [wrk args] -> "rps p50_ms p99_ms"
  wrk -t"$1" -c"$2" -d"$DURATION" --latency -H "authorization: Bearer $TOKEN" "${@:4}" "$3" |
    awk '
      function ms(v) { if (v ~ /us$/) return substr(v,1,length(v)-2)/1000; if (v ~ /ms$/) return substr(v,1,length(v)-2)+0; if (v ~ /s$/) return substr(v,1,length(v)-1)*1000; return v }
      /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
      END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

declare -A URL=([direct]="http://127.0.0.1:$UP_PORT/page" [ceiling]="http://127.0.0.1:$CE_PORT/page"
  [authgate]="http://127.0.0.1:$AG_PORT/page")
PATHS=(direct ceiling authgate)

# Warm every path (connection pools, token cache), then measure.
for p in "${PATHS[@]}"; do wrk -t1 -c4 -d2s -H "authorization: Bearer $TOKEN" "${URL[$p]}" >/dev/null; done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R
for p in "${PATHS[@]}"; do R[saturated,$p]=$(wrk_run "$THREADS" "$CONNECTIONS" "${URL[$p]}"); done
for p in "${PATHS[@]}"; do R[single,$p]=$(wrk_run 1 1 "${URL[$p]}"); done
for p in "${PATHS[@]}"; do R[paced,$p]=$(wrk_run 1 4 "${URL[$p]}" -s bench/delay.lua); done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "$(nproc) cores; upstream $WORKERS worker(s), authgate and ceiling $PROXY_WORKERS worker(s); $DURATION per run"
echo "load average before $LOAD_BEFORE, after $LOAD_AFTER"
echo "loads: saturated = wrk -t$THREADS -c$CONNECTIONS; single = wrk -t1 -c1; paced = wrk -t1 -c4, ${DELAY_MS} ms pause after each answer"
printf '\n%-10s %-9s %11s %9s %9s\n' load path 'requests/s' 'p50 ms' 'p99 ms'
for load in saturated single paced; do
  for p in "${PATHS[@]}"; do
    read -r rps p50 p99 <<<"${R[$load,$p]}"
    printf '%-10s %-9s %11s %9s %9s\n' "$load" "$p" "$rps" "$p50" "$p99"
  done
done
echo
summary() { # load
  read -r d_rps d50 d99 <<<"${R[$1,direct]}"
  read -r c_rps c50 c99 <<<"${R[$1,ceiling]}"
  read -r a_rps a50 a99 <<<"${R[$1,authgate]}"
  awk -v kind="$1" -v d="$d_rps" -v c="$c_rps" -v a="$a_rps" -v d50="$d50" -v c50="$c50" -v a50="$a50" \
    -v d99="$d99" -v c99="$c99" -v a99="$a99" 'BEGIN {
    if (kind != "paced")
      printf "%-10s throughput: authgate %.0f%% of direct (target >= 60%%), %.0f%% of ceiling; ceiling %.0f%% of direct\n", kind, 100*a/d, 100*a/c, 100*c/d
    printf "%-10s added p50: authgate %+.3f ms over direct (target <= 0.5), %+.3f over ceiling; ceiling %+.3f over direct; added p99 authgate %+.3f ms\n", kind, a50-d50, a50-c50, c50-d50, a99-d99 }'
}
for load in saturated single paced; do summary "$load"; done
