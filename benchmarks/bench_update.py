"""Wall time of ``salt-run mosmu.update env=1`` on the sandbox, for N = 1 and N = 3 nodes.

For each N: a fresh sandbox; the first run (mirror sync + upgrade of 3 packages per node),
then a second, no-op run. Prints figures and ratios; it asserts nothing.

    make bench            # or: .venv/bin/python benchmarks/bench_update.py [N ...]
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sandbox.stack import Sandbox  # noqa: E402  pylint: disable=wrong-import-position


def timed(box, *args):
    started = time.monotonic()
    proc = subprocess.run(box.salt_argv("salt-run", "--out=quiet", *args),
                          capture_output=True, text=True, check=False)
    return time.monotonic() - started, proc.returncode


def measure(nodes):
    box = Sandbox(tempfile.mkdtemp(prefix="mosmu-bench-", dir="/tmp"))
    try:
        started = time.monotonic()
        box.up(nodes=nodes, centos_nodes=0)
        up = time.monotonic() - started
        first, rc1 = timed(box, "mosmu.update", "env=1")
        second, rc2 = timed(box, "mosmu.update", "env=1")
        return {"nodes": nodes, "up": up, "first": first, "second": second,
                "rc": (rc1, rc2)}
    finally:
        box.down()


def main(argv):
    counts = [int(a) for a in argv] or [1, 3]
    rows = [measure(n) for n in counts]
    print(f"{'nodes':>5}  {'sandbox up':>10}  {'update (sync+upgrade)':>21}  "
          f"{'update (no-op)':>14}  exit codes")
    for r in rows:
        print(f"{r['nodes']:>5}  {r['up']:>9.1f}s  {r['first']:>20.2f}s  {r['second']:>13.2f}s"
              f"  {r['rc']}")
    if len(rows) > 1:
        base, last = rows[0], rows[-1]
        print(f"\n{last['nodes']} nodes vs {base['nodes']}: update x{last['first'] / base['first']:.2f}"
              f" wall time for x{last['nodes'] / base['nodes']:.0f} nodes "
              f"(sequential would be about x{last['nodes'] / base['nodes']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
