#!/usr/bin/env python3
"""authgate benchmark: one command (see bench/README.md).

Builds release binaries, measures the ceilings (a bare actix-web handler, one verifying an Ed25519
JWT, one-core bcrypt) and authgate on SQLite and PostgreSQL in the same run, and writes each
authgate figure as a ratio to its ceiling, so results compare across machines.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = "release"
PASSWORD = "bench password 123"
# Interleaved idle / during-sign-in / during-idle-burn triples for the check p99 target.
PAIRS = 5
# Sessions ended just before the revocation-list comparison, so the list it measures is a real one.
REVOKED = 1_000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read(), r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), e.headers.get_all("Set-Cookie") or []


def cookie(cookies, name):
    for c in cookies:
        m = re.match(rf"{name}=([^;]*)", c)
        if m:
            return m.group(1)
    return None


def wait_ready(base, timeout=30.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if http("GET", base + "/readyz")[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{base} not ready")


class Proc:
    """A server process with CPU and memory readings from /proc."""

    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cpu_seconds(self):
        fields = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self, field="VmRSS"):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def reset_peak(self):
        try:
            with open(f"/proc/{self.p.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def wrk(url, script, env, duration, connections, threads):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", script)]
    out = subprocess.run(cmd + [url], cwd=ROOT, env={**os.environ, "THREADS": str(threads), **env},
                         capture_output=True, text=True, check=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line:
        return json.loads(line[len("RESULT "):])
    # Plain runs (no script): parse wrk's own summary.
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99),
            "errors": sum(map(int, errors.groups())) if errors else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def postgres_cpu_seconds():
    """CPU time of every PostgreSQL process on this machine (its backends do the refresh work),
    with that of backends that have ended (the postmaster's reaped children: pgbench's)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if comm == "postgres":
            fields = rest.split()
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@contextlib.contextmanager
def background(cmds, env):
    """Runs `cmds` (quietly, from the repository) for the body of the `with`, started a second
    before it, and waits for them to end after it."""
    procs = [subprocess.Popen(c, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL) for c in cmds]
    try:
        if procs:
            time.sleep(1)
        yield
    finally:
        for p in procs:
            p.wait()


def measure(server, url, script, env, args, connections=None, threads=None, duration=None):
    """One wrk run with the CPU (cores busy) of the server, of wrk and of PostgreSQL, and the
    server's peak RSS during it."""
    server.reset_peak()
    cpu0, wrk0, pg0, t0 = server.cpu_seconds(), children_cpu_seconds(), postgres_cpu_seconds(), time.monotonic()
    r = wrk(url, script, env, duration or args.duration, connections or args.connections, threads or args.threads)
    elapsed = time.monotonic() - t0
    r["server_cpu_cores"] = (server.cpu_seconds() - cpu0) / elapsed
    r["wrk_cpu_cores"] = (children_cpu_seconds() - wrk0) / elapsed
    r["postgres_cpu_cores"] = (postgres_cpu_seconds() - pg0) / elapsed
    r["server_peak_rss_mb"] = server.rss_kb("VmHWM") / 1024
    return r


def build(args):
    if args.no_build:
        return
    # Two builds: with the example, cargo unifies the dev-dependencies' features into the
    # dependencies, which changes their code; the binary measured is the one that ships (the
    # Dockerfile's `--bin authgate`).
    for target in (["--bin", "authgate"], ["--example", "bench-tools"]):
        subprocess.run(["cargo", "build", "--release", "--locked", *target], cwd=ROOT, check=True)


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def ceilings(args, work):
    tools = os.path.join(target_dir(), PROFILE, "examples", "bench-tools")
    port = free_port()
    token_file = os.path.join(work, "ceiling-tokens")
    server = Proc([tools, "ceiling", f"127.0.0.1:{port}", token_file, "0", str(distinct_count(args))], {})
    base = f"http://127.0.0.1:{port}"
    for _ in range(12_000):  # minting the distinct tokens takes a few seconds
        if os.path.exists(token_file) and os.path.getsize(token_file) > 0:
            try:
                if http("GET", base + "/plain")[0] == 200:
                    break
            except OSError:
                pass
        time.sleep(0.01)
    ed, hs = open(token_file).read().split()
    for name, tok in (("ed", ed), ("hs", hs)):
        open(os.path.join(work, f"{name}.tokens"), "w").write(tok + "\n")
    # A pool of 64 tokens of authgate's shape and length, for the bare handler fed exactly the
    # requests of authgate's reused-token run (it ignores the header).
    with open(token_file + ".distinct") as f:
        write_lines(os.path.join(work, "pool.tokens"), [next(f).strip() for _ in range(64)])
    c = {
        "bare_get": measure(server, base + "/plain", None, {}, args),
        "bare_get_same_requests": measure(server, base + "/plain", "check.lua", {"TOKENS": os.path.join(work, "pool.tokens"), "CHECK_PATH": "/plain"}, args),
        "bare_post_cookie": measure(server, base + "/cookie", "post.lua", {}, args),
        "ed25519_verify": measure(server, base + "/ed25519", "check.lua", {"TOKENS": os.path.join(work, "ed.tokens"), "CHECK_PATH": "/ed25519", "FORMAT_EACH": "1"}, args),
        # The distinct-token ceiling: as many different tokens of authgate's shape, through the
        # same script as authgate's distinct run, so wrk's share of the cores is the same in both.
        "ed25519_verify_distinct": measure(server, base + "/ed25519", "check.lua", {"TOKENS": token_file + ".distinct", "CHECK_PATH": "/ed25519", "MODE": "distinct"}, args),
        "hs256_verify": measure(server, base + "/hs256", "check.lua", {"TOKENS": os.path.join(work, "hs.tokens"), "CHECK_PATH": "/hs256", "FORMAT_EACH": "1"}, args),
    }
    server.stop()
    seconds = 1 if args.smoke else 3
    rate = float(subprocess.run([tools, "bcrypt", "10", str(seconds)], capture_output=True, text=True, check=True).stdout)
    c["bcrypt_one_core"] = {"rps": rate}
    c["bcrypt_all_cores"] = {"rps": rate * os.cpu_count()}
    return c


# The refresh's SQL as authgate sends it (the session read joined to its user, then the
# rotation's conditional UPDATE, each in its own implicit transaction), one session per client.
PG_REFRESH_SQL = """\
SELECT s.id, s.user_id, s.secret, s.counter, s.rotated_at, s.created_at, s.last_used_at, s.expires_at, s.remember_me, s.amr, s.aal, s.revoked_at, u.email, u.email_verified, u.disabled FROM sessions s INNER JOIN users u ON s.user_id = u.id WHERE s.id = 'pgbench-' || :client_id;
UPDATE sessions SET counter = counter + 1, rotated_at = now(), last_used_at = now() WHERE id = 'pgbench-' || :client_id AND revoked_at IS NULL;
"""


def postgres_ceiling(db_url, args, work):
    """PostgreSQL alone doing the refresh's two statements (pgbench, prepared, as many clients as
    wrk has connections, over the same URL, so with the same TLS): the most refreshes per second
    this machine's PostgreSQL allows, before any authgate cost. Run on authgate's own database
    after its run (authgate stopped), on copies of one of its sessions."""
    if not shutil.which("pgbench"):
        print("pgbench not found (apt-get install postgresql-client): no PostgreSQL ceiling", file=sys.stderr)
        return None
    subprocess.run(["psql", db_url, "-qc",
                    "INSERT INTO sessions SELECT 'pgbench-' || g, user_id, secret, 0, rotated_at, created_at, "
                    "last_used_at, expires_at, remember_me, amr, aal, ip, user_agent, NULL, NULL "
                    f"FROM (SELECT * FROM sessions LIMIT 1) s, generate_series(0, {args.connections - 1}) g"], check=True)
    script = os.path.join(work, "pg-refresh.sql")
    open(script, "w").write(PG_REFRESH_SQL)
    cpu0, pg0, t0 = children_cpu_seconds(), postgres_cpu_seconds(), time.monotonic()
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(args.connections), "-j", str(args.threads),
                          "-T", str(args.duration), "-f", script, db_url], capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - t0
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"rps": float(tps.group(1)) if tps else 0.0, "p50_ms": float(lat.group(1)) if lat else 0.0,
            "errors": int(failed.group(1)) if failed else 0,
            "server_cpu_cores": 0.0, "wrk_cpu_cores": (children_cpu_seconds() - cpu0) / elapsed,
            "postgres_cpu_cores": (postgres_cpu_seconds() - pg0) / elapsed}


def seed(base, n_users, n_sessions):
    """Users (password PASSWORD) and signed-in sessions: (emails, access tokens, refresh tokens)."""
    emails = [f"bench{i}@example.com" for i in range(n_users)]
    access, refresh = [], []
    for e in emails:
        st, _, _, cookies = http("POST", base + "/api/v1/auth/signup/", {"email": e, "password": PASSWORD, "name": "Bench"})
        assert st in (201, 409), st
    for i in range(n_sessions):
        st, _, body, _ = http("POST", base + "/api/v1/auth/token/", {"grant_type": "password", "login": emails[i % n_users], "password": PASSWORD})
        assert st == 200, (st, body)
        b = json.loads(body)
        access.append(b["access_token"])
        refresh.append(b["refresh_token"])
    return emails, access, refresh


def distinct_count(args):
    """Tokens for a distinct-token run: more than wrk can present in the run's duration."""
    return int(args.duration * 45_000) if not args.smoke else 2_000


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_backend(backend, db_url, args, work):
    binary = os.path.join(target_dir(), PROFILE, "authgate")
    tools = os.path.join(target_dir(), PROFILE, "examples", "bench-tools")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"AUTHGATE_LISTEN": f"127.0.0.1:{port}", "AUTHGATE_DATABASE_URL": db_url, "AUTHGATE_LOG": "warn",
           "AUTHGATE_LOG_FORMAT": "json", "AUTHGATE_COOKIE_SECURE": "false",
           # Load from one IP measures throughput, not the per-IP limits (docs/security.md: rate limits).
           "AUTHGATE_RATE_LIMIT_AUTH": "0", "AUTHGATE_RATE_LIMIT_REFRESH": "0",
           "AUTHGATE_RATE_LIMIT_API": "0", "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES": "0"}
    r = {}
    first = Proc([binary, "serve"], env)
    r["start_to_ready_new_db_ms"] = wait_ready(base) * 1000
    first.stop()
    server = Proc([binary, "serve"], env)
    r["start_to_ready_ms"] = wait_ready(base) * 1000
    time.sleep(0.5)
    r["idle_rss_mb"] = server.rss_kb() / 1024

    sessions = 64 if not args.smoke else 8
    emails, access, refresh_a = seed(base, 16 if not args.smoke else 4, sessions)
    _, _, refresh_b = seed(base, len(emails), sessions)
    files = {name: os.path.join(work, f"{backend}-{name}") for name in ("users", "access", "refresh_a", "refresh_b", "distinct")}
    write_lines(files["users"], emails)
    write_lines(files["access"], access)
    write_lines(files["refresh_a"], refresh_a)
    write_lines(files["refresh_b"], refresh_b)
    subprocess.run([tools, "mint", db_url, str(distinct_count(args)), files["distinct"]], check=True)

    s = {}
    s["check_reused_verify"] = measure(server, base + "/api/v1/auth/verify/", "check.lua", {"TOKENS": files["access"]}, args)
    s["check_distinct_verify"] = measure(server, base + "/api/v1/auth/verify/", "check.lua", {"TOKENS": files["distinct"], "MODE": "distinct"}, args)
    s["user_get_reused"] = measure(server, base + "/api/v1/auth/user/", "check.lua", {"TOKENS": files["access"], "CHECK_PATH": "/api/v1/auth/user/"}, args)
    s["jwks"] = measure(server, base + "/.well-known/jwks.json", None, {}, args)
    s["refresh_rotation"] = measure(server, base + "/api/v1/auth/custom-refresh/", "refresh.lua", {"TOKENS": files["refresh_a"]}, args)
    s["signin"] = measure(server, base + "/api/v1/auth/signin/", "signin.lua", {"USERS": files["users"]}, args)
    # Token-check latency alone, then while sign-in saturates the CPU (bcrypt on the hashing
    # threads), then while a SCHED_IDLE bcrypt load in processes of its own does (authgate not
    # involved: the floor this machine sets). A 4-connection p99 swings several-fold between
    # runs of the same binary (0.25 to 8 ms idle on 2026-12-02), so the triple is measured
    # PAIRS times, interleaved, for half the duration each, and the target is judged on the
    # median of the sign-in/idle ratios; every ratio is reported.
    check = lambda: measure(server, base + "/api/v1/auth/verify/", "check.lua", {"TOKENS": files["access"]}, args,
                            connections=4, threads=1, duration=max(1, args.duration // 2))
    pairs, floors = [], []
    for k in range(1 if args.smoke else PAIRS):
        suffix = "" if k == 0 else f"_{k + 1}"
        idle = check()
        with background([["wrk", "-t1", "-c16", f"-d{max(1, args.duration // 2) + 2}s", "-s", "bench/signin.lua",
                          base + "/api/v1/auth/signin/"]], {"USERS": files["users"], "THREADS": "1"}):
            during = check()
        time.sleep(3 if args.profile != "release" else 1)  # let queued sign-ins finish first
        burn = [["chrt", "-i", "0", tools, "bcrypt", "10", str(max(1, args.duration // 2) + 2)]] * (os.cpu_count() or 1)
        with background(burn if shutil.which("chrt") else [], {}):
            floor = check()
        s["check_light_idle" + suffix] = idle
        s["check_light_during_signin" + suffix] = during
        s["check_light_during_idle_burn" + suffix] = floor
        pairs.append(during["p99_ms"] / max(idle["p99_ms"], 1e-9))
        floors.append(floor["p99_ms"] / max(idle["p99_ms"], 1e-9))
    r["check_p99_ratios"] = pairs
    r["check_p99_floor_ratios"] = floors
    s["mixed"] = measure(server, base + "/api/v1/auth/verify/", "mixed.lua", {"TOKENS": files["access"], "USERS": files["users"], "REFRESH": files["refresh_b"]}, args)
    r["peak_rss_mixed_mb"] = s["mixed"]["server_peak_rss_mb"]
    server.stop()
    runs, ratios = revocation_list_ab(binary, env, backend, db_url, files["access"], args)
    s.update(runs)
    r["revocation_list_ratios"] = ratios
    r["scenarios"] = s
    if backend == "postgresql" and not args.smoke:
        ceiling = postgres_ceiling(db_url, args, work)
        if ceiling:
            r["postgres_refresh_ceiling"] = ceiling
    return r


def seed_revoked(backend, db_url, n):
    """`n` sessions of an existing user ended just now, as after a wave of sign-outs: every
    replica's revocation list holds them for one access-token lifetime."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")
    if backend == "sqlite":
        import sqlite3
        db = sqlite3.connect(db_url[len("sqlite://"):], timeout=30)
        user = db.execute("SELECT id FROM users LIMIT 1").fetchone()[0]
        stamp, until = fmt(now), fmt(now + datetime.timedelta(days=1))
        db.executemany(
            "INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, last_used_at, "
            "expires_at, remember_me, amr, aal, revoked_at, revoked_reason) "
            "VALUES (?, ?, x'00', 0, ?, ?, ?, ?, 0, '[\"pwd\"]', 'aal1', ?, 'logout')",
            [(str(uuid.uuid4()), user, stamp, stamp, stamp, until, stamp) for _ in range(n)])
        db.commit()
        db.close()
    else:
        utc = "(now() AT TIME ZONE 'utc')"
        subprocess.run(["psql", db_url, "-qc",
                        "INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, last_used_at, "
                        "expires_at, remember_me, amr, aal, revoked_at, revoked_reason) "
                        f"SELECT gen_random_uuid()::text, (SELECT id FROM users LIMIT 1), '\\x00'::bytea, 0, {utc}, {utc}, "
                        f"{utc}, {utc} + interval '1 day', false, '[\"pwd\"]', 'aal1', {utc}, 'logout' "
                        f"FROM generate_series(1, {n})"], check=True)


def revocation_list_ab(binary, env, backend, db_url, access_file, args):
    """The reused-token check with the revocation list off (`AUTHGATE_REVOCATION_LIST_INTERVAL=0`)
    and on (REVOKED ended sessions listed): the same binary started twice on the same database,
    measured one after the other in alternating order. Returns the runs and the on/off ratios."""
    seed_revoked(backend, db_url, REVOKED)
    servers = {}
    try:
        for mode, interval in (("off", "0"), ("on", "5s")):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            servers[mode] = (Proc([binary, "serve"], {**env, "AUTHGATE_LISTEN": f"127.0.0.1:{port}",
                                                      "AUTHGATE_REVOCATION_LIST_INTERVAL": interval}), base)
            wait_ready(base)
        runs, ratios = {}, []
        for k in range(1 if args.smoke else PAIRS):
            got = {}
            for mode in (("off", "on") if k % 2 == 0 else ("on", "off")):
                server, base = servers[mode]
                got[mode] = measure(server, base + "/api/v1/auth/verify/", "check.lua", {"TOKENS": access_file}, args)
            suffix = "" if k == 0 else f"_{k + 1}"
            runs["check_reused_verify_list_off" + suffix] = got["off"]
            runs["check_reused_verify_list_on" + suffix] = got["on"]
            ratios.append(got["on"]["rps"] / max(got["off"]["rps"], 1e-9))
        return runs, ratios
    finally:
        for server, _ in servers.values():
            server.stop()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[(n - 1) // 2] + xs[n // 2]) / 2 if n else float("nan")


def verdict(ok):
    return "met" if ok else "**missed**"


def report(c, results, args):
    lines = [
        "# authgate benchmark results", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}",
        f"- load: wrk {args.threads} threads × {args.connections} connections, {args.duration} s per scenario, on the same machine as the server",
        f"- command: `python3 bench/run.py{' --smoke' if args.smoke else ''}`",
        "",
        "## Ceilings (same run)", "",
        "| ceiling | requests/s | p50 ms | p99 ms | CPU (cores): server / wrk |", "| --- | --- | --- | --- | --- |",
    ]
    for k, v in c.items():
        lines.append(f"| {k} | {v['rps']:.0f} | {v.get('p50_ms', 0):.3f} | {v.get('p99_ms', 0):.3f} | {v.get('server_cpu_cores', 0):.2f} / {v.get('wrk_cpu_cores', 0):.2f} |")
    for backend, r in results.items():
        s = r["scenarios"]
        lines += ["", f"## authgate on {backend}", "",
                  "| scenario | requests/s | p50 ms | p99 ms | errors | non-2xx | CPU (cores): server / wrk / PostgreSQL | peak RSS MB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for k, v in s.items():
            cpu = f"{v['server_cpu_cores']:.2f} / {v.get('wrk_cpu_cores', 0):.2f} / {v.get('postgres_cpu_cores', 0):.2f}"
            lines.append(f"| {k} | {v['rps']:.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['errors']} | {v['non2xx']} | {cpu} | {v['server_peak_rss_mb']:.1f} |")
        pc = r.get("postgres_refresh_ceiling")
        if pc:
            lines.append(f"| ceiling: PostgreSQL alone running the refresh's SQL (pgbench, authgate stopped; p50 = mean latency) | {pc['rps']:.0f} | {pc['p50_ms']:.3f} | | {pc['errors']} | | – / {pc['wrk_cpu_cores']:.2f} (pgbench) / {pc['postgres_cpu_cores']:.2f} | |")
        lines += ["", f"Start to `/readyz` 200: {r['start_to_ready_ms']:.0f} ms on an existing database "
                  f"({r['start_to_ready_new_db_ms']:.0f} ms creating it); idle RSS {r['idle_rss_mb']:.1f} MB; "
                  f"peak RSS under the mixed load {r['peak_rss_mixed_mb']:.1f} MB."]
    sq = results.get("sqlite")
    if sq:
        s = sq["scenarios"]
        t = [
            (f"token check, reused tokens ≥ 80 % of the bare handler fed the same requests (of the bare plain GET: {s['check_reused_verify']['rps'] / c['bare_get']['rps'] * 100:.0f} %)",
             s["check_reused_verify"]["rps"] / c.get("bare_get_same_requests", c["bare_get"])["rps"], 0.80),
            ("token check, distinct tokens ≥ 90 % of the Ed25519-verifying handler (as many distinct tokens, same script)", s["check_distinct_verify"]["rps"] / c["ed25519_verify_distinct"]["rps"], 0.90),
            ("sign-in ≥ 90 % of the bcrypt ceiling (all cores)", s["signin"]["rps"] / c["bcrypt_all_cores"]["rps"], 0.90),
        ]
        ratios = sq["check_p99_ratios"]
        p99_ratio = median(ratios)
        lines += ["", "## Targets (SQLite)", "", "| target | measured | verdict |", "| --- | --- | --- |"]
        for name, ratio, goal in t:
            lines.append(f"| {name} | {ratio * 100:.0f} % | {verdict(ratio >= goal)} |")
        each = ", ".join(f"{x:.2f}×" for x in ratios)
        floors = sq.get("check_p99_floor_ratios") or []
        floor = f"; a SCHED_IDLE bcrypt load in other processes, authgate not involved: median {median(floors):.2f}× ({', '.join(f'{x:.2f}×' for x in floors)})" if floors else ""
        lines.append(f"| token-check p99 during saturated sign-in ≤ 2× idle p99 (median of {len(ratios)} interleaved pairs: {each}{floor}) | {p99_ratio:.2f}× | {verdict(p99_ratio <= 2)} |")
        rr = s["refresh_rotation"]
        lines.append(f"| refresh with rotation ≥ 7,000/s, zero errors | {rr['rps']:.0f}/s, {rr['errors'] + rr['non2xx']} errors | {verdict(rr['rps'] >= 7000 and rr['errors'] + rr['non2xx'] == 0)} |")
        pg = results.get("postgresql")
        if pg:
            prr = pg["scenarios"]["refresh_rotation"]["rps"]
            lines.append(f"| refresh on PostgreSQL within 2× of SQLite | {prr:.0f}/s ({rr['rps'] / max(prr, 1):.2f}×) | {verdict(prr * 2 >= rr['rps'])} |")
            pc = pg.get("postgres_refresh_ceiling")
            if pc:
                lines.append(f"| (PostgreSQL alone running the refresh's SQL, pgbench: {pc['rps']:.0f}/s, "
                             f"{pc['rps'] * 2 / max(rr['rps'], 1) * 100:.0f} % of what within 2× needs; "
                             f"authgate's refresh is {prr / max(pc['rps'], 1) * 100:.0f} % of it) | | |")
        lr = sq.get("revocation_list_ratios") or []
        if lr:
            lines.append(f"| reused-token check with the revocation list on ({REVOKED:,} ended sessions listed) ≥ 95 % of it off "
                         f"(median of {len(lr)} interleaved pairs: {', '.join(f'{x * 100:.1f} %' for x in lr)}) | "
                         f"{median(lr) * 100:.1f} % | {verdict(median(lr) >= 0.95)} |")
        lines.append(f"| peak RSS under the mixed load ≤ 32 MB | {sq['peak_rss_mixed_mb']:.1f} MB | {verdict(sq['peak_rss_mixed_mb'] <= 32)} |")
        lines.append(f"| idle RSS ≤ 24 MB | {sq['idle_rss_mb']:.1f} MB | {verdict(sq['idle_rss_mb'] <= 24)} |")
        lines.append(f"| start to `/readyz` ≤ 100 ms (existing SQLite database) | {sq['start_to_ready_ms']:.0f} ms | {verdict(sq['start_to_ready_ms'] <= 100)} |")
    return "\n".join(lines) + "\n"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("AUTHGATE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--smoke", action="store_true", help="a few seconds, SQLite only, results under bench/results/ (CI)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--profile", default="release", help="binaries to use (debug only to test the scripts)")
    args = ap.parse_args()
    global PROFILE
    PROFILE = args.profile
    if args.smoke:
        args.duration, args.connections, args.backends = 1, 4, "sqlite"
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    build(args)
    work = tempfile.mkdtemp(prefix="authgate-bench-")
    c = ceilings(args, work)
    results = {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            results["sqlite"] = run_backend("sqlite", f"sqlite://{work}/bench.db", args, work)
        else:
            name = f"authgate_bench_{os.getpid()}"
            admin = args.pg_url
            subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
            try:
                results["postgresql"] = run_backend("postgresql", admin.rsplit("/", 1)[0] + "/" + name, args, work)
            finally:
                subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    text = report(c, results, args)
    broken = failed_scenarios(results)
    out_dir = os.path.join(ROOT, "bench", "results") if args.smoke else os.path.join(ROOT, "bench")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "RESULTS.md")
    open(out, "w").write(text + kept_scale_section(out))
    json.dump({"ceilings": c, "results": results}, open(os.path.join(out_dir, "results.json"), "w"), indent=1)
    print(text)
    print(f"written to {out}")
    shutil.rmtree(work, ignore_errors=True)
    if broken:
        # Every scenario sends requests that must succeed: a fast run of refusals (a verify/ that
        # answers 401 to everything) is a broken service, not a fast one.
        sys.exit("scenarios with errors or non-2xx answers: " + "; ".join(broken))


def kept_scale_section(path):
    """The scale run's section of RESULTS.md (bench/scale.py writes it; it takes far longer than
    this run), carried over when this run rewrites the file."""
    begin, end = "<!-- scale run: bench/scale.py -->", "<!-- /scale run -->"
    text = open(path).read() if os.path.exists(path) else ""
    if begin in text and end in text:
        return "\n" + text[text.index(begin):text.index(end) + len(end)] + "\n"
    return ""


def failed_scenarios(results):
    """Every scenario that had socket errors or non-2xx answers, or answered nothing."""
    out = []
    for backend, r in results.items():
        for name, v in r.get("scenarios", {}).items():
            if v.get("errors", 0) or v.get("non2xx", 0) or not v.get("rps"):
                out.append(f"{backend} {name}: {v.get('rps', 0):.0f} requests/s, {v.get('errors', 0)} socket errors, "
                           f"{v.get('non2xx', 0)} non-2xx")
    return out


if __name__ == "__main__":
    main()
