#!/usr/bin/env bash
# Mutation testing of the security-critical modules with cargo-mutants: each module is mutated
# (a comparison flipped, a branch deleted, a function made to return a constant) and the tests
# that cover it are run; a mutant no test fails on is a behaviour nothing would notice breaking.
# Too slow for every CI run on 2 cores (about 10-20 s a mutant), so run by hand:
#
#   tests/mutants/run.sh [group ...]     (default: every group below)
#   MUTANTS_ITERATE=1 tests/mutants/run.sh group   (re-test only the last run's survivors)
#
# Each group's raw results land in target/mutants/<group>/mutants.out; the per-module counts are
# printed at the end and kept in tests/mutants/REPORT.md by hand, with a reason for every
# surviving mutant that is equivalent. Needs `cargo install cargo-mutants` and cargo-nextest.
# PostgreSQL halves of the tests are skipped (no AUTHGATE_TEST_POSTGRES_URL): the logic under
# mutation is the same code on both backends, and SQLite halves run it.
set -euo pipefail
cd "$(dirname "$0")/../.."

# group | files to mutate | test modules (or module::test) that cover them (unit tests always run);
# timing tests stay out: a baseline run under load must not fail
GROUPS_TABLE='
paths|src/paths/canonical.rs src/paths/rules.rs src/http/canonical.rs src/proxy/headers.rs src/http/client_ip.rs|edges proxy flows
guard|src/http/guard.rs|browser security edges
limits|src/limits.rs src/http/rate_limit.rs src/service/lockout.rs|limits edges mail::send_limits_cool_an_address_down_and_cap_an_ip
tokens|src/tokens/access.rs src/tokens/cache.rs src/http/auth.rs|tokens security consumers liveness
sessions|src/service/sessions.rs src/tokens/refresh.rs|refresh flows cookies security mfa liveness
codes|src/service/codes.rs|mail mfa
'

wanted=("$@")
unset AUTHGATE_TEST_POSTGRES_URL AUTHGATE_TEST_REQUIRE_PEERS
command -v cargo-mutants >/dev/null || { echo "cargo install cargo-mutants" >&2; exit 2; }

while IFS='|' read -r group files tests; do
  [ -n "$group" ] || continue
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $group "* ]]; then continue; fi
  filter='kind(lib)'
  for t in $tests; do filter="$filter | test(/^$t::/)"; done
  args=()
  for f in $files; do args+=(-f "$f"); done
  out="target/mutants/$group"
  mkdir -p "$out"
  echo "=== $group: $files (tests: $tests)"
  # In place, so the build reuses target/ (a copy would rebuild every dependency first); the
  # tree is restored after each mutant. Do not edit the checkout while it runs.
  # Only the unit tests and the API suite are built per mutant (not the bench examples).
  # MUTANTS_ITERATE=1: test again only what the last run of the group did not catch.
  iterate=()
  [ "${MUTANTS_ITERATE:-0}" = 1 ] && iterate=(--iterate)
  cargo mutants --in-place --test-tool nextest --timeout 300 "${args[@]}" "${iterate[@]}" --output "$out" \
    -- --lib --test api -E "$filter" || true
done <<< "$GROUPS_TABLE"

echo
echo "module | caught | missed | unviable | timeout"
for dir in target/mutants/*/mutants.out; do
  python3 - "$dir" <<'PY'
import json, sys, collections
d = sys.argv[1]
counts = collections.defaultdict(lambda: collections.Counter())
for o in json.load(open(f"{d}/outcomes.json"))["outcomes"]:
    scen = o.get("scenario")
    if not isinstance(scen, dict) or "Mutant" not in scen:
        continue
    m = scen["Mutant"]
    f = m.get("file") or m.get("source_file", {}).get("path", "?")
    summary = o.get("summary", "?")
    counts[f][summary] += 1
for f, c in sorted(counts.items()):
    print(f"{f} | {c['CaughtMutant']} | {c['MissedMutant']} | {c['Unviable']} | {c['Timeout']}")
PY
done
