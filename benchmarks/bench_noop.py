"""A no-op ``state.apply mosmu`` beside bare package-manager checks on the same node root.

On a sandbox with one Ubuntu (MOS 8.0) and one CentOS (MOS 6.1) node, already updated once,
for each node: the mosmu state's own duration (Salt's ``duration``, ms) and the wall time of
``salt <minion> state.apply mosmu`` (including the salt CLI), beside the bare commands with
the same MU-only sources on the same node root: ``apt-get update`` + ``apt-get -s upgrade``
(or ``dnf makecache`` + ``dnf check-update``), and the simulation alone. Median of REPS runs.
Prints figures and ratios; asserts nothing.

    .venv/bin/python benchmarks/bench_noop.py [REPS]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [HERE, os.path.join(HERE, "_utils")]

import mosmu_backend  # noqa: E402  pylint: disable=wrong-import-position
import mosmu_plan  # noqa: E402  pylint: disable=wrong-import-position
from sandbox.stack import Sandbox  # noqa: E402  pylint: disable=wrong-import-position


def _timed(argv, env=None):
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env=dict(os.environ, **(env or {})))
    return time.monotonic() - started, proc


def main(argv):
    reps = int(argv[0]) if argv else 5
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-bench-noop-", dir="/tmp"))
    rows = []
    try:
        box.up(nodes=1, centos_nodes=1)
        for env in (1, 2):
            _t, proc = _timed(box.salt_argv("salt-run", "--out=json", "mosmu.update",
                                            f"env={env}"))
            if proc.returncode != 0:
                print(f"update env={env} failed: {proc.stdout[-500:]}")
                return 1
        for minion, info in sorted(box.state["minions"].items()):
            with open(os.path.join(box.node_root(minion), "var/log/mos_apply_mu.json"),
                      encoding="utf-8") as handle:
                version = json.load(handle)["mos_version"]
            plan = mosmu_plan.Plan.from_pillar({
                "mos_version": version, "distro": info["distro"], "trusted": True,
                "repo_url": f"http://127.0.0.1:{box.state['ports']['http']}"})
            backend = mosmu_backend.for_plan(plan, box.node_root(minion),
                                             __import__("shutil").which)
            pillar = json.dumps({"mosmu": plan.to_pillar()})
            state_ms, salt_wall, bare_both, bare_sim = [], [], [], []
            for _ in range(reps):
                wall, proc = _timed(box.salt_argv("salt", minion, "state.apply", "mosmu",
                                                  f"pillar={pillar}", "--out=json"))
                (ret,) = json.loads(proc.stdout)[minion].values()
                if ret["changes"]:                    # a no-op run: nothing to upgrade
                    raise RuntimeError(f"not a no-op run on {minion}: {ret['changes']}")
                state_ms.append(ret["duration"] / 1000)
                salt_wall.append(wall)
                refresh, _p = _timed(backend.refresh_argv(), backend.env())
                simulate, _p = _timed(backend.simulate_argv(), backend.env())
                bare_both.append(refresh + simulate)
                bare_sim.append(simulate)
            rows.append((minion, info["distro"], backend.name,
                         *(statistics.median(x) for x in (state_ms, salt_wall, bare_both,
                                                          bare_sim))))
    finally:
        box.down()
    print(f"{'node':<26} {'backend':<7} {'state (Salt)':>12} {'salt CLI wall':>13} "
          f"{'bare refresh+sim':>16} {'bare sim':>9} {'state/bare':>10}")
    for minion, _distro, name, state, wall, both, sim in rows:
        print(f"{minion:<26} {name:<7} {state:>11.3f}s {wall:>12.3f}s {both:>15.3f}s "
              f"{sim:>8.3f}s {state / both:>9.2f}x")
    print(f"\nmedian of {reps} runs. The state runs the same refresh + simulation as the bare"
          " commands, plus the dpkg/rpm database listing, the repo-file check and the status"
          " read; the salt CLI adds its own start-up and the master round trip.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
