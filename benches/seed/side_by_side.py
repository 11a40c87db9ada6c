#!/usr/bin/env python3
"""Quick side-by-side of copy commands into one filesystem, with their CPU time.

    side_by_side.py FS SRC ROUNDS NAME=COMMAND...

COMMAND is run with `bash -c`, SRC and DST substituted; DST is a new directory
under FS for every run (nothing is deleted during the runs: on ext4 without a
journal, creating inodes right after a large `rm -rf` pays for
recently_deleted(), see docs/seed.md#benchmark; remove FS's contents yourself
afterwards). Rounds are interleaved (every command once per round). For each run:
the command's wall time, the wall time to the end of a `sync -f FS` after it,
and the user+sys CPU time of the command's processes. Prints the medians.

    benches/seed/side_by_side.py /var/tmp/d /mnt/src/small 4 \\
        "rofs=rofs-agent seed -q SRC DST" "cpz=cpz SRC DST"
"""
import os
import resource
import statistics
import subprocess
import sys
import time

fs, src, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
tools = [a.split("=", 1) for a in sys.argv[4:]]
res = {n: [] for n, _ in tools}
k = 0
for r in range(rounds):
    for n, cmd in tools:
        k += 1
        dst = f"{fs}/r{os.getpid()}_{k}"
        subprocess.run(["sync", "-f", fs], check=True)
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(["bash", "-c", cmd.replace("SRC", src).replace("DST", dst)], check=True)
        t1 = time.perf_counter()
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["sync", "-f", fs], check=True)
        t2 = time.perf_counter()
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        res[n].append((t1 - t0, t2 - t0, cpu))
for n, v in res.items():
    def med(i):
        return statistics.median(x[i] for x in v) * 1000
    runs = " ".join(f"{x[1] * 1000:.0f}/{x[2] * 1000:.0f}" for x in v)
    print(f"{n:14} copy {med(0):7.0f} ms  +sync {med(1):7.0f} ms  cpu {med(2):7.0f} ms   (runs, +sync/cpu: {runs})")
