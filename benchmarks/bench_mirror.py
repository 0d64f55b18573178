"""Benchmark the mirror sync against plain rsync on a 2,000-package apt tree.

Usage: ``.venv/bin/python benchmarks/bench_mirror.py [--packages 2000] [--changed 100]``

Prints (median of ``--rounds`` runs):

* no-op re-sync: ``mosmu_mirror.sync_tree`` vs ``rsync -a`` of the same tree (ratio);
* sync after ``--changed`` packages changed upstream vs ``rsync -a --delete``;
* verification throughput (full SHA256 of every pool file), MB/s, on that tree and on a
  tree of large packages (``--big-packages`` x ``--big-mb`` MB, default 64 x 4 MB), beside
  the raw ``hashlib.sha256`` throughput of this CPU on the same amount of data in memory
  (the bound: verification cannot beat it).

The upstream is served by a real ``rsync --daemon`` on 127.0.0.1; pool files are random
bytes named ``.deb`` (the mirror checks sizes and digests, not .deb contents), indices are
real Packages(.gz) and an ``apt-ftparchive release`` Release. Everything lives in a temp dir.
"""

import argparse
import gzip
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "_utils")]

import mosmu_mirror  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_snapshots  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_verify  # noqa: E402  pylint: disable=wrong-import-position
from tests.mirror import helpers  # noqa: E402  pylint: disable=wrong-import-position

SUITE = "mos8.0-updates"


class FakeUpstream:
    """``packages`` pool files of 1-50 KiB, one Packages index, a Release."""

    def __init__(self, root, packages, seed=1):
        self.tree = os.path.join(root, helpers.APT_PATH)
        self.rand = random.Random(seed)  # noqa: S311 - test data, not crypto
        self.versions = {f"pkg{i:05d}": 1 for i in range(packages)}
        self.write(list(self.versions))

    def pool(self, name, version):
        return f"pool/main/p/{name}/{name}_1.{version}_amd64.deb"

    def write(self, changed):
        for name in changed:
            path = os.path.join(self.tree, self.pool(name, self.versions[name]))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            old = os.path.join(self.tree, self.pool(name, self.versions[name] - 1))
            if os.path.exists(old):
                os.unlink(old)
            with open(path, "wb") as handle:
                handle.write(self.rand.randbytes(self.rand.randint(1024, 50 * 1024)))
        stanzas = []
        for name, version in sorted(self.versions.items()):
            rel = self.pool(name, version)
            with open(os.path.join(self.tree, rel), "rb") as handle:
                blob = handle.read()
            stanzas.append(f"Package: {name}\nVersion: 1.{version}\nArchitecture: amd64\n"
                           f"Filename: {rel}\nSize: {len(blob)}\n"
                           f"SHA256: {hashlib.sha256(blob).hexdigest()}\n\n")
        dist = os.path.join(self.tree, "dists", SUITE)
        index = os.path.join(dist, "main", "binary-amd64")
        os.makedirs(index, exist_ok=True)
        raw = "".join(stanzas).encode()
        with open(os.path.join(index, "Packages"), "wb") as handle:
            handle.write(raw)
        with open(os.path.join(index, "Packages.gz"), "wb") as handle:
            handle.write(gzip.compress(raw, mtime=0))
        release = helpers.run([
            "apt-ftparchive", "-o", "APT::FTPArchive::Release::Default-Patterns=false",
            "-o", "APT::FTPArchive::Release::Patterns::=Packages*", "release", "."], cwd=dist)
        with open(os.path.join(dist, "Release"), "w", encoding="utf-8") as handle:
            handle.write(release)

    def bump(self, count):
        changed = self.rand.sample(sorted(self.versions), count)
        for name in changed:
            self.versions[name] += 1
        self.write(changed)


def big_tree(root, count, size):
    """A snapshot-like apt tree of ``count`` random files of ``size`` bytes (in the page
    cache after writing) with a Packages index and a Release; its path."""
    tree = os.path.join(root, helpers.APT_PATH)
    stanzas = []
    for i in range(count):
        rel = f"pool/main/b/big{i:04d}/big{i:04d}_1.0_amd64.deb"
        blob = os.urandom(size)
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        with open(os.path.join(tree, rel), "wb") as handle:
            handle.write(blob)
        stanzas.append(f"Package: big{i:04d}\nVersion: 1.0\nArchitecture: amd64\n"
                       f"Filename: {rel}\nSize: {size}\n"
                       f"SHA256: {hashlib.sha256(blob).hexdigest()}\n\n")
    dist = os.path.join(tree, "dists", SUITE)
    os.makedirs(os.path.join(dist, "main", "binary-amd64"))
    with open(os.path.join(dist, "main", "binary-amd64", "Packages"), "w",
              encoding="utf-8") as handle:
        handle.write("".join(stanzas))
    release = helpers.run([
        "apt-ftparchive", "-o", "APT::FTPArchive::Release::Default-Patterns=false",
        "-o", "APT::FTPArchive::Release::Patterns::=Packages*", "release", "."], cwd=dist)
    with open(os.path.join(dist, "Release"), "w", encoding="utf-8") as handle:
        handle.write(release)
    return tree


def raw_sha256_mbps(size, rounds):
    """``hashlib.sha256`` over ``size`` bytes already in memory, MB/s (median)."""
    blob = os.urandom(size)
    runs = []
    for _ in range(rounds):
        start = time.monotonic()
        hashlib.sha256(blob).hexdigest()
        runs.append(size / 1e6 / (time.monotonic() - start))
    return statistics.median(runs)


def verify_big(tmp, count, size, rounds):
    tree = big_tree(os.path.join(tmp, "big"), count, size)
    runs = []
    for _ in range(rounds):
        seconds, stats = timed(lambda: mosmu_verify.verify_snapshot(
            mosmu_mirror.INDEX_FORMATS["apt"], tree, [SUITE], None))
        runs.append(stats["bytes_hashed"] / 1e6 / seconds)
    raw = raw_sha256_mbps(count * size, rounds)
    verify = statistics.median(runs)
    print(f"verification, large packages (full SHA256 of {stats['hashed']} files x "
          f"{size / 1e6:.0f} MB = {stats['bytes_hashed'] / 1e6:.0f} MB, page cache): "
          f"{verify:.0f} MB/s; raw hashlib.sha256 of {count * size / 1e6:.0f} MB in memory: "
          f"{raw:.0f} MB/s (verification at {verify / raw:.0%} of the hash bound)")
    shutil.rmtree(os.path.join(tmp, "big"))


def timed(func):
    start = time.monotonic()
    out = func()
    return time.monotonic() - start, out


def plain_rsync(url, dest):
    subprocess.run(["rsync", "-a", "--delete", f"{url}/{helpers.APT_PATH}/", dest + "/"],
                   check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-packages", type=int, default=64)
    parser.add_argument("--big-mb", type=int, default=4)
    args = parser.parse_args()
    tree = helpers.tree()
    with tempfile.TemporaryDirectory(prefix="mosmu-bench-") as tmp:
        upstream = FakeUpstream(os.path.join(tmp, "up"), args.packages)
        daemon = helpers.RsyncDaemon(os.path.join(tmp, "up"), os.path.join(tmp, "rsyncd"))
        try:
            www, staging = os.path.join(tmp, "www"), os.path.join(tmp, "staging")
            plain = os.path.join(tmp, "plain")

            def sync():
                return mosmu_mirror.sync_tree(daemon.url, www, tree, ["updates"],
                                              staging_dir=staging, keep=2)

            first, result = timed(sync)
            plain_first, _ = timed(lambda: plain_rsync(daemon.url, plain))
            print(f"tree: {args.packages} packages, {result['bytes'] / 1e6:.1f} MB; first sync "
                  f"{first:.2f} s (plain rsync -a {plain_first:.2f} s)")
            noop = [timed(sync)[0] for _ in range(args.rounds)]
            noop_plain = [timed(lambda: plain_rsync(daemon.url, plain))[0]
                          for _ in range(args.rounds)]
            print(f"no-op re-sync: mosmu {statistics.median(noop):.3f} s vs rsync -a "
                  f"{statistics.median(noop_plain):.3f} s (ratio "
                  f"{statistics.median(noop) / statistics.median(noop_plain):.2f})")
            changed, changed_plain, fetched = [], [], []
            for _ in range(args.rounds):
                upstream.bump(args.changed)
                seconds, result = timed(sync)
                if result["state"] != "updated":
                    raise SystemExit(f"expected an update, got {result}")
                changed.append(seconds)
                fetched.append(result["files"])
                changed_plain.append(timed(lambda: plain_rsync(daemon.url, plain))[0])
            print(f"after {args.changed} changed packages: mosmu {statistics.median(changed):.3f}"
                  f" s ({statistics.median(fetched):.0f} files fetched, verified, published) vs "
                  f"rsync -a --delete {statistics.median(changed_plain):.3f} s (ratio "
                  f"{statistics.median(changed) / statistics.median(changed_plain):.2f})")
            snap = os.path.join(www, mosmu_snapshots.current_snapshot(www, tree))
            runs = []
            for _ in range(args.rounds):
                seconds, stats = timed(lambda: mosmu_verify.verify_snapshot(
                    mosmu_mirror.INDEX_FORMATS["apt"], snap, [SUITE], None))
                runs.append(stats["bytes_hashed"] / 1e6 / seconds)
            print(f"verification (full SHA256 of {stats['hashed']} files, "
                  f"{stats['bytes_hashed'] / 1e6:.1f} MB): {statistics.median(runs):.0f} MB/s")
            verify_big(tmp, args.big_packages, args.big_mb * 1_000_000, args.rounds)
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
