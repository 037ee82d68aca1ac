#!/usr/bin/env python3
"""SQLite at scale: the connection pool's size and the tables' layout, an A/B (manual; see
bench/README.md).

Whether the SQLite misses of the scale run (bench/scale.py) come from how many pooled
connections share the file. In WAL mode a connection resets its whole page cache whenever
another connection committed since its last read, so with 8 pooled connections and a refresh
(one write) per request nearly every request starts cold, and the B-trees of a 5M-session file
are deeper to walk again. With fewer connections more requests find their pages cached.

The layout (--layouts): `rowid` is the schema as migrated (a text primary key is an index beside
the table, so every lookup by id searches two B-trees); `clustered` rebuilds `sessions` and
`users` as WITHOUT ROWID tables, clustered on their id (one search), to see what a migration to it
would give before writing one.

For each pool size and layout: refresh rotation and GET user/ on an empty database (the small set
run.py seeds) and on one seeded as scale.py seeds it; the variants interleaved over --rounds so
the machine's load falls on all alike; the median round kept. Server CPU per request is the
figure least moved by other load.

    python3 bench/pool_ab.py --pools 8,2,1 [--layouts rowid,clustered] [--no-build]

--builds compares builds instead (each variant also crossed with the pools and layouts), e.g. the
release binary of two commits copied aside:

    python3 bench/pool_ab.py --no-build --builds before=/tmp/authgate-a,after=/tmp/authgate-b
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import scale  # noqa: E402


def cluster(path):
    """Rebuilds `sessions` and `users` as WITHOUT ROWID tables (same columns, constraints and
    indexes), clustered on their text primary key."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = OFF")
    for table in ("sessions", "users"):
        (create,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        indexes = [r[0] for r in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
        body = create[create.index("("):]
        db.execute("BEGIN")
        db.execute(f"CREATE TABLE {table}_clustered {body} WITHOUT ROWID")
        db.execute(f"INSERT INTO {table}_clustered SELECT * FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_clustered RENAME TO {table}")
        for sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
    db.execute("VACUUM")
    db.close()


def measure(binary, db_url, pool, emails, args, work, tag):
    port = bench.free_port()
    env = scale.server_env(port, db_url, "0")
    env["AUTHGATE_DATABASE_POOL_SIZE"] = str(pool)
    server = bench.Proc([binary, "serve"], env)
    base = f"http://127.0.0.1:{port}"
    bench.wait_ready(base, timeout=120)
    try:
        access, refresh = scale.sign_in_sessions(base, emails, scale.SESSIONS)
        files = {k: os.path.join(work, f"{tag}-{k}") for k in ("access", "refresh")}
        bench.write_lines(files["access"], access)
        bench.write_lines(files["refresh"], refresh)
        out = {}
        r = bench.measure(server, base + "/api/v1/auth/user/", "check.lua",
                          {"TOKENS": files["access"], "CHECK_PATH": "/api/v1/auth/user/"}, args)
        out["user_get"] = r
        r = bench.measure(server, base + "/api/v1/auth/custom-refresh/", "refresh.lua", {"TOKENS": files["refresh"]}, args)
        out["refresh"] = r
        for k, v in out.items():
            v["us_per_request"] = v["server_cpu_cores"] / v["rps"] * 1e6 if v["rps"] else float("nan")
        print(f"  {tag}: " + ", ".join(f"{k} {v['rps']:.0f}/s ({v['us_per_request']:.0f} µs)" for k, v in out.items()), flush=True)
        return out
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pools", default="8,1")
    ap.add_argument("--layouts", default="rowid")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=5_000_000)
    ap.add_argument("--events-per-user", type=float, default=2.5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--builds", default="", help="label=path,...: binaries to compare (default: this checkout's)")
    args = ap.parse_args()
    bench.build(args)
    binary = os.path.join(bench.target_dir(), bench.PROFILE, "authgate")
    builds = dict(b.split("=", 1) for b in args.builds.split(",")) if args.builds else {"": binary}
    variants = [(label, int(p), layout) for label in builds
                for layout in args.layouts.split(",") for p in args.pools.split(",")]
    work = tempfile.mkdtemp(prefix="authgate-pool-ab-")
    try:
        # A template empty database with the small set, and a copy seeded at scale.
        empty = os.path.join(work, "empty.db")
        port = bench.free_port()
        server = bench.Proc([binary, "serve"], scale.server_env(port, f"sqlite://{empty}", "0"))
        base = f"http://127.0.0.1:{port}"
        bench.wait_ready(base, timeout=120)
        emails, _, _ = bench.seed(base, scale.USERS_SIGNED_IN, 1)
        server.stop()
        big = os.path.join(work, "scale.db")
        shutil.copy(empty, big)
        db = sqlite3.connect(big)
        password_hash = db.execute("SELECT password_hash FROM users WHERE email = 'bench0@example.com'").fetchone()[0]
        db.close()
        print(f"seeding {args.users:,} users, {args.sessions:,} sessions", flush=True)
        seconds, _ = scale.sqlite_seed(big, password_hash, args.users, args.sessions, args.events_per_user)
        print(f"  seeded in {seconds:.0f} s", flush=True)
        templates = {"rowid": (empty, big)}
        if "clustered" in args.layouts.split(","):
            ce, cb = os.path.join(work, "empty-clustered.db"), os.path.join(work, "scale-clustered.db")
            shutil.copy(empty, ce)
            shutil.copy(big, cb)
            print("clustering sessions and users (WITHOUT ROWID)", flush=True)
            cluster(ce)
            cluster(cb)
            templates["clustered"] = (ce, cb)
        results = {v: {"empty": [], "scale": []} for v in variants}
        for rnd in range(args.rounds):
            for v in variants:
                label, pool, layout = v
                e, b = templates[layout]
                fresh = os.path.join(work, f"empty-{rnd}.db")
                shutil.copy(e, fresh)
                results[v]["empty"].append(measure(builds[label], f"sqlite://{fresh}", pool, emails, args, work, f"r{rnd} {label} pool {pool} {layout} empty"))
                os.remove(fresh)
                results[v]["scale"].append(measure(builds[label], f"sqlite://{b}", pool, emails, args, work, f"r{rnd} {label} pool {pool} {layout} scale"))
        print("\n| build, pool, layout | refresh: empty → scale (ratio) | µs per refresh | `user/`: empty → scale (ratio) | µs per `user/` |")
        print("| --- | --- | --- | --- | --- |")
        for v in variants:
            cells = []
            for k in ("refresh", "user_get"):
                e = statistics.median(r[k]["rps"] for r in results[v]["empty"])
                s = statistics.median(r[k]["rps"] for r in results[v]["scale"])
                eu = statistics.median(r[k]["us_per_request"] for r in results[v]["empty"])
                su = statistics.median(r[k]["us_per_request"] for r in results[v]["scale"])
                cells += [f"{e:,.0f} → {s:,.0f}/s ({s / e:.0%})", f"{eu:.0f} → {su:.0f}"]
            print(f"| {v[0]}, {v[1]}, {v[2]} | " + " | ".join(cells) + " |")
        print("\nevery run (requests/s): " + "; ".join(
            f"{v[0]} pool {v[1]} {v[2]} {k} {ph} " + "/".join(f"{r[k]['rps']:.0f}" for r in results[v][ph])
            for v in variants for k in ("refresh", "user_get") for ph in ("empty", "scale")))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
