#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind (stable on a loaded machine, where
wall-clock figures are not).

    python3 bench/callgrind.py                  # cached verify/ and the bare handler, 2,000 each
    python3 bench/callgrind.py --only verify --requests 5000 --keep

Each server runs under callgrind with one HTTP worker; after a warm-up the counters are zeroed,
N keep-alive requests are sent one after another, and the counters are dumped: the total over N
is the cost of one request, connection set-up amortised away. `--keep` leaves the dumps in
bench/results/ for `callgrind_annotate --inclusive=yes FILE`. Needs release binaries
(`cargo build --release --bin authgate --example bench-tools`).
"""
import argparse
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from run import ROOT, free_port


def connect(port, timeout=600):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return c
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def call(conn, method, path, headers=None, body=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, r.getheaders(), data


def profile(name, cmd, env, port, prepare, request, args, out_dir):
    """Runs `cmd` under callgrind; returns instructions per `request`."""
    dump = os.path.join(out_dir, f"callgrind.{name}")
    p = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}.%p", *cmd],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = connect(port)
        headers = prepare(conn)
        for _ in range(args.warmup):
            request(conn, headers)
        subprocess.run(["callgrind_control", "--zero", str(p.pid)], check=True, capture_output=True)
        for _ in range(args.requests):
            request(conn, headers)
        subprocess.run(["callgrind_control", "--dump", str(p.pid)], check=True, capture_output=True)
    finally:
        p.terminate()
        p.wait(timeout=120)
    # The dump taken on request (".1" suffix), not the one written at exit.
    files = sorted(glob.glob(f"{dump}.{p.pid}.1"))
    total = 0
    for line in open(files[0]):
        if line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
            break
    return total / args.requests, files[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--only", choices=["verify", "bare", "jwks"], action="append")
    ap.add_argument("--keep", action="store_true", help="keep the dumps in bench/results/")
    ap.add_argument("--profile", default="release")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install valgrind")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, args.profile, "authgate")
    tools = os.path.join(target, args.profile, "examples", "bench-tools")
    work = tempfile.mkdtemp(prefix="authgate-callgrind-")
    out_dir = os.path.join(ROOT, "bench", "results") if args.keep else work
    os.makedirs(out_dir, exist_ok=True)
    only = args.only or ["verify", "bare"]
    results = {}

    def authgate_env(port):
        return {"AUTHGATE_LISTEN": f"127.0.0.1:{port}", "AUTHGATE_DATABASE_URL": f"sqlite://{work}/cg.db",
                "AUTHGATE_LOG": "warn", "AUTHGATE_LOG_FORMAT": "json", "AUTHGATE_COOKIE_SECURE": "false",
                "AUTHGATE_WORKERS": "1", "AUTHGATE_BCRYPT_COST": "4"}

    def signed_in(conn):
        body = json.dumps({"email": "cg@example.com", "password": "callgrind password 1", "name": "Cg"})
        call(conn, "POST", "/api/v1/auth/signup/", {"Content-Type": "application/json"}, body)
        body = json.dumps({"grant_type": "password", "login": "cg@example.com", "password": "callgrind password 1"})
        status, _, data = call(conn, "POST", "/api/v1/auth/token/", {"Content-Type": "application/json"}, body)
        assert status == 200, (status, data)
        return {"Authorization": "Bearer " + json.loads(data)["access_token"]}

    def get(path, expect):
        def request(conn, headers):
            status, _, _ = call(conn, "GET", path, headers)
            assert status == expect, status
        return request

    if "verify" in only:
        port = free_port()
        results["verify_cached"] = profile("verify", [binary, "serve"], authgate_env(port), port, signed_in,
                                           get("/api/v1/auth/verify/", 204), args, out_dir)
    if "jwks" in only:
        port = free_port()
        results["jwks"] = profile("jwks", [binary, "serve"], authgate_env(port), port, lambda c: {},
                                  get("/.well-known/jwks.json", 200), args, out_dir)
    if "bare" in only:
        port = free_port()
        token_file = os.path.join(work, "tokens")
        results["bare_get"] = profile("bare", [tools, "ceiling", f"127.0.0.1:{port}", token_file, "1"], {}, port,
                                      lambda c: {}, get("/plain", 200), args, out_dir)
    for name, (per_request, dump) in results.items():
        print(f"{name}: {per_request:,.0f} instructions per request" + (f" ({dump})" if args.keep else ""))
    if "verify_cached" in results and "bare_get" in results:
        print(f"verify/ cached / bare handler: {results['verify_cached'][0] / results['bare_get'][0]:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
