"""The headline figure: 8 nodes updated at once vs 1 node, vs the same 8 one after another.

One sandbox per package size, each with 8 Ubuntu compute nodes in env 1 (no controller: the
controller rule would serialise them) and the mirror synced first (not timed):

- ``one``: ``salt-run mosmu.update env=1 nodes=1`` (one node);
- ``at once``: ``mosmu.update env=1`` (8 nodes, one wave), node roots reset first;
- ``one after another``: ``mosmu.update env=1 batch=1`` (8 waves of 1: the old
  ``mos_apply_mu.py`` model), node roots reset first;
- ``at once, no finish``: ``at once`` with ``checks=False restart=False`` (what the health
  checks and restarts of issue 18 add to a run's fixed cost);
- ``status``: ``salt-run mosmu.status env=1`` over the 8 nodes (median of 3), each beside
  a ``salt-run test.arg`` (the cost of salt-run itself: start-up, its job record, output).

``tiny``: the sandbox's default packages (3 packages of a few hundred bytes per node), every
node a minion. ``ssh``: the same, every node without a minion, reached over its own real
sshd (the ssh transport: the same figures, so the two fixed costs per node stand side by
side). ``both``: the same 8 nodes, 4 minions and 4 ssh nodes, in one run.
``realistic``: ``Sandbox.up(realistic=True)``: 50 MB of incompressible MU packages per node,
each node's downloads limited to 100 Mbit/s (12500 KB/s) in its own apt/dnf config.
Every figure is the wall time of the ``salt-run`` process, start-up included. Prints figures
and ratios; it asserts nothing.

Where an update's wall time goes, measured from outside the product: a listener on the
master's event bus records the events the run causes anyway (each carries the master's
``_stamp``), and the Nailgun stand-in's log the time of each request. The boundaries:

- **start-up + Nailgun**: from the ``salt-run`` process start to the run's last Nailgun
  request before its first publish (salt-run's own start-up, the runner's import, Keystone
  and the inventory);
- **mirror check**: to the first publish (``mosmu.version``), or to the first wave when no
  node has a minion (with it: selection, the minion index, the published-mirror check, the
  Salt client and the run locks);
- **module sync**: to the ``mosmu/update/<env>/start`` event of the first environment (the
  ``mosmu.version`` round trip, the master's code digest, a sync of stale minions if any);
- **checks before**: to the start of the first wave (the health checks before the update,
  ``mosmu_finish``; the first wave's start is its first node event less the report's
  ``waves[0].seconds``);
- **waves**: to the last node event (``mosmu/update/<env>/node/...``, sent after each wave);
- **restarts, checks after**: to the last ``mosmu/update/<env>/done`` event (the Pacemaker
  step, the health checks after the update, a Nailgun request among them);
- **report**: to the end of the ``salt-run`` process (the master's records, the report,
  salt-run's return event and output).

Each phase is printed in seconds and percent of the run's wall time. For ssh nodes it also
counts the ssh connections each node's sshd accepted during each run (its log's ``Accepted
publickey`` lines): the per-node fixed cost of the ssh transport is paid once per node per
run when that is 1. The machine's load average is printed before and after.

The sandbox's master serves the formula and loader directories only, as a real master does.
Its daemons and every ``salt-run`` write Python bytecode caches as any Salt installation
does: an inherited ``PYTHONDONTWRITEBYTECODE`` (this workplace sets it) is dropped for them,
else every minion job and every ``salt-run`` compiles mosmu's modules from source.

    .venv/bin/python benchmarks/bench_update.py [tiny] [ssh] [both] [realistic]
"""

import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import salt.config
import salt.utils.event

from sandbox import inventory as inventory_mod
from sandbox.stack import Sandbox

NODES = 8
PHASES = ("start-up + Nailgun", "mirror check", "module sync", "checks before", "waves",
          "restarts, checks after", "report")


def fleet_inventory(nodes=NODES):
    """env 1 (MOS 8.0, Ubuntu) of ``nodes`` compute nodes."""
    inv = inventory_mod.default(nodes)
    for node in inv["nodes"]:
        node["roles"] = ["compute"]
    return inv


class Bus(threading.Thread):
    """Records the master's events (tag, data, ``_stamp`` as epoch seconds) while it runs."""

    def __init__(self, box):
        super().__init__(daemon=True)
        self.opts = salt.config.client_config(os.path.join(box.config_dir, "master"))
        self.events = []
        self.ready, self.done = threading.Event(), threading.Event()

    def run(self):
        bus = salt.utils.event.get_event("master", self.opts["sock_dir"], opts=self.opts,
                                         listen=True)
        try:
            bus.subscribe("")
            self.ready.set()
            while not self.done.is_set():
                event = bus.get_event(wait=0.2, full=True)
                if event and isinstance(event.get("data"), dict):
                    self.events.append((stamp(event["data"].get("_stamp")), event["tag"],
                                        event["data"]))
        finally:
            bus.destroy()

    def __enter__(self):
        self.start()
        if not self.ready.wait(30):
            raise RuntimeError("the master's event bus did not answer the listener")
        return self

    def __exit__(self, *_exc):
        self.done.set()
        self.join(timeout=10)

    def between(self, start, end):
        return [e for e in self.events if e[0] is not None and start <= e[0] <= end]


def stamp(text):
    """Epoch seconds of a Salt event ``_stamp`` (UTC, ISO 8601), or None."""
    try:
        when = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def nailgun_times(box, start, end):
    """Epoch seconds of the stand-in's requests between start and end (its log: local time,
    milliseconds)."""
    out = []
    with open(os.path.join(box.dir, "logs", "fuelapi.log"), encoding="utf-8",
              errors="replace") as handle:
        for line in handle:
            try:
                when = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + \
                    int(line[20:23]) / 1000
            except ValueError:
                continue
            if start - 0.001 <= when <= end + 0.001:
                out.append(when)
    return out


def split(box, bus, start, end, report=None):
    """``{phase: seconds}`` of one update run (see the module docstring), or None when its
    events are missing (the run failed before its first wave)."""
    events = bus.between(start, end)
    version = next((t for t, tag, data in events if tag.startswith("salt/job/")
                    and tag.endswith("/new") and data.get("fun") == "mosmu.version"), None)
    starts = [t for t, tag, _ in events if tag.startswith("mosmu/update/")
              and tag.endswith("/start")]
    dones = [t for t, tag, _ in events if tag.startswith("mosmu/update/")
             and tag.endswith("/done")]
    nodes = [t for t, tag, _ in events if tag.startswith("mosmu/update/") and "/node/" in tag]
    if not starts or not dones or not nodes:
        return None
    first = version or min(starts)
    nailgun = [t for t in nailgun_times(box, start, end) if t <= first]
    waves = (report or {}).get("waves") or [{}]
    waves_start = min(nodes) - float(waves[0].get("seconds") or 0)   # wave 1 ends at its events
    marks = [start, max(nailgun or [start]), first, min(starts), waves_start, max(nodes),
             max(dones), end]
    for i in range(1, len(marks)):          # clocks read to the millisecond: keep in order
        marks[i] = max(marks[i], marks[i - 1])
    return {name: marks[i + 1] - marks[i] for i, name in enumerate(PHASES)}


def accepted(box):
    """``{ssh node: ssh connections its sshd accepted so far}``."""
    out = {}
    for path in glob.glob(os.path.join(box.dir, "logs", "sshd-*.log")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            out[os.path.basename(path)[5:-4]] = sum("Accepted publickey" in ln for ln in handle)
    return out


def timed(box, bus, *args):
    """``(seconds, exit code, report, phases, ssh connections per node)`` of one
    ``salt-run --out=json`` call."""
    before = accepted(box)
    start = time.time()
    started = time.monotonic()
    proc = subprocess.run(box.salt_argv("salt-run", "--out=json", *args), capture_output=True,
                          text=True, check=False)
    seconds = time.monotonic() - started
    end = start + seconds
    time.sleep(0.3)                         # the listener's last events
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {"error": (proc.stderr or proc.stdout)[-300:]}
    after = accepted(box)
    conns = {node: after[node] - before.get(node, 0) for node in after}
    phases = split(box, bus, start, end, report if isinstance(report, dict) else None) \
        if args and args[0] == "mosmu.update" else None
    return seconds, proc.returncode, report, phases, conns


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


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
        with Bus(box) as bus:
            sync = timed(box, bus, "mosmu.sync", "env=1")
            rows = {}
            rows["one"] = timed(box, bus, "mosmu.update", "env=1", "nodes=1")
            reset(box)
            rows["at once"] = timed(box, bus, "mosmu.update", "env=1")
            reset(box)
            rows["one after another"] = timed(box, bus, "mosmu.update", "env=1", "batch=1")
            reset(box)
            rows["at once, no finish"] = timed(box, bus, "mosmu.update", "env=1",
                                               "checks=False", "restart=False")
            status, floor = [], []
            for _ in range(3):
                status.append(timed(box, bus, "mosmu.status", "env=1"))
                floor.append(timed(box, bus, "test.arg")[0])
        rows["status"] = (statistics.median(s[0] for s in status), *status[-1][1:4],
                          status[-1][4])
        return {"label": label, "up": up, "sync": sync[0], "sync_rc": sync[1], "rows": rows,
                "status each": [s[0] for s in status], "floor": floor}
    finally:
        box.down()


def show(run):
    rows = run["rows"]
    print(f"\n== {run['label']} packages: sandbox up {run['up']:.1f} s, mirror sync "
          f"{run['sync']:.1f} s (exit {run['sync_rc']}, not timed below); load average "
          f"{loadavg()}")
    print(f"{'run':<20} {'wall':>8}  {'exit':>4}  {'node durations (s)':<34} results")
    for name, (seconds, code, report, _phases, _conns) in rows.items():
        durations = node_seconds(report)
        spread = (f"{min(durations):.1f}..{max(durations):.1f} (sum {sum(durations):.1f})"
                  if durations else "-")
        counts = {r: results(report).count(r) for r in sorted(set(results(report)))}
        print(f"{name:<20} {seconds:>7.2f}s  {code:>4}  {spread:<34} "
              f"{counts or report.get('error')}")
    one, at_once, serial = (rows[k][0] for k in ("one", "at once", "one after another"))
    print(f"{NODES} at once vs 1 node:                 x{at_once / one:.2f}")
    print(f"one after another vs {NODES} at once:      x{serial / at_once:.2f}")
    print(f"{NODES} at once vs the same without checks and restarts: "
          f"x{at_once / rows['at once, no finish'][0]:.2f}")
    print(f"status over {NODES} nodes (median of 3):   {rows['status'][0]:.2f} s  "
          f"[{', '.join(f'{s:.2f}' for s in run['status each'])}]; salt-run test.arg "
          f"beside it (salt-run's own floor): {statistics.median(run['floor']):.2f} s  "
          f"[{', '.join(f'{s:.2f}' for s in run['floor'])}]")
    print("where each update's wall time goes (s, % of the wall time; waves: the report's "
          "per-wave seconds):")
    print(f"  {'run':<20}" + "".join(f"{p:>24}" for p in PHASES) + f"{'report waves':>16}")
    for name in ("one", "at once", "one after another", "at once, no finish"):
        seconds, _code, report, phases, _conns = rows[name]
        if not phases:
            print(f"  {name:<20} (no split: the run's events are missing)")
            continue
        waves = sum(w.get("seconds", 0) for w in report.get("waves", ()))
        print(f"  {name:<20}" + "".join(
            f"{phases[p]:>14.2f} s ({100 * phases[p] / seconds:3.0f}%)" for p in PHASES) +
            f"{waves:>14.1f} s")
    conns = {name: [c for c in row[-1].values() if c] for name, row in rows.items()}
    if any(conns.values()):
        print("ssh connections each ssh node's sshd accepted per run (status: the last of "
              "3): " + "; ".join(f"{name}: {len(c)} node(s), " + "/".join(
                  map(str, sorted(set(c)))) + " each" for name, c in conns.items() if c))


def main(argv):
    labels = list(argv) or ["tiny", "ssh", "both", "realistic"]
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)     # as on any Salt master and minion
    print(f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {loadavg()} (/proc/loadavg: 1, 5, 15 min), file_roots formula only")
    for label in labels:
        show(measure(label))
    print(f"\nload average after: {loadavg()} ({time.strftime('%H:%M')})")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
