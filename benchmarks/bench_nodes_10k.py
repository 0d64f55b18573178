"""``salt-run mosmu.nodes all_envs=True`` at fleet scale, end to end (mosmu issue 6).

A daemon-less Salt master setup in a temporary directory: a master config (``runner_dirs``
= this repo's ``_runners``, the ``mosmu:`` section pointing at the sandbox's Nailgun
stand-in), the helpers on ``PYTHONPATH`` and the master's minion data cache filled with
Salt's cache API. ``salt-run`` needs no running salt-master for a runner that reads only
the Fuel API and the cache.

- Nailgun: ``python -m sandbox.fuelapi`` (a subprocess on 127.0.0.1) serving
  ``sandbox.realistic.big(NODES)``.
- Cache: NODES minions, each with the grains of a real minion (``salt-call --local
  grains.items`` on this host, id / fqdn / host / ipv4 varied per node) and a small pillar.
- Runs, alternating, REPS times each: ``salt-run test.arg`` (the fixed cost of salt-run),
  ``salt-run mosmu.nodes all_envs=True`` and, beside it, ``salt-run mosmu_old.nodes``: the
  old tool's logic as a runner (whole JSON inventory, ``_affected_nodes`` re-implemented
  in ``bench_inventory.py``, ``cache.grains tgt='*'`` for the IP -> minion map). Each under
  ``/usr/bin/time`` for wall time and peak RSS. The first mosmu run starts without
  mosmu's persistent minion index and is shown apart ("cold"). Output is ``--out=json``
  to /dev/null (the mosmu outputter does not render ``nodes``; Salt's nested fallback
  prints some 230,000 lines for 10,000 nodes).

- ``same return``: ``salt-run`` returning the very data ``mosmu.nodes`` returned (saved
  from one of its runs, unpickled by a stub runner): what salt-run itself spends on a return
  that size (the return event, the job cache, ``--out=json`` with its secret masking), the
  part of ``mosmu.nodes``' figure that no runner code can remove.

Every ``salt-run`` writes and reuses Python bytecode caches, as on any master: an inherited
``PYTHONDONTWRITEBYTECODE`` (this workplace sets it) is dropped.

Prints figures; asserts nothing. The figures include the stand-in's own time: it
serialises the whole node list for every request (``ttfb`` below, about 1 s for 10,000
nodes), as a real Nailgun would.

    .venv/bin/python benchmarks/bench_nodes_10k.py [NODES] [REPS] [--rev LABEL=REV ...]
        [--utils LABEL=DIR ...] [--no-old]

``--rev LABEL=REV`` (repeatable) runs ``mosmu.nodes`` also with the runner and helpers of
git revision REV of this repository (``git archive``), beside the working tree's (``now``):
before and after in the same run, under the same load. ``--utils LABEL=DIR`` (repeatable)
runs it with the working tree's runner and the ``mosmu_*`` helpers from DIR instead.

Besides the wall time and peak RSS of each ``salt-run``, it prints each one's CPU time (user
+ system, less sensitive to other processes on the machine than the wall time), the
machine's load before and after, and, per variant, in a fresh process each (variants
alternating, median of REPS): the ``mosmu.nodes`` runner function itself (its first call and
a second one: mosmu's own time, without salt-run around it) and where that time goes (Nailgun
inventory, selection, minion index, mapping, the returned lists; each alone, the cyclic GC
off so that its passes are not charged to whichever part triggers them).
"""

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path[:0] = [REPO, os.path.join(REPO, "_utils")]

# pylint: disable=wrong-import-position
import requests  # noqa: E402
import salt.cache  # noqa: E402
import salt.config  # noqa: E402

from sandbox import realistic  # noqa: E402
from sandbox.procs import free_ports, port_open, wait_for  # noqa: E402

PASSWORD = "bench-pw"  # noqa: S105 - the stand-in's throwaway credential

OLD_RUNNER = '''"""The old tool's nodes listing, as a runner, for comparison only."""
import requests
import salt.cache
import salt.utils.master

import bench_inventory


def nodes(all_envs=True):
    cfg = __opts__["mosmu"]
    session = requests.Session()
    token = session.post(cfg["keystone_url"] + "/tokens", json={"auth": {
        "tenantName": "admin", "passwordCredentials": {
            "username": cfg["username"], "password": cfg["password"]}}},
        timeout=120).json()["access"]["token"]["id"]
    inventory = {name: session.get(f"{cfg['fuel_url']}/api/v1/{name}/",
                                   headers={"X-Auth-Token": token}, timeout=120).json()
                 for name in ("nodes", "clusters", "releases")}
    chosen = bench_inventory.old_affected_nodes(inventory, all_envs=all_envs)
    index = bench_inventory.old_minion_index(__opts__)
    return {ip: sorted(index.get(ip, ())) for ip, _os in chosen}
'''


ECHO_RUNNER = '''"""Return a saved runner return: what salt-run itself costs for that much data."""
import pickle


def returned(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - the benchmark's own file
'''


def real_grains(tmp):
    """This host's grains from ``salt-call --local grains.items`` (a throwaway config)."""
    conf = os.path.join(tmp, "grains-conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "minion"), "w", encoding="utf-8") as handle:
        json.dump({"file_client": "local", "id": "bench-minion", "enable_fqdns_grains": False,
                   "root_dir": os.path.join(tmp, "grains-root"),
                   "log_file": os.path.join(tmp, "grains-root", "minion.log")}, handle)
    proc = subprocess.run([os.path.join(BIN, "salt-call"), "-c", conf, "--local",
                           "grains.items", "--out=json"], capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(proc.stdout)["local"]


def master_config(tmp, ports, label="now", runner_dir=None):
    """A master config dir whose ``runner_dirs`` hold ``runner_dir`` (default: this tree's
    ``_runners``); every label shares one root dir, so one minion cache. Returns (config
    dir, opts)."""
    conf = os.path.join(tmp, f"conf-{label}")
    root = os.path.join(tmp, "master")
    os.makedirs(conf)
    os.makedirs(os.path.join(root, "var/cache/salt/master/proc"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/salt/pki/master/minions"), exist_ok=True)
    runners = os.path.join(tmp, "runners")
    os.makedirs(runners, exist_ok=True)
    for name, text in (("mosmu_old.py", OLD_RUNNER), ("mosmu_echo.py", ECHO_RUNNER)):
        with open(os.path.join(runners, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(os.path.join(conf, "master"), "w", encoding="utf-8") as handle:
        json.dump({
            "id": "bench-master", "root_dir": root, "sock_dir": os.path.join(tmp, "sock"),
            "log_file": os.path.join(tmp, "master.log"), "log_level_logfile": "warning",
            "runner_dirs": [runner_dir or os.path.join(REPO, "_runners"), runners],
            "outputter_dirs": [os.path.join(REPO, "_output")],
            "file_roots": {"base": [os.path.join(tmp, "empty")]},
            "mosmu": {"fuel_url": f"http://127.0.0.1:{ports[1]}",
                      "keystone_url": f"http://127.0.0.1:{ports[0]}/v2.0",
                      "username": "admin", "password": PASSWORD, "tenant": "admin",
                      "master_ip": "127.0.0.1", "timeout": 120},
        }, handle)
    return conf, salt.config.master_config(os.path.join(conf, "master"))


def fill_cache(opts, count, grains):
    """``count`` minions in the master's cache, written with Salt's cache API."""
    cache = salt.cache.factory(opts)
    for i in range(1, count + 1):
        minion = f"node-{i}.test.domain.local"
        ip = f"10.20.0.{i + 2}" if i < 250 else f"10.20.{i // 250}.{i % 250 + 2}"
        cache.store("grains", minion, dict(
            grains, id=minion, fqdn=minion, host=f"node-{i}", nodename=f"node-{i}",
            ipv4=["127.0.0.1", ip, f"192.168.{i // 250}.{i % 250 + 1}"],
            fqdn_ip4=[ip], server_id=i))
        cache.store("pillar", minion, {"mosmu": {"lookup": {}}})


def ttfb(opts):
    """Seconds the stand-in takes to start answering ``GET /api/v1/nodes/``."""
    cfg = opts["mosmu"]
    session = requests.Session()
    token = session.post(cfg["keystone_url"] + "/tokens", json={"auth": {
        "tenantName": "admin", "passwordCredentials": {
            "username": cfg["username"], "password": cfg["password"]}}},
        timeout=120).json()["access"]["token"]["id"]
    started = time.monotonic()
    with session.get(cfg["fuel_url"] + "/api/v1/nodes/", headers={"X-Auth-Token": token},
                     stream=True, timeout=120) as resp:
        resp.raw.read(1)
        return time.monotonic() - started


def timed(argv, env):
    """(wall seconds, peak RSS MB, returncode, CPU seconds) of one command under
    /usr/bin/time."""
    fmt = os.path.join(tempfile.gettempdir(), f"mosmu-bench-time-{os.getpid()}")
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-o", fmt, "-f", "%M %U %S", *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False, env=env, timeout=600)
    wall = time.monotonic() - started
    with open(fmt, encoding="utf-8") as handle:
        rss, user, system = handle.read().split()[-3:]
    os.unlink(fmt)
    if proc.returncode not in (0, 2):
        print(f"    ! {' '.join(argv[-3:])} exited {proc.returncode}: {proc.stderr[-400:]}")
    return wall, int(rss) / 1024, proc.returncode, float(user) + float(system)


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def checkout(tmp, label, rev):
    """``_runners`` and ``_utils`` of git revision ``rev`` in ``<tmp>/rev-<label>``."""
    dest = os.path.join(tmp, f"rev-{label}")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "_runners", "_utils"],
                             capture_output=True, check=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True, timeout=60)
    return os.path.join(dest, "_runners"), os.path.join(dest, "_utils")


PARTS = """
import gc, json, sys, time
import salt.config
import salt.loader
import mosmu_config, mosmu_fuel, mosmu_minions, mosmu_request
import mosmu_select
opts = salt.config.master_config(sys.argv[1])
opts["output"] = "json"
out = {}
def clock(name, func):
    wall, cpu = time.monotonic(), time.process_time()
    result = func()
    out[name] = (time.monotonic() - wall, time.process_time() - cpu)
    return result
nodes = salt.loader.runner(opts)["mosmu.nodes"]
clock("runner, first call", lambda: nodes(all_envs=True))
clock("runner, again", lambda: nodes(all_envs=True))
cfg = mosmu_config.load(dict(opts["mosmu"]))
req = mosmu_request.parse({"all_envs": True}, mosmu_request.NODES)
keep = ("id", "ip", "fqdn", "hostname", "cluster", "roles", "os_platform", "status",
        "online", "mos_version", "transport", "minion", "candidates")
client = mosmu_fuel.FuelClient(cfg["fuel_url"], cfg["username"], cfg["password"],
                               cfg["tenant"], cfg["keystone_url"], timeout=120)
gc.collect()
gc.disable()
inv = clock("inventory", client.inventory)
chosen = clock("selection", lambda: mosmu_select.select(inv, req))
index = clock("minion index", lambda: mosmu_minions.minion_index(opts, "ip"))
mapped = clock("mapping", lambda: mosmu_minions.map_nodes(chosen["selected"], index))
clock("returned lists", lambda: [{k: n.get(k) for k in keep} for n in mapped])
print(json.dumps(out))
"""


def parts(conf, utils):
    """``{part: (wall s, CPU s)}`` in one fresh process using ``utils``: the ``mosmu.nodes``
    runner function called twice (the cyclic GC as the runner leaves it), then its parts one
    by one with the GC off (each part's own cost: a GC pass lands in whichever part happens
    to trigger it)."""
    proc = subprocess.run([sys.executable, "-c", PARTS, os.path.join(conf, "master")],
                          capture_output=True, text=True, check=False, timeout=600,
                          env=dict(os.environ, PYTHONPATH=utils))
    if proc.returncode:
        return {"error": proc.stderr[-300:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv):  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int, nargs="?", default=10000)
    parser.add_argument("reps", type=int, nargs="?", default=3)
    parser.add_argument("--rev", action="append", default=[],
                        help="LABEL=REV: also this git revision's runner and helpers")
    parser.add_argument("--utils", action="append", default=[],
                        help="LABEL=DIR of mosmu_* helpers (repeatable)")
    parser.add_argument("--no-old", action="store_true", help="skip the old tool's runner")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)     # bytecode cached, as on any master
    tmp = tempfile.mkdtemp(prefix="mosmu-bench-10k-", dir="/tmp")
    server = None
    print(f"load average before: {loadavg()} ({os.cpu_count()} cores)")
    try:
        variants = {label: checkout(tmp, label, rev)
                    for label, rev in (v.split("=", 1) for v in args.rev)}
        variants.update({label: (None, utils)
                         for label, utils in (v.split("=", 1) for v in args.utils)})
        if not args.utils:
            variants["now"] = (None, os.path.join(REPO, "_utils"))
        started = time.monotonic()
        inventory = realistic.big(args.nodes)
        inv_path = os.path.join(tmp, "inventory.json")
        with open(inv_path, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle)
        creds = os.path.join(tmp, "credentials.json")
        with open(creds, "w", encoding="utf-8") as handle:
            json.dump({"tenant": "admin", "username": "admin", "password": PASSWORD}, handle)
        ports = free_ports(2)
        server = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "sandbox.fuelapi", "--inventory", inv_path,
             "--credentials", creds, "--keystone-port", str(ports[0]),
             "--nailgun-port", str(ports[1])], cwd=REPO, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        confs = {label: master_config(tmp, ports, label, runner_dir)[0]
                 for label, (runner_dir, _utils) in variants.items()}
        opts = salt.config.master_config(os.path.join(next(iter(confs.values())), "master"))
        grains = real_grains(tmp)
        fill_cache(opts, args.nodes, grains)
        wait_for(lambda: port_open(ports[1]), "the Nailgun stand-in")
        print(f"{args.nodes} nodes ({os.path.getsize(inv_path) / 2**20:.1f} MB inventory "
              f"file), {args.nodes} minions cached (grains {len(json.dumps(grains))} bytes "
              f"as JSON); set up in {time.monotonic() - started:.0f} s")
        print(f"  stand-in time to first byte of /api/v1/nodes/: {ttfb(opts):.2f} s "
              "(its first answer; later ones are encoded once)")

        def env(utils):
            return dict(os.environ, PYTHONPATH=os.pathsep.join(
                [utils, os.path.join(REPO, "benchmarks")]))

        def salt_run(label):
            return [os.path.join(BIN, "salt-run"), "-c", confs[label], "--out=json"]
        first = next(iter(variants))
        commands = {"test.arg": ([*salt_run(first), "test.arg"], env(variants[first][1]))}
        commands.update({f"mosmu.nodes [{label}]": (
            [*salt_run(label), "mosmu.nodes", "all_envs=True"], env(utils))
            for label, (_runners, utils) in variants.items()})
        if not args.no_old:
            commands["old tool"] = ([*salt_run(first), "mosmu_old.nodes"], env(REPO))
        index_dir = os.path.join(opts["cachedir"], "mosmu")
        for label, (_runners, utils) in variants.items():
            shutil.rmtree(index_dir, ignore_errors=True)
            cold = timed(commands[f"mosmu.nodes [{label}]"][0], env(utils))
            print(f"  mosmu.nodes [{label}], cold (no persistent index): {cold[0]:.2f} s, "
                  f"rss {cold[1]:.0f} MB, retcode {cold[2]}")
        saved = os.path.join(tmp, "returned.p")
        with open(saved, "wb") as handle:
            pickle.dump(json.loads(subprocess.run(
                commands[f"mosmu.nodes [{first}]"][0], capture_output=True, check=True,
                env=commands[f"mosmu.nodes [{first}]"][1], timeout=600).stdout), handle)
        commands["same return"] = ([*salt_run(first), "mosmu_echo.returned", f"path={saved}"],
                                   env(variants[first][1]))
        runs = {name: [] for name in commands}
        for _ in range(args.reps):
            for name, (command, environ) in commands.items():
                runs[name].append(timed(command, environ))
        base = statistics.median(w for w, _, _, _ in runs["test.arg"])
        base_cpu = statistics.median(c for _, _, _, c in runs["test.arg"])
        print(f"\nmedian of {args.reps} (wall s / peak RSS MB / CPU s), runs alternating:")
        for name, figures in runs.items():
            wall = statistics.median(w for w, _, _, _ in figures)
            rss = max(r for _, r, _, _ in figures)
            cpu = statistics.median(c for _, _, _, c in figures)
            each = ", ".join(f"{w:.2f}" for w, _, _, _ in figures)
            extra = "" if name == "test.arg" else \
                f"  (+{wall - base:.2f} s, +{cpu - base_cpu:.2f} CPU s over test.arg)"
            print(f"  {name:<22} {wall:6.2f} s  rss {rss:6.0f} MB  cpu {cpu:5.2f} s  "
                  f"[{each}]{extra}")
        print(f"\nin-process, fresh process each time, variants alternating, median of "
              f"{args.reps} (wall s / CPU s): the runner function, then where its time goes")
        split = {label: [] for label in variants}
        for _ in range(args.reps):
            for label, (_runners, utils) in variants.items():
                split[label].append(parts(confs[label], utils))
        for label, figures in split.items():
            good = [f for f in figures if "error" not in f]
            if not good:
                print(f"  [{label}] {figures[-1]['error']}")
                continue
            print(f"  [{label}] " + ", ".join(
                f"{name} {statistics.median(f[name][0] for f in good):.3f}"
                f"/{statistics.median(f[name][1] for f in good):.3f}" for name in good[0]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main(sys.argv[1:])
