#!/usr/bin/env python3
"""Adversarial load for `rofs webhook` (issue 9, items 2 and 3). Not part of CI: numbers, not
assertions; results are recorded in docs/webhook.md#limits-under-attack.

  stress.py review [--paths N] [--prefix P]     print a worst-case AdmissionReview on stdout
  stress.py healthz HOST:PORT [--reviews K] [--paths N] [--prefix P] [--seconds S]
        K worst-case reviews in flight (each on its own connection, sent together), while
        /healthz is asked every 100 ms on a new connection; prints /healthz latencies
        (max, p50) and each review's time and HTTP status
  stress.py idle HOST:PORT --pid PID [--conns N] [--http2] [--hold S] [--timeout S]
        open N TLS connections that send nothing (or only the HTTP/2 preface), then print
        the server's RSS (VmRSS of PID) before and after, and how many are still open after
        S seconds (closed by the server's idle timeout)

The worst-case review is a Pod CREATE whose `rofs.io/writable` annotation lists N distinct
sibling paths (`P0,P1,...,P19999`): with the default N=20000 and P=/p, ~149 KB (the issue's
"149 KB, 20,000 writable paths"); with P=/var/lib/app/d ~389 KB (the "389 KB" one). Same shape
as `worst_case_review` in crates/webhook/tests/util.rs.

Plain python3 (ssl, socket, threading): no packages.
"""
import argparse
import json
import socket
import ssl
import statistics
import sys
import threading
import time

HOST = "rofs-webhook.rofs-system.svc"


def review(paths, prefix):
    writable = ",".join(f"{prefix}{i}" for i in range(paths))
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "worst-case",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": "worst-",
                    "namespace": "default",
                    "annotations": {"rofs.io/writable": writable},
                },
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


def context(alpn):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    return ctx


def request(addr, method, path, body=b"", timeout=60):
    """One HTTP/1.1 request on a new TLS connection: (status, seconds)."""
    start = time.monotonic()
    with socket.create_connection(addr, timeout=timeout) as tcp:
        with context(["http/1.1"]).wrap_socket(tcp, server_hostname=HOST) as s:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            s.sendall(head.encode() + body)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            status = int(data.split(b" ", 2)[1]) if data else 0
            return status, time.monotonic() - start


def addr_of(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def cmd_healthz(a):
    addr = addr_of(a.addr)
    body = json.dumps(review(a.paths, a.prefix)).encode()
    results = []

    def one(i):
        try:
            results.append((i, *request(addr, "POST", "/mutate", body, timeout=120)))
        except OSError as e:
            results.append((i, str(e), 0.0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.reviews)]
    # A baseline first, on the idle server.
    base = [request(addr, "GET", "/healthz")[1] for _ in range(5)]
    for t in threads:
        t.start()
    lat, failed = [], 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end and (any(t.is_alive() for t in threads) or not lat):
        try:
            status, secs = request(addr, "GET", "/healthz", timeout=60)
            lat.append(secs)
            if status != 200:
                failed += 1
        except OSError:
            failed += 1
        time.sleep(0.1)
    for t in threads:
        t.join()
    ms = lambda v: f"{v * 1000:.1f} ms"
    print(f"review body: {len(body)} bytes, {a.paths} paths, {a.reviews} in flight")
    print(f"/healthz idle: median {ms(statistics.median(base))}")
    print(
        f"/healthz during the reviews: {len(lat)} answered, {failed} failed, "
        f"max {ms(max(lat))}, median {ms(statistics.median(lat))}"
    )
    for i, status, secs in sorted(results):
        print(f"review {i}: HTTP {status} after {secs:.2f} s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_idle(a):
    addr = addr_of(a.addr)
    before = rss_kib(a.pid)
    ctx = context(["h2"] if a.http2 else ["http/1.1"])
    conns, failed = [], 0
    for _ in range(a.conns):
        try:
            tcp = socket.create_connection(addr, timeout=a.timeout)
            s = ctx.wrap_socket(tcp, server_hostname=HOST)
            if a.http2:
                # The preface and an empty SETTINGS frame, then nothing.
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            conns.append(s)
        except OSError:
            failed += 1
    time.sleep(1)
    after = rss_kib(a.pid)
    print(
        f"{len(conns)} idle {'HTTP/2' if a.http2 else 'HTTP/1.1'} TLS connections open "
        f"({failed} failed); server RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB "
        f"with them: {(after - before) / max(len(conns), 1):.1f} KiB per connection"
    )
    if a.hold:
        time.sleep(a.hold)
        open_ = 0
        for s in conns:
            # Drain what the server sent (SETTINGS, PING, GOAWAY...): open unless EOF.
            s.settimeout(0.05)
            try:
                while s.recv(65536):
                    pass
            except (socket.timeout, ssl.SSLWantReadError):
                open_ += 1
            except (OSError, ssl.SSLError):
                pass
        print(f"after {a.hold} s: {open_} of {len(conns)} still open; RSS {rss_kib(a.pid) / 1024:.1f} MiB")
    for s in conns:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("review")
    h = sub.add_parser("healthz")
    h.add_argument("addr")
    h.add_argument("--reviews", type=int, default=2)
    h.add_argument("--seconds", type=float, default=120)
    for q in (r, h):
        q.add_argument("--paths", type=int, default=20000)
        q.add_argument("--prefix", default="/p")
    i = sub.add_parser("idle")
    i.add_argument("addr")
    i.add_argument("--pid", type=int, required=True)
    i.add_argument("--conns", type=int, default=1000)
    i.add_argument("--http2", action="store_true")
    i.add_argument("--hold", type=float, default=0)
    i.add_argument("--timeout", type=float, default=5, help="per connection and TLS handshake")
    a = p.parse_args()
    if a.cmd == "review":
        json.dump(review(a.paths, a.prefix), sys.stdout)
    elif a.cmd == "healthz":
        cmd_healthz(a)
    else:
        cmd_idle(a)


if __name__ == "__main__":
    main()
