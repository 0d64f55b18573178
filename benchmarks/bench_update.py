"""The headline figure: 8 nodes updated at once vs 1 node, vs the same 8 one after another.

One sandbox per package size, each with 8 Ubuntu compute nodes in env 1 (no controller: the
controller rule would serialise them) and the mirror synced first (not timed):

- ``one``: ``salt-run mosmu.update env=1 nodes=1`` (one node);
- ``at once``: ``mosmu.update env=1`` (8 nodes, one wave), node roots reset first;
- ``one after another``: ``mosmu.update env=1 batch=1`` (8 waves of 1: the old
  ``mos_apply_mu.py`` model), node roots reset first;
- ``status``: ``salt-run mosmu.status env=1`` over the 8 nodes (median of 3).

``tiny``: the sandbox's default packages (3 packages of a few hundred bytes per node), every
node a minion. ``ssh``: the same, every node without a minion, reached over its own real
sshd (the ssh transport: the same figures, so the two fixed costs per node stand side by
side). ``both``: the same 8 nodes, 4 minions and 4 ssh nodes, in one run.
``realistic``: ``Sandbox.up(realistic=True)``: 50 MB of incompressible MU packages per node,
each node's downloads limited to 100 Mbit/s (12500 KB/s) in its own apt/dnf config.
Every figure is the wall time of the ``salt-run`` process, start-up included. Prints figures
and ratios; it asserts nothing.

The sandbox's master serves the formula and loader directories only, as a real master does.

    .venv/bin/python benchmarks/bench_update.py [tiny] [ssh] [both] [realistic]
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sandbox import inventory as inventory_mod
from sandbox.stack import Sandbox

NODES = 8


def fleet_inventory(nodes=NODES):
    """env 1 (MOS 8.0, Ubuntu) of ``nodes`` compute nodes."""
    inv = inventory_mod.default(nodes)
    for node in inv["nodes"]:
        node["roles"] = ["compute"]
    return inv


def timed(box, *args):
    """``(seconds, exit code, report)`` of one ``salt-run --out=json`` call."""
    started = time.monotonic()
    proc = subprocess.run(box.salt_argv("salt-run", "--out=json", *args), capture_output=True,
                          text=True, check=False)
    seconds = time.monotonic() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {"error": (proc.stderr or proc.stdout)[-300:]}
    return seconds, proc.returncode, report


def results(report):
    return sorted(v["result"] for v in report.values() if isinstance(v, dict) and "result" in v)


def node_seconds(report):
    return [v["duration"] for v in report.values()
            if isinstance(v, dict) and isinstance(v.get("duration"), (int, float))]


def reset(box):
    for node in [*box.state["minions"], *box.state.get("ssh_nodes", {})]:
        box.reset_node(node)


def measure(label):
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-bench-", dir="/tmp"))
    realistic = label == "realistic"
    inv = fleet_inventory()
    fqdns = [n["fqdn"] for n in inv["nodes"]]
    ssh_nodes = {"ssh": fqdns, "both": fqdns[NODES // 2:]}.get(label, ())
    try:
        started = time.monotonic()
        box.up(inventory=inv, realistic=realistic, ssh_nodes=ssh_nodes)
        up = time.monotonic() - started
        sync, sync_rc, _ = timed(box, "mosmu.sync", "env=1")
        rows = {}
        rows["one"] = timed(box, "mosmu.update", "env=1", "nodes=1")
        reset(box)
        rows["at once"] = timed(box, "mosmu.update", "env=1")
        reset(box)
        rows["one after another"] = timed(box, "mosmu.update", "env=1", "batch=1")
        status = [timed(box, "mosmu.status", "env=1") for _ in range(3)]
        rows["status"] = (statistics.median(s[0] for s in status), status[-1][1],
                          status[-1][2])
        return {"label": label, "up": up, "sync": sync,
                "sync_rc": sync_rc, "rows": rows}
    finally:
        box.down()


def show(run):
    rows = run["rows"]
    print(f"\n== {run['label']} packages: sandbox up {run['up']:.1f} s, mirror sync "
          f"{run['sync']:.1f} s (exit {run['sync_rc']}, not timed below)")
    print(f"{'run':<20} {'wall':>8}  {'exit':>4}  {'node durations (s)':<34} results")
    for name, (seconds, code, report) in rows.items():
        durations = node_seconds(report)
        spread = (f"{min(durations):.1f}..{max(durations):.1f} (sum {sum(durations):.1f})"
                  if durations else "-")
        counts = {r: results(report).count(r) for r in sorted(set(results(report)))}
        print(f"{name:<20} {seconds:>7.2f}s  {code:>4}  {spread:<34} "
              f"{counts or report.get('error')}")
    one, at_once, serial = (rows[k][0] for k in ("one", "at once", "one after another"))
    print(f"{NODES} at once vs 1 node:                 x{at_once / one:.2f}")
    print(f"one after another vs {NODES} at once:      x{serial / at_once:.2f}")
    print(f"status over {NODES} nodes (median of 3):   {rows['status'][0]:.2f} s")


def main(argv):
    labels = list(argv) or ["tiny", "ssh", "both", "realistic"]
    print(f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {os.getloadavg()[0]:.1f}, file_roots "
          "formula only")
    for label in labels:
        show(measure(label))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
