"""Inventory-side figures at fleet scale: selection and minion mapping over 10,000 nodes.

1. Fetch: ``FuelClient.inventory()`` of a generated 10,000-node inventory from the sandbox's
   Nailgun stand-in on 127.0.0.1 (streaming, size and depth checks included).
2. Selection: ``mosmu_select.select`` (typed boundary, every rule, a reason per node) beside a
   re-implementation of the old tool's ``_affected_nodes`` filter (no validation, no reasons).
3. Minion index over 10,000 minions in a temporary Salt cache written with Salt's cache API:
   ``mosmu_minions.minion_index`` (ipv4 grain only, one minion at a time; cold, then warm
   with its persistent index ``<cachedir>/mosmu/minion-index.p``) beside what the
   runner did before (``cache.grains tgt='*'``: every grain and pillar of every minion in one
   dict, via Salt's MasterPillarUtil, then the index).

Each measurement runs in a forked child so its peak RSS (``ru_maxrss``) is its own; Python
allocations are traced with tracemalloc. Prints figures and ratios; asserts nothing.

    .venv/bin/python benchmarks/bench_inventory.py [NODES]
"""

import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "_utils")]

# pylint: disable=wrong-import-position
import salt.cache  # noqa: E402
import salt.config  # noqa: E402
import salt.utils.master  # noqa: E402

import mosmu_fuel  # noqa: E402
import mosmu_minions  # noqa: E402
import mosmu_request  # noqa: E402
import mosmu_select  # noqa: E402
from sandbox import fuelapi, realistic  # noqa: E402
from sandbox.procs import free_ports  # noqa: E402


def old_affected_nodes(inventory, env=None, all_envs=False, roles=(), nodes=(), offline=False):
    """The old tool's selection, re-implemented: env membership, roles, online, IPs."""
    if all_envs:
        envs = {n["cluster"] for n in inventory["nodes"]
                if n["status"] == "ready" and (n["online"] or offline)}
    else:
        envs = {env}
    return {(n["ip"], n["os_platform"]) for n in inventory["nodes"]
            if n["cluster"] in envs and (not roles or set(roles) & set(n["roles"]))
            and (n["online"] or offline) and (not nodes or n["ip"] in nodes)}


def old_minion_index(opts):
    """What the runner did: ``cache.grains tgt='*'`` = MasterPillarUtil loading every cached
    grain and pillar of every minion into dicts, then an ipv4 index. (The '*' key targeting
    step is left out: it only adds to the old path's cost.)"""
    util = salt.utils.master.MasterPillarUtil("*", "glob", use_cached_grains=True,
                                              grains_fallback=False, opts=opts)
    ids = salt.cache.factory(opts).list("grains")
    grains_by_minion, _pillars = util._get_cached_minion_data(*ids)
    index = {}
    for minion, grains in grains_by_minion.items():
        for key in (grains or {}).get("ipv4") or []:
            index.setdefault(key, set()).add(minion)
    return index


def _child(func, queue):
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = func()
    except Exception as err:
        queue.put({"error": f"{err.__class__.__name__}: {err}"})
        raise
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"seconds": seconds, "traced_mb": peak / 2**20, "rss_mb": rss / 1024,
               "rss_growth_mb": (rss - base) / 1024, "size": len(result)})


def measure(func, untraced=None):
    """Run ``func`` in a forked child: time, tracemalloc peak, peak RSS. ``untraced`` times a
    second run without tracemalloc (tracing slows allocation-heavy code several times)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(func, queue))
    proc.start()
    out = queue.get()
    proc.join()
    if "error" in out:
        raise RuntimeError(out["error"])
    started = time.perf_counter()
    (untraced or func)()
    out["untraced_s"] = time.perf_counter() - started
    return out


def show(label, fig):
    """One result line."""
    print(f"  {label:<44} {fig['untraced_s']*1000:9.1f} ms  (traced {fig['seconds']*1000:8.1f} ms)"
          f"  py-peak {fig['traced_mb']:7.1f} MB  rss {fig['rss_mb']:7.1f} MB "
          f"(+{fig['rss_growth_mb']:.1f})  -> {fig['size']}")


def grains_for(index):
    """A realistic-size grains dict (~6 KB serialised) of one node."""
    return {
        "id": f"node-{index}.test.domain.local", "host": f"node-{index}",
        "fqdn": f"node-{index}.test.domain.local", "nodename": f"node-{index}",
        "ipv4": [f"10.20.{index // 250}.{index % 250 + 2}", "127.0.0.1",
                 f"192.168.{index // 250}.{index % 250 + 1}"],
        "ipv6": ["::1", f"fe80::5054:ff:fe{index:06x}"[:26]],
        "os": "Ubuntu", "os_family": "Debian", "osrelease": "14.04", "oscodename": "trusty",
        "kernelrelease": "3.13.0-98-generic", "num_cpus": 8, "mem_total": 32000,
        "cpu_flags": [f"flag{i}" for i in range(120)],
        "cpu_model": "Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz",
        "hwaddr_interfaces": {f"eth{i}": f"52:54:00:00:{i:02x}:{index % 256:02x}"
                              for i in range(4)},
        "ip4_interfaces": {f"eth{i}": [f"192.168.{i}.{index % 250 + 1}"] for i in range(4)},
        "pythonpath": [f"/usr/lib/python3/dist-packages/{i}" for i in range(20)],
        "disks": [f"sd{chr(97 + i)}" for i in range(6)], "saltversion": "3008.4",
        "path": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SSDs": [], "selinux": {"enabled": False}, "systemd": {"version": "204"},
    }


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    print(f"generating a {count}-node inventory ...", flush=True)
    started = time.perf_counter()
    inventory = realistic.big(count)
    print(f"  generated in {time.perf_counter() - started:.1f} s; "
          f"{len(json.dumps(inventory)) / 2**20:.1f} MB of JSON, "
          f"{len(inventory['clusters'])} environments")

    print("\n1. fetch from the Nailgun stand-in (127.0.0.1)")
    keystone, nailgun = free_ports(2)
    creds = {"tenant": "admin", "username": "admin", "password": "bench"}
    servers = fuelapi.serve(inventory, creds, keystone, nailgun)
    try:
        def fetch():
            client = mosmu_fuel.FuelClient(f"http://127.0.0.1:{nailgun}", "admin", "bench",
                                           keystone_url=f"http://127.0.0.1:{keystone}/v2.0",
                                           timeout=120)
            return client.inventory()["nodes"]
        show("FuelClient.inventory()", measure(fetch))
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()

    print("\n2. selection, all_envs=True roles=compute")
    request = mosmu_request.parse({"all_envs": True, "roles": "compute"}, mosmu_request.ALL)
    new = measure(lambda: mosmu_select.select(inventory, request)["selected"])
    old = measure(lambda: old_affected_nodes(inventory, all_envs=True, roles=["compute"]))
    show("mosmu_select.select (typed, reasons)", new)
    show("old _affected_nodes (re-implemented)", old)
    print(f"  ratio mosmu/old time: {new['untraced_s'] / old['untraced_s']:.1f}x "
          f"(mosmu also checks {len(inventory['nodes'])} records and gives "
          f"{len(inventory['nodes']) - new['size']} reasons)")
    request = mosmu_request.parse({"env": 3}, mosmu_request.ALL)
    one = measure(lambda: mosmu_select.select(inventory, request)["selected"])
    show("mosmu_select.select env=3", one)

    print(f"\n3. minion index over {count} minions (Salt cache, localfs)")
    tmp = tempfile.mkdtemp(prefix="mosmu-bench-cache-")
    try:
        opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=tmp, minion_data_cache=True,
                    pki_dir=os.path.join(tmp, "pki"), __role="master")
        os.makedirs(os.path.join(opts["pki_dir"], "minions"))
        cache = salt.cache.factory(opts)
        started = time.perf_counter()
        for i in range(1, count + 1):
            minion = f"node-{i}.test.domain.local"
            cache.store("grains", minion, grains_for(i))
            cache.store("pillar", minion, {"mosmu": {"lookup": {}}, "filler": "x" * 2000})
            with open(os.path.join(opts["pki_dir"], "minions", minion), "w",
                      encoding="utf-8") as handle:
                handle.write("-----BEGIN PUBLIC KEY-----\n")
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
        print(f"  cache written in {time.perf_counter() - started:.1f} s "
              f"({disk / 2**20:.0f} MB on disk)", flush=True)
        index_dir = os.path.join(tmp, "mosmu")

        def cold():
            shutil.rmtree(index_dir, ignore_errors=True)
            return mosmu_minions.minion_index(opts, "ip")
        ip_cold = measure(cold)
        ip = measure(lambda: mosmu_minions.minion_index(opts, "ip"))
        ids = measure(lambda: mosmu_minions.minion_index(opts, "fqdn"))
        old = measure(lambda: old_minion_index(opts))
        show("minion_index match=ip, cold (no index file)", ip_cold)
        show("mosmu_minions.minion_index match=ip (warm)", ip)
        show("mosmu_minions.minion_index match=fqdn", ids)
        show("old: cache.grains tgt='*' + index", old)
        print(f"  ratio old/new (ip): time {old['untraced_s'] / ip['untraced_s']:.1f}x, "
              f"python peak {old['traced_mb'] / max(ip['traced_mb'], 0.1):.1f}x")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
