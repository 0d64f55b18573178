"""Time the update pre-flight's check of a published snapshot (stat only) at 10,000 packages.

Usage: ``.venv/bin/python benchmarks/bench_mirror_preflight.py [--packages 10000] [--rounds 5]``

Builds, in a temp dir, a published ubuntu/8.0 snapshot (``.snapshots/.../<id>`` + the
symlink) whose suite names ``--packages`` pool files of 1-4 KiB with Packages stanzas of
the size real MOS ones have (~0.9 KB: Depends, Description, MD5sum/SHA1/SHA256...), listed
in Release as ``Packages`` and ``Packages.gz``. Prints the median of ``--rounds`` runs of:

* ``verify_published(hashing=False)``: the pre-flight of ``mosmu.update`` (read and parse
  the indices, one ``lstat`` per pool file), split into index parsing and the stats;
* ``verify_published(hashing=True)``: what ``mosmu.sync verify=True`` adds (SHA256 of
  every file), for comparison;
* ``missing()``: the suite-level pre-flight that ran before, the floor.

Files are in the page cache (just written): a cold cache adds one inode read per file.
"""

import argparse
import gzip
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "_utils")]

import mosmu_catalog  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_mirror  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_snapshots  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_verify  # noqa: E402  pylint: disable=wrong-import-position

SUITE = "mos8.0-updates"
SID = "20260101T000000.000000Z"


def stanza(name, rel, blob, rand):
    deps = ", ".join(f"lib{rand.randint(0, 999):03d}-{rand.randint(1, 9)} (>= 1.{i})"
                     for i in range(rand.randint(3, 9)))
    build_no = rand.randint(1000, 99999)
    return (f"Package: {name}\nSource: {name}-src\nVersion: 2015.1.1-1~u14.04+mos{build_no}\n"
            f"Architecture: amd64\nMaintainer: MOS Linux Team <mos-linux@mirantis.com>\n"
            f"Installed-Size: {rand.randint(10, 90000)}\nDepends: {deps}\n"
            f"Section: python\nPriority: optional\nFilename: {rel}\nSize: {len(blob)}\n"
            f"MD5sum: {hashlib.md5(blob).hexdigest()}\n"  # noqa: S324 - an index field
            f"SHA1: {hashlib.sha1(blob).hexdigest()}\n"  # noqa: S324 - an index field
            f"SHA256: {hashlib.sha256(blob).hexdigest()}\n"
            f"Description: OpenStack component {name}\n"
            " OpenStack is a reliable cloud infrastructure. Its mission is to produce the\n"
            " ubiquitous cloud computing platform that will meet the needs of public and\n"
            " private cloud providers regardless of size.\n\n")


def build(www, tree, packages):
    rand = random.Random(16)  # noqa: S311 - test data, not crypto
    snap = os.path.join(www, mosmu_snapshots.SNAPSHOTS, tree.path, SID)
    stanzas = []
    for i in range(packages):
        name = f"pkg{i:05d}"
        rel = f"pool/main/p/{name}/{name}_1.0_amd64.deb"
        blob = rand.randbytes(rand.randint(1024, 4096))
        os.makedirs(os.path.dirname(os.path.join(snap, rel)), exist_ok=True)
        with open(os.path.join(snap, rel), "wb") as handle:
            handle.write(blob)
        stanzas.append(stanza(name, rel, blob, rand))
    dist = os.path.join(snap, "dists", SUITE)
    os.makedirs(os.path.join(dist, "main", "binary-amd64"))
    raw = "".join(stanzas).encode()
    lines = []
    for name, data in (("main/binary-amd64/Packages", raw),
                       ("main/binary-amd64/Packages.gz", gzip.compress(raw, mtime=0))):
        with open(os.path.join(dist, name), "wb") as handle:
            handle.write(data)
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    with open(os.path.join(dist, "Release"), "w", encoding="utf-8") as handle:
        handle.write(f"Suite: {SUITE}\nSHA256:\n" + "\n".join(lines) + "\n")
    layout = mosmu_snapshots.Layout(www, tree)  # pylint: disable=protected-access
    os.makedirs(os.path.dirname(layout.link), exist_ok=True)
    layout.point(SID)
    return snap, len(raw)


def median_seconds(func, rounds):
    runs, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = func()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tree = mosmu_catalog.Catalog().get("ubuntu", "8.0")
    backend = mosmu_mirror.INDEX_FORMATS["apt"]
    with tempfile.TemporaryDirectory(prefix="mosmu-bench-preflight-") as tmp:
        www = os.path.join(tmp, "www")
        snap, index_bytes = build(www, tree, args.packages)
        floor, _ = median_seconds(lambda: mosmu_mirror.missing(www, tree, ["updates"]),
                                  args.rounds)
        parse, pool = median_seconds(lambda: mosmu_verify.pool_of(
            backend, snap, [SUITE], problems=[], hashing=False), args.rounds)
        stats, _ = median_seconds(lambda: [os.lstat(os.path.join(snap, rel)) for rel in pool],
                                  args.rounds)
        preflight, found = median_seconds(lambda: mosmu_mirror.verify_published(
            www, tree, ["updates"], hashing=False), args.rounds)
        hashed, _ = median_seconds(lambda: mosmu_mirror.verify_published(
            www, tree, ["updates"]), max(1, args.rounds // 2))
    if found or len(pool) != args.packages:
        raise SystemExit(f"the generated snapshot is wrong: {found[:3]}, {len(pool)} files")
    print(f"published snapshot: {args.packages} packages, Packages {index_bytes / 1e6:.1f} MB "
          f"(+ .gz), median of {args.rounds}, page cache warm")
    print(f"  pre-flight verify_published(hashing=False): {preflight:.3f} s "
          f"(index read + parse {parse:.3f} s, {len(pool)} lstat {stats:.3f} s)")
    print(f"  suite-level missing() alone:                {floor:.4f} s")
    print(f"  verify_published(hashing=True) (verify=True): {hashed:.3f} s")


if __name__ == "__main__":
    main()
