#!/usr/bin/env python3
"""Side-by-side benchmark of `rofs-agent sync` and the loops people write.

Each peer watches its own SRC (a faithful kubelet AtomicWriter layout of a
10-file config) and copies it to its own DST. The driver then:

1. lets all peers sit idle for IDLE seconds and counts their wakeups
   (voluntary + involuntary context switches of their long-lived processes,
   from /proc/PID/status) and their RSS;
2. performs SWAPS atomic swaps per peer, the peers in turn (new timestamped
   dir, ..data_tmp, rename over ..data, visible symlinks, old dir removed),
   each changing all 10 files, and measures the time from the rename of ..data to the new
   content of all 10 files being readable in DST (polling DST);
3. records RSS under churn (peak VmHWM of the main process, and the sum of
   VmRSS over the peer's process tree sampled during the swaps).

4. for rofs-agent: the latency from the rename of ..data to the agent's
   log line of the sync (`ts` of `--log-format json`, written after the
   last file is in place; both wall clocks of this machine): the goal's
   measure, without the writer's work after the rename nor this driver's
   polling; the latency the agent itself logs (from the inotify
   event it read to the last file in place: without the wait for a CPU
   after the wakeup either), the CPU time and the
   time runnable but waiting for a CPU per swap (/proc/PID/schedstat over
   the timed swaps: on a loaded machine the wait is what makes the tail),
   and, with strace installed, the system calls per swap
   (`strace -f -c` over STRACE_SWAPS more swaps, apart from the timed ones).

Prints a Markdown table. Usage: driver.py ROFS_AGENT_BINARY WORKDIR
[BEFORE_AGENT_BINARY] (env: SWAPS, POLL_SWAPS, IDLE, STRACE_SWAPS, POLL_US, SETTLE_MS). With a
second agent binary (an earlier build), it runs as one more peer.
POLL_US: the driver's pause between two looks at DST (default 50 µs);
SETTLE_MS: the pause after each swap before the next (default 20 ms)."""

import bisect
import json
import os
import re
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
STRACE_SWAPS = int(os.environ.get("STRACE_SWAPS", "50"))
TIMEOUT = 5.0
# How long the driver sleeps between two looks at DST (µs).
POLL_US = int(os.environ.get("POLL_US", "50"))
# The pause after each swap, before the next peer's (ms).
SETTLE_MS = int(os.environ.get("SETTLE_MS", "20"))


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
        self.renamed_at = time.time_ns()
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
        time.sleep(POLL_US / 1e6)


def schedstat(pid):
    """/proc/PID/schedstat: ns on a CPU, ns runnable but waiting for one, timeslices."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return [0, 0, 0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def agent_latencies(log):
    """The agent's own `N ms from the event` of each sync that changed something."""
    try:
        text = open(log).read()
    except OSError:
        return []
    return [float(m) for m in re.findall(r"sync [0-9.]+ ms, ([0-9.]+) ms from the event", text)]


def rename_to_done(log, renames):
    """ms from each timed rename of ..data (wall clock, just before the
    call) to the `ts` of the first sync line after it, when that line comes
    before the next rename (one per swap: the driver waits for each). []
    when the agent writes no `ts` (agents before it had one)."""
    done = []
    try:
        for line in open(log):
            if line.startswith("{"):
                o = json.loads(line)
                if o.get("event") == "sync" and "ts" in o:
                    done.append(int(round(float(o["ts"]) * 1e6)) * 1000)
    except (OSError, ValueError):
        return []
    done.sort()
    out = []
    for i, r in enumerate(renames):
        nxt = renames[i + 1] if i + 1 < len(renames) else None
        j = bisect.bisect_left(done, r)
        if j < len(done) and (nxt is None or done[j] < nxt):
            out.append((done[j] - r) / 1e6)
    return out


def syscalls_per_swap(agent, work):
    """`strace -f -c` of the agent over STRACE_SWAPS swaps: (calls per swap, top calls)."""
    if not shutil.which("strace") or STRACE_SWAPS <= 0:
        return None
    src, dst = os.path.join(work, "strace-src"), os.path.join(work, "strace-dst")
    os.makedirs(dst)
    aw = AtomicWriter(src)
    aw.write(payload(0))
    out = os.path.join(work, "strace.txt")
    p = subprocess.Popen(["strace", "-f", "-c", "-o", out, agent, "sync", "--state-dir",
                          dst + ".state", src, dst], stderr=subprocess.DEVNULL)
    time.sleep(1)
    wait_visible(dst, 0)
    # The start-up pass copies the first version: one pass more than the swaps.
    for v in range(1, STRACE_SWAPS + 1):
        aw.write(payload(v))
        wait_visible(dst, v)
    # strace ignores SIGINT while its command runs: stop the agent itself.
    for pid in tree(p.pid)[1:]:
        os.kill(pid, signal.SIGINT)
    p.wait()
    total, top = 0, []
    for line in open(out):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls = int(f[3])
            top.append((calls, f[-1]))
        if f and f[-1] == "total":
            total = int(f[3])
    top.sort(reverse=True)
    return total / (STRACE_SWAPS + 1), top[:4]


def main():
    agent, work = sys.argv[1], sys.argv[2]
    before = sys.argv[3] if len(sys.argv) > 3 else None
    shutil.rmtree(work, ignore_errors=True)
    logs = {}
    peers = {
        "rofs-agent sync": lambda s, d: [agent, "sync", "--log-format", "json", "--state-dir",
                                         d + ".state", s, d],
        "inotifywait + cp -aL loop": lambda s, d: [
            "bash", "-c",
            'inotifywait -m -q -e create,moved_to,delete,close_write "$0" | '
            'while read -r _; do cp -aL "$0"/* "$1"/; done', s, d],
        "polling loop (1 s) + cp -aL": lambda s, d: [
            "bash", "-c", 'while sleep 1; do cp -aL "$0"/* "$1"/; done', s, d],
    }
    if before:
        peers["rofs-agent sync (before)"] = lambda s, d: [
            before, "sync", "--log-format", "json", "--state-dir", d + ".state", s, d]
    run = {}
    for i, (name, cmd) in enumerate(peers.items()):
        src, dst = os.path.join(work, "src%d" % i), os.path.join(work, "dst%d" % i)
        os.makedirs(dst)
        aw = AtomicWriter(src)
        aw.write(payload(0))
        subprocess.run(["cp", "-aL"] + [os.path.join(src, e) for e in sorted(os.listdir(src)) if not e.startswith("..")] + [dst], check=True)
        err = subprocess.DEVNULL
        if name.startswith("rofs-agent"):
            logs[name] = os.path.join(work, "agent%d.log" % i)
            err = open(logs[name], "w")
        p = subprocess.Popen(cmd(src, dst), stderr=err, start_new_session=True)
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

    # 2. swaps, the peers in turn (swap v of every peer, then v + 1): the
    # machine's load changes during the run, and so it weighs on all alike.
    for name, r in run.items():
        r.update(n=POLL_SWAPS if name.startswith("polling") else SWAPS,
                 lat=[], renames=[], missed=0, rss_churn=0)
        if name in logs:
            r["sched0"] = schedstat(r["p"].pid)
    for v in range(1, SWAPS + 1):
        for r in run.values():
            if v > r["n"]:
                continue
            t0 = r["aw"].write(payload(v))
            r["renames"].append(r["aw"].renamed_at)
            t1 = wait_visible(r["dst"], v)
            if t1 is None:
                r["missed"] += 1
            else:
                r["lat"].append((t1 - t0) / 1e6)
            # A peer may still be at work after its copy is visible (the
            # inotifywait loop runs one more `cp` per event of the swap):
            # it settles before the next peer's swap, as updates of a
            # ConfigMap come seconds apart, not back to back.
            time.sleep(SETTLE_MS / 1000.0)
            if v % 25 == 0:
                r["rss_churn"] = max(r["rss_churn"], tree_rss(r["p"].pid))
    for name, r in run.items():
        n = r["n"]
        if "sched0" in r:
            d = [b - a for a, b in zip(r["sched0"], schedstat(r["p"].pid))]
            r["sched"] = (d[0] / n / 1e3, d[1] / n / 1e3)
        r["hwm"] = kib(status(r["p"].pid).get("VmHWM"))
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

    print("| peer | swaps | driver-seen p50 ms | driver-seen p99 ms | max ms | rename to done p50 / p99 / max ms | agent-logged p50 / p99 ms | CPU / run-queue wait per swap (µs) | syscalls/swap | missed | RSS idle | RSS churn (peak) | wakeups/min idle | deletes | symlinks in DST |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    tops = []
    for name, r in run.items():
        l = r["lat"] or [float("nan")]
        own, calls, commit = "-", "-", "-"
        if name in logs:
            a = agent_latencies(logs[name])
            if a:
                own = "%.2f / %.2f" % (statistics.median(a), pct(a, 99))
            c = rename_to_done(logs[name], r["renames"])
            if c:
                commit = "%.2f / %.2f / %.2f" % (statistics.median(c), pct(c, 99), max(c))
                if len(c) < len(r["renames"]):
                    commit += " (%d of %d swaps)" % (len(c), len(r["renames"]))
            binary = agent if name == "rofs-agent sync" else before
            counted = syscalls_per_swap(binary, os.path.join(work, "strace-%d" % len(tops)))
            if counted:
                calls = "%.0f" % counted[0]
                tops.append("%s: %s" % (name, ", ".join("%s %d" % (c, n) for n, c in counted[1])))
        sched = "%.0f / %.0f" % r["sched"] if "sched" in r else "-"
        print("| %s | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s | %d | %.1f MiB | %.1f MiB | %.0f | %s | %d |" % (
            name, r["n"], statistics.median(l), pct(l, 99), max(l), commit, own, sched, calls, r["missed"],
            r["rss_idle"] / 1024.0, max(r["rss_churn"], r["hwm"]) / 1024.0, r["wakeups"],
            "yes" if r["deletes"] else "no", r["symlinks"]))
    for t in tops:
        print("\nmost frequent system calls over %d swaps, %s" % (STRACE_SWAPS, t))


if __name__ == "__main__":
    main()
