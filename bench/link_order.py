#!/usr/bin/env python3
"""Regenerates bench/link-order.txt, the order in which the release link lays out authgate's
functions (build.rs passes it to the linker as `--symbol-ordering-file`).

    python3 bench/link_order.py            # builds the release binary first
    python3 bench/link_order.py --no-build

Why: the kernel maps file pages of code 64 KB at a time around each page fault (fault-around),
and the code run at start (clap, migrations, SQLite, TLS roots, tokio, actix) is spread over the
whole 12 MB of text, so an idle server had 8 MB of it resident. Laid out together, the start-up
code is about 2 MB. The functions that serving requests runs come next, so a busy server's code
is dense as well; everything else keeps the compiler's order.

How: authgate runs under valgrind's callgrind on an existing SQLite database; the instruction
addresses it executed are dumped once `/readyz` answers and it has idled a second, and again
after a round of the common requests (sign-up, sign-in, token checks, refresh, JWKS, sign-out).
Each address is mapped to its function with `nm`. The file names symbols exactly as this
toolchain and Cargo.lock mangle them: after a toolchain or dependency update, regenerate it
(stale names are skipped by the linker, so a stale file only loses the gain; bench/run.py
reports how many of its names the binary has).
"""
import argparse
import bisect
import os
import subprocess
import sys
import tempfile
import time

from run import ROOT, PASSWORD, cookie, free_port, http, seed, target_dir, wait_ready

OUT = os.path.join(ROOT, "bench", "link-order.txt")


def functions(binary):
    """(start, size, name) of every function in `binary`, by address."""
    out = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            syms.append((int(p[0], 16), int(p[1], 16), p[3]))
    return sorted(syms)


def executed(dump, binary):
    """Instruction addresses in `binary` that a callgrind dump (--dump-instr=yes) counts."""
    obj, seen = None, set()
    for line in open(dump):
        if line.startswith("ob="):
            obj = line[3:].strip()
        elif line.startswith("0x") and obj == binary:
            seen.add(int(line.split()[0], 16))
    return seen


def names(addresses, syms):
    """The functions containing `addresses`, in address order."""
    starts = [s[0] for s in syms]
    hit = set()
    for a in addresses:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and syms[i][0] <= a < syms[i][0] + max(syms[i][1], 1):
            hit.add(i)
    return [syms[i][2] for i in sorted(hit)]


def requests(base):
    """The requests a typical client makes, a few times each."""
    _, access, refresh = seed(base, 2, 4)
    bearer = {"Authorization": f"Bearer {access[0]}"}
    for _ in range(3):
        http("POST", base + "/api/v1/auth/signin/", {"login": "bench0@example.com", "password": PASSWORD})
        http("POST", base + "/api/v1/auth/signin/", {"login": "bench0@example.com", "password": "wrong password"})
        for path in ("/api/v1/auth/verify/", "/api/v1/auth/user/", "/api/v1/auth/sessions/"):
            http("GET", base + path, headers=bearer)
        http("GET", base + "/api/v1/auth/verify/", headers={"Authorization": "Bearer not.a.token"})
        http("GET", base + "/.well-known/jwks.json")
        http("GET", base + "/healthz")
    token = refresh[1]
    for _ in range(3):
        _, _, _, cookies = http("POST", base + "/api/v1/auth/custom-refresh/", headers={"Cookie": f"refresh_token={token}"})
        token = cookie(cookies, "refresh_token") or token
    http("POST", base + "/api/v1/auth/custom-logout/", headers={"Cookie": f"refresh_token={token}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "authgate"], cwd=ROOT, check=True)
    binary = os.path.realpath(os.path.join(target_dir(), "release", "authgate"))
    work = tempfile.mkdtemp(prefix="authgate-order-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AUTHGATE_LISTEN": f"127.0.0.1:{port}", "AUTHGATE_DATABASE_URL": f"sqlite://{work}/order.db",
           "AUTHGATE_LOG": "warn", "AUTHGATE_COOKIE_SECURE": "false",
           "AUTHGATE_RATE_LIMIT_AUTH": "0", "AUTHGATE_RATE_LIMIT_REFRESH": "0", "AUTHGATE_RATE_LIMIT_API": "0",
           "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES": "0"}
    # The first start creates the database; the profiled one is the common case, an existing one.
    first = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(base)
    first.terminate()
    first.wait()
    out = os.path.join(work, "cg.out")
    server = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                               "--compress-strings=no", f"--callgrind-out-file={out}", binary, "serve"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(base, timeout=300)
        time.sleep(1)
        subprocess.run(["callgrind_control", "--dump=started", str(server.pid)], check=True, stdout=subprocess.DEVNULL)
        requests(base)
        subprocess.run(["callgrind_control", "--dump=served", str(server.pid)], check=True, stdout=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait()
    dumps = sorted(f for f in os.listdir(work) if f.startswith("cg.out."))
    if len(dumps) < 2:
        sys.exit(f"expected two callgrind dumps in {work}, found {dumps}")
    syms = functions(binary)
    started = names(executed(os.path.join(work, dumps[0]), binary), syms)
    served = [n for n in names(executed(os.path.join(work, dumps[1]), binary), syms) if n not in set(started)]
    size = {s[2]: s[1] for s in syms}
    header = [
        "# authgate's functions in link order: generated by bench/link_order.py, read by build.rs.",
        f"# {len(started)} run from start to an idle server ({sum(size[n] for n in started) // 1024} KB), then "
        f"{len(served)} more run serving requests ({sum(size[n] for n in served) // 1024} KB).",
        f"# {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}",
    ]
    with open(OUT, "w") as f:
        f.write("\n".join(header + started + served) + "\n")
    print("\n".join(header))
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
