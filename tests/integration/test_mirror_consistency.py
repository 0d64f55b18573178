"""Mirror consistency under load (DESIGN.md section 6, APT-MIRROR.md 4.5): while a loop
republishes a changing, signed upstream through ``mosmu_mirror.sync_tree`` again and again,
real ``apt-get update`` clients (private apt state in tiny roots, the key as their only trust)
and a raw HTTP client that fetches Release and then each Packages index as separate requests
read the mirror, both through the moving current path (``<web>/mos-repos/ubuntu/8.0``, a
symlink swapped atomically) and through the fixed snapshot path a runner pins its run to
(``<web>/.snapshots/...``, resolved at the start of each client run, as the runner does).

Self-contained: its own rsync daemon and HTTP server on free 127.0.0.1 ports, its own throwaway
key; nothing of the shared sandbox is used. Bounded in time and count; stops by itself.
"""

import hashlib
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from debian import deb822

import mosmu_catalog
import mosmu_mirror
import mosmu_snapshots
from sandbox import debrepo
from sandbox.signing import Signer
from tests.mirror.helpers import RsyncDaemon, free_port, port_open

APT_RUNS = 1000            # at least this many apt-get update runs (both paths together)
RAW_RUNS = 600             # at most this many raw Release -> Packages reads
DEADLINE = 240             # seconds: a safety bound only (about 60-100 s on 2 cores)
APT_WORKERS = 4
KEEP = 5                   # snapshots kept: a pinned one outlives 4 publishes during a run
SUITE = "mos8.0-updates"
PACKAGES = sorted(debrepo.PACKAGES)
MISMATCH = ("Hash Sum mismatch", "unexpected size", "Mirror sync in progress")


class Counts:
    """Thread-safe tallies per client kind and path kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.data = {}
        self.samples = {}

    def add(self, key, sample=None):
        with self.lock:
            self.data[key] = self.data.get(key, 0) + 1
            if sample and key not in self.samples:
                self.samples[key] = sample

    def get(self, key):
        with self.lock:
            return self.data.get(key, 0)


class AptClient:
    """One tiny alternate root with private apt state (APT-MIRROR.md section 2)."""

    def __init__(self, root, key_file):
        self.root = root
        for sub in ("etc/apt/apt.conf.d", "var/lib/apt/lists/partial", "var/lib/dpkg",
                    "var/cache/apt/archives/partial", "src", "trusted"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.makedirs(os.path.join(root, "gnupg"), mode=0o700, exist_ok=True)
        open(os.path.join(root, "var/lib/dpkg/status"), "a", encoding="utf-8").close()
        with open(os.path.join(root, "etc/apt/apt.conf"), "w", encoding="utf-8") as handle:
            handle.write(f'Dir "{root}/";\n')
        # binary keyring: with an .asc apt 2.6 has apt-key dearmor it with gpg on every run
        subprocess.run(["gpg", "--batch", "--homedir", os.path.join(root, "gnupg"), "--yes",
                        "--dearmor", "-o", os.path.join(root, "trusted", "mosmu-mu.gpg"),
                        key_file], check=True, capture_output=True)
        self.argv = ["apt-get", "-q", "-o", f"Dir={root}/",
                     "-o", f"Dir::State::status={root}/var/lib/dpkg/status",
                     "-o", "Dir::Etc::sourcelist=-", "-o", f"Dir::Etc::sourceparts={root}/src/",
                     "-o", f"Dir::Etc::trustedparts={root}/trusted/", "-o", "Dir::Etc::trusted=-",
                     "-o", "APT::Get::List-Cleanup=0", "-o", "APT::Update::Error-Mode=any",
                     "-o", "APT::Sandbox::User=root", "-o", "Acquire::Languages=none",
                     "update"]
        self.env = dict(os.environ, APT_CONFIG=os.path.join(root, "etc/apt/apt.conf"),
                        LC_ALL="C")

    def update(self, url):
        """``apt-get update`` of ``url`` from empty lists; ``(returncode, output)``."""
        lists = os.path.join(self.root, "var/lib/apt/lists")
        for name in os.listdir(lists):
            if os.path.isfile(os.path.join(lists, name)) and name != "lock":
                os.unlink(os.path.join(lists, name))
        with open(os.path.join(self.root, "src", "mos.list"), "w", encoding="utf-8") as handle:
            handle.write(f"deb {url} {SUITE} main\n")
        proc = subprocess.run(self.argv, capture_output=True, text=True, check=False,
                              env=self.env, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr


def _classify(returncode, output):
    if any(m in output for m in MISMATCH):
        return "mismatch"
    if "404" in output and ("Err:" in output or "E:" in output):
        return "404"
    if returncode != 0 or "\nE:" in "\n" + output or "Err:" in output:
        return "error"
    return "ok"


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:   # noqa: S310 - loopback http
        return response.read()


def _raw_read(base):
    """Release, then every Packages index it lists, as separate requests: ``ok``,
    ``mismatch`` (an index's size/sha256 differs from this Release) or ``404``."""
    try:
        release = deb822.Release(_get(f"{base}/dists/{SUITE}/Release"))
        for entry in release["SHA256"]:
            if not entry["name"].split("/")[-1].startswith("Packages"):
                continue
            blob = _get(f"{base}/dists/{SUITE}/{entry['name']}")
            if len(blob) != int(entry["size"]) or \
                    hashlib.sha256(blob).hexdigest() != entry["sha256"]:
                return "mismatch"
    except urllib.error.HTTPError as err:
        return "404" if err.code == 404 else f"http {err.code}"
    return "ok"


@pytest.fixture
def site(tmp_path):
    """Upstream behind an rsync daemon, a web root behind an HTTP server, a signing key."""
    class Site:
        upstream = str(tmp_path / "upstream")
        www = str(tmp_path / "srv" / "www")
        staging = str(tmp_path / "srv" / "staging")
    os.makedirs(Site.upstream)
    os.makedirs(Site.www)
    Site.signer = Signer(str(tmp_path / "gpg")).ensure()
    Site.rsync = RsyncDaemon(Site.upstream, tmp_path / "rsyncd")
    port = free_port()
    http = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", Site.www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert http.poll() is None and time.monotonic() < deadline, "http server down"
            time.sleep(0.02)
        Site.url = f"http://127.0.0.1:{port}"
        yield Site
    finally:
        http.terminate()
        http.wait(timeout=10)
        Site.rsync.stop()
        Site.signer.close()


def test_clients_never_see_a_half_published_mirror(site, tmp_path):
    with open(site.signer.public_key, encoding="ascii") as handle:
        tree = mosmu_catalog.Catalog(default_key=handle.read()).get("ubuntu", "8.0")
    counts, stop, failures = Counts(), threading.Event(), []
    publishes = [0]

    def publish(round_no):
        """Change every package upstream (new version, new pool file), re-sign, sync."""
        debrepo.build_tree(site.upstream, tree, signer=site.signer, repo_versions={
            "updates": dict.fromkeys(PACKAGES, f"1.{round_no}")})
        result = mosmu_mirror.sync_tree(site.rsync.url, site.www, tree, ["updates"],
                                        staging_dir=site.staging, keep=KEEP)
        assert result["state"] == "updated", result
        publishes[0] += 1

    def snapshot_url():
        return f"{site.url}/{mosmu_snapshots.current_snapshot(site.www, tree)}"

    def guarded(func, *args):
        try:
            func(*args)
        except BaseException as err:     # noqa: BLE001 - reported by the main thread
            failures.append(f"{func.__name__}: {err!r}")
            stop.set()

    def apt_worker(index):
        client = AptClient(str(tmp_path / f"apt{index}"), site.signer.public_key)
        turn = index
        while not stop.is_set() and counts.get("apt runs") < APT_RUNS:
            kind = ("current", "snapshot")[turn % 2]
            turn += 1
            url = f"{site.url}/{tree.path}" if kind == "current" else snapshot_url()
            code, output = client.update(url)
            verdict = _classify(code, output)
            counts.add("apt runs")
            counts.add(("apt", kind, "runs"))
            lines = [ln for ln in output.splitlines() if ln.startswith(("Err:", "E:", "W:"))]
            counts.add(("apt", kind, verdict), lines if verdict != "ok" else None)

    def raw_worker():
        turn = 0
        while not stop.is_set() and counts.get("raw runs") < RAW_RUNS:
            kind = ("current", "snapshot")[turn % 2]
            turn += 1
            base = f"{site.url}/{tree.path}" if kind == "current" else snapshot_url()
            verdict = _raw_read(base)
            counts.add("raw runs")
            counts.add(("raw", kind, "runs"))
            counts.add(("raw", kind, verdict))

    publish(1)
    workers = [threading.Thread(target=guarded, args=(apt_worker, i))
               for i in range(APT_WORKERS)]
    workers.append(threading.Thread(target=guarded, args=(raw_worker,)))
    started = time.monotonic()
    for worker in workers:
        worker.start()
    round_no = 1
    try:
        while any(w.is_alive() for w in workers):
            if time.monotonic() - started > DEADLINE:
                stop.set()
                break
            round_no += 1
            publish(round_no)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
    seconds = time.monotonic() - started

    table = {f"{client} {kind}": {v: counts.get((client, kind, v))
                                  for v in ("runs", "ok", "mismatch", "404", "error")}
             for client in ("apt", "raw") for kind in ("current", "snapshot")}
    print(f"\n{publishes[0]} publishes, {counts.get('apt runs')} apt-get update runs, "
          f"{counts.get('raw runs')} raw reads in {seconds:.1f} s")
    for name, row in table.items():
        print(f"  {name:13s} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    for key, sample in sorted(counts.samples.items(), key=str):
        print(f"  first {key}: " + " | ".join(sample)[:400])

    assert not failures, failures
    assert counts.get("apt runs") >= APT_RUNS, "the load phase hit its deadline first"
    assert publishes[0] >= 10          # the mirror really moved under the clients
    snap_apt, snap_raw = table["apt snapshot"], table["raw snapshot"]
    assert snap_apt["runs"] > 0 and snap_apt["ok"] == snap_apt["runs"], snap_apt
    assert snap_raw["runs"] > 0 and snap_raw["ok"] == snap_raw["runs"], snap_raw
    # the current path: a swap between a client's Release and Packages requests is the window
    # the design accepts (measured, printed above, not asserted: real apt-get hits it often,
    # as it runs gpgv on InRelease before it asks for the indices; about a quarter of the
    # runs under continuous republishing here). Nothing else may fail there either.
    assert table["apt current"]["error"] == 0 and table["apt current"]["404"] == 0
