#!/usr/bin/env python3
"""authgate scale run (manual; not part of --smoke or CI): see bench/README.md, "Scale run".

For each backend: sign-in, refresh rotation and GET user/ on a fresh database (the small set
bench/run.py seeds), then on the same database seeded in SQL with --users users (1,000,000) and
--sessions sessions (5,000,000, 90 % dead) and ~2.5 audit events per user (55 % older than the
180-day audit retention), with the clean-up off; then the clean-up's first pass (timed, rows
removed, table sizes before and after) and the three scenarios again. Target: every scale figure
within 10 % of the empty-database one.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the benchmark's helpers: wrk, measure, seed, Proc, ...)

TABLES = ["users", "sessions", "auth_events", "one_time_codes", "outbox", "session_tombstones"]
SCENARIOS = ["signin", "refresh_rotation", "user_get"]
# Within 10 % of the empty-database figure.
TARGET = 0.10
# Sessions (and users they belong to) signed in through the API per phase, as run.py does.
SESSIONS, USERS_SIGNED_IN = 64, 16
# Seeded emails sign-in cycles through (spread over the whole table).
SIGNIN_USERS = 1_000
# The clean-up's server logs its start-up module at info (the pass's end), every request at warn.
JANITOR_LOG = "warn,authgate::startup=info"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


class LoggedProc(bench.Proc):
    """A server whose output goes to a file (the clean-up's log line is read from it)."""

    def __init__(self, cmd, env, log_path):
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT)


def server_env(port, db_url, retention_interval, log="warn"):
    return {"AUTHGATE_LISTEN": f"127.0.0.1:{port}", "AUTHGATE_DATABASE_URL": db_url, "AUTHGATE_LOG": log,
            "AUTHGATE_LOG_FORMAT": "json", "AUTHGATE_COOKIE_SECURE": "false",
            "AUTHGATE_RATE_LIMIT_AUTH": "0", "AUTHGATE_RATE_LIMIT_REFRESH": "0",
            "AUTHGATE_RATE_LIMIT_API": "0", "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES": "0",
            "AUTHGATE_RETENTION_INTERVAL": retention_interval}


def sign_in_sessions(base, emails, n):
    """`n` sessions through the API (password grant) over `emails`: (access, refresh) tokens."""
    access, refresh = [], []
    for i in range(n):
        st, _, body, _ = bench.http("POST", base + "/api/v1/auth/token/",
                                    {"grant_type": "password", "login": emails[i % len(emails)], "password": bench.PASSWORD})
        assert st == 200, (st, body)
        b = json.loads(body)
        access.append(b["access_token"])
        refresh.append(b["refresh_token"])
    return access, refresh


def measure_three(server, base, signin_users, access, refresh, args, work, tag):
    """The three scenarios as run.py measures them (its `measure`, its lua scripts), each
    --repeat times; the figure kept is the run with the median requests/s."""
    files = {k: os.path.join(work, f"{tag}-{k}") for k in ("users", "access", "refresh")}
    bench.write_lines(files["users"], signin_users)
    bench.write_lines(files["access"], access)
    out = {}
    runs = {k: [] for k in SCENARIOS}
    for k in range(args.repeat):
        runs["user_get"].append(bench.measure(server, base + "/api/v1/auth/user/", "check.lua",
                                              {"TOKENS": files["access"], "CHECK_PATH": "/api/v1/auth/user/"}, args))
        # Each rotation run needs sessions no earlier run rotated.
        if k == 0:
            fresh = refresh
        else:
            _, fresh = sign_in_sessions(base, signin_users[:USERS_SIGNED_IN], SESSIONS)
        bench.write_lines(files["refresh"], fresh)
        runs["refresh_rotation"].append(bench.measure(server, base + "/api/v1/auth/custom-refresh/", "refresh.lua",
                                                      {"TOKENS": files["refresh"]}, args))
        runs["signin"].append(bench.measure(server, base + "/api/v1/auth/signin/", "signin.lua",
                                            {"USERS": files["users"]}, args))
    for name, rs in runs.items():
        best = sorted(rs, key=lambda r: r["rps"])[(len(rs) - 1) // 2]
        out[name] = {**best, "rps_runs": [r["rps"] for r in rs], "p99_runs": [r["p99_ms"] for r in rs]}
    print(f"  {tag}: " + ", ".join(f"{k} {v['rps']:.0f}/s p99 {v['p99_ms']:.2f} ms" for k, v in out.items()), flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# Seeding in SQL

def pg_seed(db_url, password_hash, n_users, n_sessions, events_per_user):
    utc = "(now() AT TIME ZONE 'utc')"
    uid = lambda expr: f"md5('scale-user-' || ({expr}))::uuid::text"
    n_events = int(n_users * events_per_user)
    statements = [
        "SET synchronous_commit = off",
        # Users: one id per i, derived (md5, uuid-shaped) so sessions and events name their user
        # without a join; every user has the bench password.
        "INSERT INTO users (id, email, email_verified, password_hash, name, disabled, created_at, updated_at, last_sign_in_at) "
        f"SELECT {uid('g')}, 'scale' || g || '@example.com', true, :'hash', 'Scale User', false, "
        f"{utc} - (g % 700) * interval '1 day', {utc} - (g % 700) * interval '1 day', {utc} - (g % 30) * interval '1 day' "
        f"FROM generate_series(0, {n_users - 1}) g",
        # Sessions, by g % 10: 0 live (used within 5 days), 1-5 revoked 1-90 days ago, 6-9 expired
        # 1-90 days ago (and idle since).
        "INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, last_used_at, expires_at, "
        "remember_me, amr, aal, ip, user_agent, revoked_at, revoked_reason) "
        f"SELECT gen_random_uuid()::text, {uid(f'g % {n_users}')}, decode(md5(g::text) || md5('s' || g), 'hex'), g % 50, "
        "t.used, t.created, t.used, t.expires, g % 3 = 0, '[\"pwd\"]', 'aal1', '203.0.113.' || (g % 250), "
        f"'{UA}', t.revoked, CASE WHEN t.revoked IS NULL THEN NULL ELSE 'logout' END "
        f"FROM generate_series(0, {n_sessions - 1}) g, LATERAL (SELECT "
        f"  CASE WHEN g % 10 = 0 THEN {utc} - interval '10 days' WHEN g % 10 <= 5 THEN {utc} - (2 + g % 90) * interval '1 day' "
        f"       ELSE {utc} - (31 + g % 90) * interval '1 day' END AS created, "
        f"  CASE WHEN g % 10 = 0 THEN {utc} - (g % 432000) * interval '1 second' WHEN g % 10 <= 5 THEN {utc} - (1 + g % 90) * interval '1 day' "
        f"       ELSE {utc} - (30 + g % 90) * interval '1 day' END AS used, "
        f"  CASE WHEN g % 10 = 0 THEN {utc} + interval '20 days' WHEN g % 10 <= 5 THEN {utc} + (28 - g % 90) * interval '1 day' "
        f"       ELSE {utc} - (1 + g % 90) * interval '1 day' END AS expires, "
        f"  CASE WHEN g % 10 BETWEEN 1 AND 5 THEN {utc} - (1 + g % 90) * interval '1 day' END AS revoked) t",
        # Audit events: sign-ins (a tenth failed), ages spread over 400 days (55 % past 180).
        "INSERT INTO auth_events (id, user_id, kind, outcome, method, ip, user_agent, session_id, created_at) "
        f"SELECT gen_random_uuid()::text, {uid(f'g % {n_users}')}, 'signin', CASE WHEN g % 10 = 9 THEN 'failure' ELSE 'success' END, "
        f"'password', '203.0.113.' || (g % 250), '{UA}', NULL, {utc} - ((g * 7) % 400) * interval '1 day' - (g % 86400) * interval '1 second' "
        f"FROM generate_series(0, {n_events - 1}) g",
    ]
    script = "\n".join(s + ";" for s in statements) + "\n"
    t0 = time.monotonic()
    subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-v", f"hash={password_hash}", "-q"],
                   input=script, text=True, check=True)
    seeded = time.monotonic() - t0
    # A steady-state database: autovacuum would have visited tables this size.
    subprocess.run(["psql", db_url, "-qc", "VACUUM ANALYZE"], check=True)
    return seeded, time.monotonic() - t0 - seeded


def sqlite_seed(path, password_hash, n_users, n_sessions, events_per_user):
    n_events = int(n_users * events_per_user)
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    t0 = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    jd = (now - datetime.datetime(2000, 1, 1)).total_seconds() / 86400 + 2451544.5
    ts = lambda days: f"strftime('%Y-%m-%d %H:%M:%f', {jd} + ({days}))"
    uuid = ("lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' "
            "|| hex(randomblob(2)) || '-' || hex(randomblob(6)))")
    series = lambda n: f"WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {n - 1}) "
    db.execute("BEGIN")
    base = db.execute("SELECT coalesce(max(rowid), 0) FROM users").fetchone()[0]
    db.execute(series(n_users) +
               "INSERT INTO users (id, email, email_verified, password_hash, name, disabled, created_at, updated_at, last_sign_in_at) "
               f"SELECT {uuid}, 'scale' || i || '@example.com', 1, ?, 'Scale User', 0, {ts('-(i % 700)')}, {ts('-(i % 700)')}, "
               f"{ts('-(i % 30)')} FROM g", (password_hash,))
    assert db.execute("SELECT max(rowid) FROM users").fetchone()[0] == base + n_users
    db.execute("COMMIT")
    # A user by number, through the rowid the insert gave it (in order, after `base`).
    user = lambda expr: f"(SELECT id FROM users WHERE rowid = {base + 1} + ({expr}))"
    chunk = 1_000_000
    for start in range(0, n_sessions, chunk):
        n = min(chunk, n_sessions - start)
        g = f"({start} + i)"
        db.execute("BEGIN")
        db.execute(series(n) +
                   "INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, last_used_at, expires_at, "
                   "remember_me, amr, aal, ip, user_agent, revoked_at, revoked_reason) "
                   f"SELECT {uuid}, {user(f'{g} % {n_users}')}, randomblob(32), {g} % 50, used, created, used, expires, "
                   f"{g} % 3 = 0, '[\"pwd\"]', 'aal1', '203.0.113.' || ({g} % 250), '{UA}', revoked, "
                   "CASE WHEN revoked IS NULL THEN NULL ELSE 'logout' END FROM (SELECT i, "
                   f"  CASE WHEN {g} % 10 = 0 THEN {ts('-10')} WHEN {g} % 10 <= 5 THEN {ts(f'-(2 + {g} % 90)')} ELSE {ts(f'-(31 + {g} % 90)')} END AS created, "
                   f"  CASE WHEN {g} % 10 = 0 THEN {ts(f'-({g} % 432000) / 86400.0')} WHEN {g} % 10 <= 5 THEN {ts(f'-(1 + {g} % 90)')} ELSE {ts(f'-(30 + {g} % 90)')} END AS used, "
                   f"  CASE WHEN {g} % 10 = 0 THEN {ts('20')} WHEN {g} % 10 <= 5 THEN {ts(f'28 - {g} % 90')} ELSE {ts(f'-(1 + {g} % 90)')} END AS expires, "
                   f"  CASE WHEN {g} % 10 BETWEEN 1 AND 5 THEN {ts(f'-(1 + {g} % 90)')} END AS revoked FROM g)")
        db.execute("COMMIT")
    for start in range(0, n_events, chunk):
        n = min(chunk, n_events - start)
        g = f"({start} + i)"
        db.execute("BEGIN")
        db.execute(series(n) +
                   "INSERT INTO auth_events (id, user_id, kind, outcome, method, ip, user_agent, session_id, created_at) "
                   f"SELECT {uuid}, {user(f'{g} % {n_users}')}, 'signin', CASE WHEN {g} % 10 = 9 THEN 'failure' ELSE 'success' END, "
                   f"'password', '203.0.113.' || ({g} % 250), '{UA}', NULL, {ts(f'-(({g} * 7) % 400) - ({g} % 86400) / 86400.0')} FROM g")
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.monotonic() - t0, 0.0


# ---------------------------------------------------------------------------------------------
# Table sizes

def pg_sizes(db_url):
    q = ("SELECT json_object_agg(relname, json_build_object('rows', n_live_tup, 'dead_rows', n_dead_tup, "
         "'bytes', pg_total_relation_size(relid))) FROM pg_stat_user_tables WHERE relname IN ("
         + ",".join(f"'{t}'" for t in TABLES) + ")")
    out = json.loads(subprocess.run(["psql", db_url, "-Atc", q], capture_output=True, text=True, check=True).stdout)
    counts = subprocess.run(["psql", db_url, "-Atc", " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)],
                            capture_output=True, text=True, check=True).stdout
    for line in counts.split():
        t, n = line.split("|")
        out[t]["rows"] = int(n)
    total = int(subprocess.run(["psql", db_url, "-Atc", "SELECT pg_database_size(current_database())"],
                               capture_output=True, text=True, check=True).stdout)
    return {"tables": out, "database_bytes": total}


def sqlite_sizes(path):
    db = sqlite3.connect(path, timeout=60)
    tables = {t: {"rows": db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]} for t in TABLES}
    try:
        # Table and its indexes (dbstat's names: the table, its indexes, sqlite_autoindex_*).
        idx = {name: tbl for name, tbl in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}
        for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            t = idx.get(name)
            if t in tables:
                tables[t]["bytes"] = tables[t].get("bytes", 0) + size
    except sqlite3.OperationalError:
        pass  # no dbstat in this SQLite
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    out = {"tables": tables, "page_count_bytes": db.execute("PRAGMA page_count").fetchone()[0] * page_size,
           "freelist_bytes": db.execute("PRAGMA freelist_count").fetchone()[0] * page_size}
    db.close()
    out["file_bytes"] = os.path.getsize(path)
    out["wal_bytes"] = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    return out


# ---------------------------------------------------------------------------------------------

def flush(backend, db_url):
    """Writes the seeded gigabytes back to disk before anything is measured: left to the kernel,
    the write-back ran for minutes into the scale phase and took CPU from the server there (a
    database this size in service was not written a moment ago). PostgreSQL first writes its
    dirty buffers out (CHECKPOINT)."""
    t0 = time.monotonic()
    if backend == "postgresql":
        subprocess.run(["psql", db_url, "-qc", "CHECKPOINT"], check=True)
    os.sync()
    return time.monotonic() - t0


def run_backend(backend, db_url, args, work):
    binary = os.path.join(bench.target_dir(), bench.PROFILE, "authgate")
    r = {"users": args.users, "sessions": args.sessions, "events_per_user": args.events_per_user}

    def start(interval, log="warn", log_path=None):
        port = bench.free_port()
        env = server_env(port, db_url, interval, log)
        server = LoggedProc([binary, "serve"], env, log_path) if log_path else bench.Proc([binary, "serve"], env)
        base = f"http://127.0.0.1:{port}"
        bench.wait_ready(base, timeout=120)
        return server, base

    # 1. Empty database, the small set run.py seeds.
    print(f"{backend}: empty database", flush=True)
    server, base = start("0")
    emails, access, refresh = bench.seed(base, USERS_SIGNED_IN, SESSIONS)
    r["empty"] = measure_three(server, base, emails, access, refresh, args, work, f"{backend}-empty")
    server.stop()

    # 2. Seeded at scale, in SQL, with the hash of a user signed up through the API.
    if backend == "sqlite":
        path = db_url[len("sqlite://"):]
        db = sqlite3.connect(path)
        password_hash = db.execute("SELECT password_hash FROM users WHERE email = 'bench0@example.com'").fetchone()[0]
        db.close()
        print(f"{backend}: seeding {args.users:,} users, {args.sessions:,} sessions", flush=True)
        r["seed_seconds"], r["vacuum_analyze_seconds"] = sqlite_seed(path, password_hash, args.users, args.sessions, args.events_per_user)
        sizes = lambda: sqlite_sizes(path)
    else:
        password_hash = subprocess.run(["psql", db_url, "-Atc", "SELECT password_hash FROM users WHERE email = 'bench0@example.com'"],
                                       capture_output=True, text=True, check=True).stdout.strip()
        print(f"{backend}: seeding {args.users:,} users, {args.sessions:,} sessions", flush=True)
        r["seed_seconds"], r["vacuum_analyze_seconds"] = pg_seed(db_url, password_hash, args.users, args.sessions, args.events_per_user)
        sizes = lambda: pg_sizes(db_url)
    print(f"  seeded in {r['seed_seconds']:.0f} s (+ {r['vacuum_analyze_seconds']:.0f} s VACUUM ANALYZE)", flush=True)
    r["flush_seconds"] = flush(backend, db_url)
    print(f"  written back to disk in {r['flush_seconds']:.0f} s", flush=True)
    r["sizes_before"] = sizes()

    # 3. At scale, no clean-up: sign-in over seeded users spread through the table, refresh and
    # user/ on sessions signed in through the API now, for seeded users.
    rng = random.Random(21)
    picked = [f"scale{i}@example.com" for i in rng.sample(range(args.users), min(SIGNIN_USERS, args.users))]
    server, base = start("0")
    r["start_to_ready_scale_ms"] = bench.wait_ready(base) * 1000
    access, refresh = sign_in_sessions(base, picked[:USERS_SIGNED_IN], SESSIONS)
    r["scale"] = measure_three(server, base, picked, access, refresh, args, work, f"{backend}-scale")
    server.stop()

    # 4. The clean-up's first pass (it runs at start), then the scenarios again on that server.
    log_path = os.path.join(work, f"{backend}-janitor.log")
    t0 = time.monotonic()
    # Only the start-up module at info (its "retention clean-up done" line): at plain `info` every
    # request writes a "request done" line too, which cost `user/` on SQLite ~17 % (8,082 against
    # 6,705/s, measured 2026-12-04), so the scenarios after the pass would not compare with the
    # others, measured at `warn`.
    server, base = start("1h", JANITOR_LOG, log_path)
    done, progress, last = None, [], t0
    while time.monotonic() - t0 < args.janitor_timeout:
        text = open(log_path, errors="replace").read()
        m = next((l for l in text.splitlines() if "retention clean-up" in l), None)
        if m:
            done = m
            break
        if time.monotonic() - last >= 60:
            last = time.monotonic()
            n = sizes_rows(backend, db_url, "sessions")
            progress.append({"seconds": last - t0, "sessions_rows": n})
            print(f"  clean-up running, {last - t0:.0f} s: {n:,} sessions left", flush=True)
        time.sleep(0.2)
    r["janitor_seconds"] = time.monotonic() - t0
    r["janitor_log"] = done
    r["janitor_progress"] = progress
    r["janitor_finished"] = bool(done and "done" in done)
    metrics = bench.http("GET", base + "/metrics")[2].decode(errors="replace")
    r["janitor_removed"] = {t: float(n) for t, n in re.findall(r'authgate_retention_removed_total\{table="([^"]+)"\}\s+([\d.e+]+)', metrics)}
    print(f"  clean-up: {r['janitor_seconds']:.0f} s, {done}", flush=True)
    r["sizes_after"] = sizes()
    access, refresh = sign_in_sessions(base, picked[:USERS_SIGNED_IN], SESSIONS)
    r["after_janitor"] = measure_three(server, base, picked, access, refresh, args, work, f"{backend}-after")
    server.stop()
    if backend == "postgresql":
        # What a VACUUM (autovacuum's work) gives back: PostgreSQL keeps a deleted row's space
        # until one runs; only VACUUM FULL would return it to the file system.
        t1 = time.monotonic()
        subprocess.run(["psql", db_url, "-qc", "VACUUM"], check=True)
        r["vacuum_after_seconds"] = time.monotonic() - t1
        r["sizes_after_vacuum"] = sizes()
    return r


def sizes_rows(backend, db_url, table):
    if backend == "sqlite":
        db = sqlite3.connect(db_url[len("sqlite://"):], timeout=60)
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            db.close()
    return int(subprocess.run(["psql", db_url, "-Atc", f"SELECT count(*) FROM {table}"], capture_output=True, text=True, check=True).stdout)


# ---------------------------------------------------------------------------------------------
# Report

def mb(n):
    return f"{n / 1e6:,.1f} MB" if n is not None else "–"


def report(results, args):
    lines = [f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, {bench.cpu_model()}, {platform.system()} {platform.release()}",
             f"- scale: {args.users:,} users, {args.sessions:,} sessions (10 % live, 50 % revoked and 40 % expired 1–90 days ago), "
             f"{int(args.users * args.events_per_user):,} audit events (55 % older than 180 days)",
             f"- load: wrk {args.threads} threads × {args.connections} connections, {args.duration} s per run, "
             f"median of {args.repeat} runs per figure, on the same machine as the server",
             f"- command: `python3 bench/scale.py{command_flags(args)}`", ""]
    for backend, r in results.items():
        lines += [f"### {backend}", "",
                  f"Seeding in SQL: {r['seed_seconds']:.0f} s"
                  + (f" (+ {r['vacuum_analyze_seconds']:.0f} s `VACUUM ANALYZE`)" if r.get("vacuum_analyze_seconds") else "")
                  + (f", written back to disk in {r['flush_seconds']:.0f} s before the scale phase" if "flush_seconds" in r else "")
                  + f". Start to `/readyz` on the seeded database: {r['start_to_ready_scale_ms']:.0f} ms.", "",
                  "| scenario | empty: requests/s, p99 ms | scale: requests/s, p99 ms (ratio) | "
                  + ("after the clean-up" if r["janitor_finished"] else "**during** the clean-up's first pass (unfinished)")
                  + ": requests/s, p99 ms (ratio) | within 10 % |",
                  "| --- | --- | --- | --- | --- |"]
        for k in SCENARIOS:
            e, s, a = r["empty"][k], r["scale"][k], r["after_janitor"][k]
            rs, ra = s["rps"] / e["rps"], a["rps"] / e["rps"]
            ok = rs >= 1 - TARGET and ra >= 1 - TARGET
            lines.append(f"| {k} | {e['rps']:,.0f}, {e['p99_ms']:.2f} | {s['rps']:,.0f}, {s['p99_ms']:.2f} ({rs * 100:.0f} %) | "
                         f"{a['rps']:,.0f}, {a['p99_ms']:.2f} ({ra * 100:.0f} %) | {bench.verdict(ok)} |")
        runs = "; ".join(f"{k}: empty {fmt_runs(r['empty'][k])}, scale {fmt_runs(r['scale'][k])}, after {fmt_runs(r['after_janitor'][k])}" for k in SCENARIOS)
        lines += ["", f"Every run's requests/s: {runs}.", ""]
        removed = ", ".join(f"{t} {int(n):,}" for t, n in sorted(r["janitor_removed"].items()))
        if r["janitor_finished"]:
            state = f"finished in {r['janitor_seconds']:.0f} s (from the server's start to the log line); removed: {removed}."
        else:
            state = (f"**not finished** after {r['janitor_seconds']:.0f} s (`--janitor-timeout`); the scenarios were measured "
                     "while it went on, and the sizes below were read then.")
        lines += [f"Clean-up's first pass: {state}"]
        prog = r.get("janitor_progress") or []
        # The rate while sessions were still going: from the start to the last sample above the
        # final count (once they are done the pass goes on with the audit events, and the samples
        # taken then would only dilute it).
        moving = [p for p in prog if p["sessions_rows"] > prog[-1]["sessions_rows"]] if r["janitor_finished"] else prog
        if len(prog) >= 2 and moving:
            rate = (r["sizes_before"]["tables"]["sessions"]["rows"] - moving[-1]["sessions_rows"]) / moving[-1]["seconds"]
            left = prog[-1]["sessions_rows"] - r["sizes_before"]["tables"]["sessions"]["rows"] // 10
            lines[-1] += (f" Sessions left, sampled every minute: {', '.join(format(p['sessions_rows'], ',') for p in prog)}: "
                          f"{rate:,.0f} deleted per second over the first {moving[-1]['seconds']:.0f} s"
                          + ("" if r["janitor_finished"]
                             else f"; at that rate the sessions alone need about {left / max(rate, 1) / 60:.0f} more minutes, "
                             "then the audit events" if left > 0
                             else "; the dead sessions were gone, the audit events not yet") + ".")
        lines.append("")
        cols = ["before (seeded)", "after the first pass" if r["janitor_finished"] else "during the first pass"] + (["after a VACUUM"] if "sizes_after_vacuum" in r else [])
        snaps = [r["sizes_before"], r["sizes_after"]] + ([r["sizes_after_vacuum"]] if "sizes_after_vacuum" in r else [])
        lines += ["| table | " + " | ".join(f"{c}: rows, size" for c in cols) + " |", "| --- |" + " --- |" * len(cols)]
        for t in TABLES:
            cells = [f"{sn['tables'].get(t, {}).get('rows', 0):,}, {mb(sn['tables'].get(t, {}).get('bytes'))}" for sn in snaps]
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
        if backend == "sqlite":
            lines.append("| file (pages in use + free list; WAL) | " + " | ".join(
                f"{mb(sn['file_bytes'])} ({mb(sn['page_count_bytes'] - sn['freelist_bytes'])} + {mb(sn['freelist_bytes'])}; WAL {mb(sn['wal_bytes'])})" for sn in snaps) + " |")
        else:
            lines.append("| database (`pg_database_size`) | " + " | ".join(mb(sn["database_bytes"]) for sn in snaps) + " |")
        lines.append("")
    return "\n".join(lines)


def fmt_runs(v):
    return "/".join(f"{x:,.0f}" for x in v["rps_runs"])


def command_flags(args):
    flags = []
    for name, default in (("users", 1_000_000), ("sessions", 5_000_000), ("duration", 5), ("repeat", 3), ("backends", "sqlite,postgresql"), ("janitor_timeout", 3600)):
        if getattr(args, name) != default:
            flags.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    return (" " + " ".join(flags)) if flags else ""


BEGIN, END = "<!-- scale run: bench/scale.py -->", "<!-- /scale run -->"


def write_section(path, title, body):
    """Replaces (or appends) the scale section of a markdown file, between the markers."""
    text = open(path).read() if os.path.exists(path) else ""
    section = f"{BEGIN}\n## {title}\n\n{body}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=5_000_000)
    ap.add_argument("--events-per-user", type=float, default=2.5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is kept)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--janitor-timeout", type=int, default=3600, help="seconds to wait for the clean-up's first pass")
    ap.add_argument("--pg-url", default=os.environ.get("AUTHGATE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--profile", default="release")
    ap.add_argument("--no-record", action="store_true", help="do not write the Scale section of bench/RESULTS.md")
    args = ap.parse_args()
    args.smoke = False
    bench.PROFILE = args.profile
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "authgate"], cwd=bench.ROOT, check=True)
    work = tempfile.mkdtemp(prefix="authgate-scale-")
    results = {}
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results["sqlite"] = run_backend("sqlite", f"sqlite://{work}/scale.db", args, work)
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(OSError):
                        os.remove(f"{work}/scale.db{suffix}")
            else:
                name = f"authgate_scale_{os.getpid()}"
                subprocess.run(["psql", args.pg_url, "-qc", f"CREATE DATABASE {name}"], check=True)
                try:
                    results["postgresql"] = run_backend("postgresql", args.pg_url.rsplit("/", 1)[0] + "/" + name, args, work)
                finally:
                    subprocess.run(["psql", args.pg_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(results, args)
    out_dir = os.path.join(bench.ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    json.dump({"args": vars(args), "results": results}, open(os.path.join(out_dir, "scale.json"), "w"), indent=1)
    open(os.path.join(out_dir, "SCALE.md"), "w").write("# authgate scale run\n\n" + text)
    if not args.no_record:
        write_section(os.path.join(bench.ROOT, "bench", "RESULTS.md"), "Scale run (bench/scale.py)", text)
    print(text)
    print(f"written to {out_dir}/scale.json, SCALE.md" + ("" if args.no_record else " and bench/RESULTS.md"))


if __name__ == "__main__":
    main()
