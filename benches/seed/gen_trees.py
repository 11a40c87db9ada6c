#!/usr/bin/env python3
"""Generates the three benchmark trees of benches/seed/run.sh (deterministic).

  appserver: ~12k files, ~200 MB: jars of 50 KB-5 MB, many small
             XML/properties files, depth ~8, some symlinks
  small:     50k files of 1-4 KB
  large:     3 files of 500 MB
"""
import os
import random
import sys


def write(path, size, rnd, block):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            off = rnd.randrange(0, len(block) - n + 1) if n < len(block) else 0
            f.write(block[off:off + n])
            left -= n


def appserver(root, rnd, block):
    mods = ["standalone", "modules", "domain", "bin", "docs", "welcome-content", "appclient"]
    files = 0
    total = 0
    # 110 jars: 50 KB - 5 MB, ~170 MB
    for i in range(110):
        d = os.path.join(root, "modules", "system", "layers", "base",
                         "org", f"group{i % 23}", f"artifact{i}", "main")
        os.makedirs(d, exist_ok=True)
        size = int(50_000 + (rnd.random() ** 2.2) * 4_950_000)
        write(os.path.join(d, f"artifact{i}-1.{i % 9}.jar"), size, rnd, block)
        write(os.path.join(d, "module.xml"), rnd.randint(600, 3000), rnd, block)
        files += 2
        total += size
    # many small xml/properties files, depth up to 8
    while files < 12_000:
        depth = rnd.randint(2, 8)
        parts = [rnd.choice(mods)] + [f"p{rnd.randint(0, 1)}" for _ in range(depth - 1)]
        d = os.path.join(root, *parts)
        os.makedirs(d, exist_ok=True)
        ext = rnd.choice([".xml", ".properties", ".xsd", ".txt", ".conf"])
        size = rnd.randint(200, 6000)
        name = os.path.join(d, f"f{files}{ext}")
        write(name, size, rnd, block)
        files += 1
        total += size
    for i in range(40):
        link = os.path.join(root, "bin", f"link{i}")
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(f"../modules/system/layers/base/org/group{i % 23}", link)
    os.chmod(os.path.join(root, "bin"), 0o755)


def small(root, rnd, block):
    for i in range(50_000):
        d = os.path.join(root, f"d{i // 1000:02d}", f"s{(i // 100) % 10}")
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        write(os.path.join(d, f"f{i}.dat"), rnd.randint(1024, 4096), rnd, block)


def large(root, rnd, block):
    os.makedirs(root, exist_ok=True)
    for i in range(3):
        write(os.path.join(root, f"blob{i}.bin"), 500 * 1024 * 1024, rnd, block)


def main():
    which, root = sys.argv[1], sys.argv[2]
    rnd = random.Random(42)
    block = os.urandom(1 << 20)
    os.makedirs(root, exist_ok=True)
    {"appserver": appserver, "small": small, "large": large}[which](root, rnd, block)


if __name__ == "__main__":
    main()
