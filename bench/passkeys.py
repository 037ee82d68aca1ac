#!/usr/bin/env python3
"""What one passkey sign-in costs next to a password sign-in (manual; see bench/README.md,
"Passkey sign-in").

Starts the release authgate on a fresh SQLite file (or PostgreSQL with --backend postgresql) with
the rate limits off, then `bench-tools signin-cost`: the same Rust client drives password
sign-ins (`signin/`, bcrypt at the default cost 10) and passkey sign-ins (`signin/passkey/options/`,
an ES256 assertion signed by the tests' software authenticator, `signin/passkey/`) over the same
number of concurrent loops. wrk cannot sign assertions, so both go through this client and the
password figure is the control. Prints the figures and writes bench/results/passkeys.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (Proc, free_port, wait_ready, target_dir, ...)

ORIGIN = "http://localhost:5173"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    bench.build(args)
    release = os.path.join(bench.target_dir(), bench.PROFILE)
    with tempfile.TemporaryDirectory() as work:
        if args.backend == "sqlite":
            db_url, drop = f"sqlite://{work}/authgate.db", None
        else:
            admin = os.environ.get("AUTHGATE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            name = f"authgate_passkeys_{os.getpid()}"
            subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
            db_url = admin.rsplit("/", 1)[0] + f"/{name}"
            drop = (admin, name)
        port = bench.free_port()
        env = {"AUTHGATE_LISTEN": f"127.0.0.1:{port}", "AUTHGATE_DATABASE_URL": db_url,
               "AUTHGATE_LOG": "warn", "AUTHGATE_COOKIE_SECURE": "false",
               "AUTHGATE_WEBAUTHN_RP_ID": "localhost", "AUTHGATE_WEBAUTHN_ORIGINS": ORIGIN,
               "AUTHGATE_RATE_LIMIT_AUTH": "0", "AUTHGATE_RATE_LIMIT_REFRESH": "0",
               "AUTHGATE_RATE_LIMIT_API": "0", "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES": "0"}
        server = bench.Proc([os.path.join(release, "authgate")], env)
        try:
            base = f"http://127.0.0.1:{port}"
            bench.wait_ready(base)
            out = subprocess.run([os.path.join(release, "examples", "bench-tools"), "signin-cost", base, ORIGIN,
                                  str(args.seconds), str(args.connections)],
                                 capture_output=True, text=True, check=True).stdout
        finally:
            server.stop()
            if drop:
                subprocess.run(["psql", drop[0], "-qc", f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)'])
    figures = json.loads(out)
    figures["backend"], figures["seconds"], figures["connections"] = args.backend, args.seconds, args.connections
    os.makedirs(os.path.join(bench.ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(bench.ROOT, "bench", "results", "passkeys.json"), "w") as f:
        json.dump(figures, f, indent=2)
    print(f"| sign-in ({args.backend}, {args.connections} loops, {args.seconds} s) | per second | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    for kind in ("password", "passkey"):
        r = figures[kind]
        print(f"| {kind} | {r['per_second']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
