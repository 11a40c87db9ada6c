#!/usr/bin/env python3
"""Side-by-side benchmark of `rofs-agent sync` and the loops people write.

Each peer watches its own SRC (a faithful kubelet AtomicWriter layout of a
10-file config) and copies it to its own DST. The driver then:

1. lets all peers sit idle for IDLE seconds and counts their wakeups
   (voluntary + involuntary context switches of their long-lived processes,
   from /proc/PID/status) and their RSS;
2. per peer, performs SWAPS atomic swaps (new timestamped dir, ..data_tmp,
   rename over ..data, visible symlinks, old dir removed), each changing all
   10 files, and measures the time from the rename of ..data to the new
   content of all 10 files being readable in DST (polling DST);
3. records RSS under churn (peak VmHWM of the main process, and the sum of
   VmRSS over the peer's process tree sampled during the swaps).

Prints a Markdown table. Usage: driver.py ROFS_AGENT_BINARY WORKDIR
(env: SWAPS, POLL_SWAPS, IDLE)."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

FILES = 10
SWAPS = int(os.environ.get("SWAPS", "1000"))
POLL_SWAPS = int(os.environ.get("POLL_SWAPS", "30"))
IDLE = int(os.environ.get("IDLE", "60"))
TIMEOUT = 5.0


class AtomicWriter:
    """pkg/volume/util/atomic_writer.go, step by step."""

    def __init__(self, d):
        self.d = d
        self.n = 0
        os.makedirs(d, exist_ok=True)

    def write(self, payload):
        link = os.path.join(self.d, "..data")
        old = os.readlink(link) if os.path.islink(link) else None
        self.n += 1
        ts = "..2026_11_27_02_15_39.%09d" % self.n
        os.mkdir(os.path.join(self.d, ts), 0o755)
        for name, content in payload.items():
            p = os.path.join(self.d, ts, name)
            with open(p, "w") as f:
                f.write(content)
            os.chmod(p, 0o644)
        os.symlink(ts, os.path.join(self.d, "..data_tmp"))
        os.rename(os.path.join(self.d, "..data_tmp"), link)
        t0 = time.perf_counter_ns()
        for name in payload:
            v = os.path.join(self.d, name)
            if not os.path.lexists(v):
                os.symlink("..data/" + name, v)
        for e in os.listdir(self.d):
            if not e.startswith("..") and e not in payload:
                os.remove(os.path.join(self.d, e))
        if old:
            shutil.rmtree(os.path.join(self.d, old))
        return t0


def payload(version):
    pad = "x" * 1000
    return {"f%02d.conf" % i: "version=%d file=%d\n%s\n" % (version, i, pad) for i in range(FILES)}


def tree(pid):
    """pid and all its descendants."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def status(pid):
    d = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def kib(s):
    return int(s.split()[0]) if s else 0


def tree_rss(pid):
    return sum(kib(status(p).get("VmRSS")) for p in tree(pid))


def switches(pids):
    n = 0
    for p in pids:
        s = status(p)
        n += int(s.get("voluntary_ctxt_switches", 0)) + int(s.get("nonvoluntary_ctxt_switches", 0))
    return n


def wait_visible(dst, version):
    want = "version=%d " % version
    last = os.path.join(dst, "f%02d.conf" % (FILES - 1))
    deadline = time.perf_counter() + TIMEOUT
    while True:
        try:
            with open(last) as f:
                if f.read().startswith(want):
                    ok = True
                    for i in range(FILES):
                        with open(os.path.join(dst, "f%02d.conf" % i)) as g:
                            if not g.read().startswith(want):
                                ok = False
                                break
                    if ok:
                        return time.perf_counter_ns()
        except OSError:
            pass
        if time.perf_counter() > deadline:
            return None
        time.sleep(0.00005)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    agent, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    peers = {
        "rofs-agent sync": lambda s, d: [agent, "sync", "--state-dir", d + ".state", s, d],
        "inotifywait + cp -aL loop": lambda s, d: [
            "bash", "-c",
            'inotifywait -m -q -e create,moved_to,delete,close_write "$0" | '
            'while read -r _; do cp -aL "$0"/* "$1"/; done', s, d],
        "polling loop (1 s) + cp -aL": lambda s, d: [
            "bash", "-c", 'while sleep 1; do cp -aL "$0"/* "$1"/; done', s, d],
    }
    run = {}
    for i, (name, cmd) in enumerate(peers.items()):
        src, dst = os.path.join(work, "src%d" % i), os.path.join(work, "dst%d" % i)
        os.makedirs(dst)
        aw = AtomicWriter(src)
        aw.write(payload(0))
        subprocess.run(["cp", "-aL"] + [os.path.join(src, e) for e in sorted(os.listdir(src)) if not e.startswith("..")] + [dst], check=True)
        p = subprocess.Popen(cmd(src, dst), stderr=subprocess.DEVNULL, start_new_session=True)
        run[name] = dict(p=p, aw=aw, src=src, dst=dst)
    time.sleep(2)  # settle: start-up passes, the first poll

    # 1. idle
    for r in run.values():
        r["pids"] = tree(r["p"].pid)
        r["sw0"] = switches(r["pids"])
        r["rss_idle"] = tree_rss(r["p"].pid)
    time.sleep(IDLE)
    for r in run.values():
        # The polling loop's `sleep` and `cp` are new processes each second:
        # count bash's wakeups (one per child exit) plus one per spawned child.
        r["wakeups"] = (switches(r["pids"]) - r["sw0"]) * 60.0 / IDLE

    # 2. swaps
    for name, r in run.items():
        n = POLL_SWAPS if name.startswith("polling") else SWAPS
        lat, missed, rss_max = [], 0, 0
        for v in range(1, n + 1):
            t0 = r["aw"].write(payload(v))
            t1 = wait_visible(r["dst"], v)
            if t1 is None:
                missed += 1
            else:
                lat.append((t1 - t0) / 1e6)
            if v % 25 == 0:
                rss_max = max(rss_max, tree_rss(r["p"].pid))
        r.update(lat=lat, missed=missed, n=n, rss_churn=rss_max,
                 hwm=kib(status(r["p"].pid).get("VmHWM")))
        # deletions: remove f05 from the source; does DST follow?
        pl = payload(n + 1)
        del pl["f05.conf"]
        r["aw"].write(pl)
        wait_visible(r["dst"], n + 1)
        deadline = time.time() + 3
        while os.path.exists(os.path.join(r["dst"], "f05.conf")) and time.time() < deadline:
            time.sleep(0.01)
        r["deletes"] = not os.path.exists(os.path.join(r["dst"], "f05.conf"))
        # symlinks in DST?
        r["symlinks"] = sum(os.path.islink(os.path.join(r["dst"], e)) for e in os.listdir(r["dst"]))

    for r in run.values():
        os.killpg(r["p"].pid, signal.SIGTERM)
        r["p"].wait()

    print("| peer | swaps | p50 ms | p99 ms | max ms | missed | RSS idle | RSS churn (peak) | wakeups/min idle | deletes | symlinks in DST |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in run.items():
        l = r["lat"] or [float("nan")]
        print("| %s | %d | %.2f | %.2f | %.2f | %d | %.1f MiB | %.1f MiB | %.0f | %s | %d |" % (
            name, r["n"], statistics.median(l), pct(l, 99), max(l), r["missed"],
            r["rss_idle"] / 1024.0, max(r["rss_churn"], r["hwm"]) / 1024.0, r["wakeups"],
            "yes" if r["deletes"] else "no", r["symlinks"]))


if __name__ == "__main__":
    main()
