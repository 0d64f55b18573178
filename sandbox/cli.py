"""``mosmu-sandbox``: up / down / demo of the local stand-in for a Fuel master and its nodes."""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

from . import inventory as inventory_mod
from . import rpmrepo
from .stack import Sandbox, SandboxError

UPDATED_VERSION = "1.1"
STATUS_FILE = "var/log/mos_apply_mu.status"      # in a node root (mosmu_status.STATUS_FILE)


def json_documents(stream):
    """Yield JSON documents from a stream of concatenated pretty-printed documents."""
    decoder, buf = json.JSONDecoder(), ""
    for chunk in stream:
        buf += chunk
        while True:
            text = buf.lstrip()
            if not text:
                buf = ""
                break
            try:
                doc, end = decoder.raw_decode(text)
            except ValueError:
                break
            buf = text[end:]
            yield doc


def run_update(box, *args):
    """Run ``salt-run mosmu.update`` as an operator would: its progress lines and table go to
    the terminal as they come. The nodes' own view is then read back with ``salt-run
    mosmu.status --out=json`` (same selection). Returns ``(status report, update exit code)``."""
    argv = box.salt_argv("salt-run", "mosmu.update", *args)
    print("$", " ".join([*argv[0:1], "-c", box.config_dir, *argv[3:]]), flush=True)
    with tempfile.TemporaryFile("w+") as errors:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True,
                              bufsize=1) as proc:
            for line in proc.stdout:
                print("  " + line, end="", flush=True)
        errors.seek(0)
        for line in errors:   # Salt 3008's salt-run warns about its own unclosed objects
            if not line.startswith(("unclosed ", "[WARNING ] unclosed ")):
                print(line, end="", file=sys.stderr)
    found = box.run_salt("salt-run", "--out=json", "mosmu.status",
                         *[a for a in args if a.split("=")[0] in ("env", "all_envs", "roles",
                                                                 "nodes", "offline")],
                         check=False)
    docs = list(json_documents([found.stdout]))
    return (docs[-1] if docs else None), proc.returncode


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers), line.format(*("-" * w for w in widths))]
    out += [line.format(*map(str, row)) for row in rows]
    return "\n".join(out)


def node_entries(report):
    """Per-node entries of a runner report (the keys that are node IPs)."""
    return {k: v for k, v in report.items() if isinstance(v, dict) and "result" in v}


def installed_versions(root):
    """``{package: version}`` installed in a node root, read with dpkg-query."""
    proc = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                           "-f", "${Package} ${Version}\n"], capture_output=True, text=True,
                          check=True)
    return dict(line.split() for line in proc.stdout.splitlines() if line.strip())


def installed_rpms(root):
    """``{package: version}`` installed in a CentOS node root, read with ``rpm --root -qa``
    (the release, ``-1``, dropped)."""
    return {name: version.rsplit("-", 1)[0]
            for name, version in rpmrepo.installed(root).items()
            if not name.startswith("gpg-pubkey")}   # the mirror key dnf imported


def node_packages(root, distro):
    """``{package: version}`` in a node root: dpkg-query for Ubuntu, rpm for CentOS."""
    return installed_rpms(root) if distro == "centos" else installed_versions(root)


def status_line(root):
    """The last line of a node root's status file (``var/log/mos_apply_mu.status``), or None:
    what ``mosmu.status`` reports as ``line``, read directly (ssh nodes have no minion)."""
    try:
        with open(os.path.join(root, STATUS_FILE), encoding="utf-8") as handle:
            lines = [ln.rstrip("\n") for ln in handle if ln.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def demo_rows(box, report, status):
    """``(ok, {env: [row, ...]})``: one row per sandbox node (minions and ssh nodes), grouped
    by environment; ok only when every node is in the report, OK, and has every package at
    ``UPDATED_VERSION``. Minions' status lines come from ``status`` (``salt '*'
    mosmu.status``), ssh nodes' from their node roots; ssh nodes show ``ssh`` as minion."""
    by_ip = node_entries(report)
    entries = {e.get("minion"): (ip, e) for ip, e in by_ip.items()}
    nodes = [(info, minion, entries.get(minion, (info["ip"], {"result": "MISSING"})),
              (status.get(minion) or {}).get("line"))
             for minion, info in box.state["minions"].items()]
    nodes += [(info, "ssh", (info["ip"], by_ip.get(info["ip"]) or {"result": "MISSING"}),
               status_line(info["root"]))
              for info in (box.state.get("ssh_nodes") or {}).values()]
    ok, envs = True, {}
    for info, minion, (ip, entry), line in sorted(nodes, key=lambda n: n[0]["ip"]):
        versions = node_packages(info["root"], info["distro"])
        upgraded = bool(versions) and all(v == UPDATED_VERSION for v in versions.values())
        ok = ok and entry["result"] == "OK" and upgraded
        envs.setdefault(info["env"], []).append((
            ip, minion, info["distro"], entry["result"], len(entry.get("changes") or {}),
            line, ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    return ok, envs


def with_ceph(inv):
    """Make environment 1's last node a Ceph OSD node too (``compute, ceph-osd`` or
    ``ceph-osd``, as Fuel deploys them), so that env 1 has Ceph: its controllers get the
    monitors (``services.ceph_node``). Returns that node's fqdn, or None (no such node)."""
    env1 = [n for n in inv["nodes"] if n["cluster"] == 1]
    if len(env1) < 2:
        return None
    node = env1[-1]
    node["roles"] = [r for r in node["roles"] if r != "cinder"] + ["ceph-osd"]
    return node["fqdn"]


def demo(nodes, centos_nodes=2, directory=None, ssh_nodes=1):
    """up -> mosmu.update all_envs=True -> mosmu.status -> check versions -> down.

    ``ssh_nodes``: nodes without a minion (reached over ssh) in each environment. Env 1's
    last node is also a Ceph OSD node (:func:`with_ceph`): the run shows the Ceph steps.
    Returns the exit code: 0 only when every node of every environment ended OK, upgraded.
    """
    directory = directory or tempfile.mkdtemp(prefix="mosmu-demo-")
    box = Sandbox(directory)
    try:
        envs = 2 if centos_nodes else 1
        print(f"sandbox: starting Fuel API, rsync, HTTP, salt-master, {nodes} Ubuntu + "
              f"{centos_nodes} CentOS minion(s) and {ssh_nodes * envs} ssh node(s) "
              f"({ssh_nodes} per environment) in {directory}", flush=True)
        inv = inventory_mod.default(nodes, centos_nodes, ssh_nodes=ssh_nodes)
        osd = with_ceph(inv)
        if osd:
            print(f"sandbox: env 1 has Ceph: {osd} is a ceph-osd node, its controllers run the "
                  "monitors", flush=True)
        box.up(inventory=inv, ssh_nodes=ssh_nodes)
        report, code = run_update(box, "all_envs=True")
        if not isinstance(report, dict) or "error" in report:
            print("update failed:", report.get("error") if isinstance(report, dict) else report)
            return code or 1
        status = {}
        if box.state["minions"]:        # ssh nodes: status read from their node roots
            status = json.loads(box.run_salt("salt", "*", "mosmu.status", "--out=json",
                                             "--static", check=False).stdout or "{}")
        ok, envs = demo_rows(box, report, status)
        for env, rows in sorted(envs.items()):
            print(f"\nenvironment {env}")
            print(table(rows, ("node IP", "minion", "distro", "result", "upgraded",
                               "status file", "packages in node root")))
        print(f"\nsummary: {report.get('summary')}  retcode: {report.get('retcode')}")
        return 0 if ok and code == 0 else 1
    finally:
        box.down()


def _prog():
    """How the operator ran us: ``mosmu-sandbox`` (entry point) or ``python -m sandbox``."""
    name = os.path.basename(sys.argv[0])
    return "python -m sandbox" if name in ("__main__.py", "cli.py") else name


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mosmu-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox in DIR")
    up.add_argument("--dir", required=True)
    up.add_argument("--nodes", type=int, default=3, help="Ubuntu nodes of env 1 (MOS 8.0)")
    up.add_argument("--centos-nodes", type=int, default=2,
                    help="CentOS nodes of env 2 (MOS 6.1); 0 for none")
    up.add_argument("--inventory", help="inventory JSON instead of the default environments")
    up.add_argument("--ssh-nodes", type=int, default=0,
                    help="nodes without a minion, reached over ssh (own sshd on 127.0.0.1), "
                         "in each environment")
    up.add_argument("--realistic", action="store_true",
                    help="realistic node work: 50 MB of MU packages per node, each node's "
                         "downloads limited to 100 Mbit/s")
    down = sub.add_parser("down", help="stop everything started in DIR and remove DIR")
    down.add_argument("--dir", required=True)
    dm = sub.add_parser("demo", help="up, update all_envs=True, status, down")
    dm.add_argument("--nodes", type=int, default=3)
    dm.add_argument("--centos-nodes", type=int, default=2)
    dm.add_argument("--ssh-nodes", type=int, default=1,
                    help="nodes reached over ssh in each environment (default 1)")
    dm.add_argument("--dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            inventory = None
            if args.inventory:
                with open(args.inventory, encoding="utf-8") as handle:
                    inventory = json.load(handle)
            box = Sandbox(args.dir)
            state = box.up(nodes=args.nodes, centos_nodes=args.centos_nodes,
                           inventory=inventory, realistic=args.realistic,
                           ssh_nodes=args.ssh_nodes)
            print(f"sandbox up in {state['dir']} with minions: {', '.join(state['minions'])}")
            for fqdn, info in state["ssh_nodes"].items():
                print(f"ssh node {fqdn}: {info['ip']} (env {info['env']}, {info['distro']} "
                      f"{info['version']}) at 127.0.0.1:{info['port']}, root {info['root']}")
                print(f"  ssh:   {shlex.join(box.ssh_argv(fqdn))}")
            print(f"trees:   {', '.join(state['trees'])}")
            print(f"update:  {state['commands']['update']}")
            print(f"status:  {state['commands']['status']}")
            print(f"stop:    {_prog()} down --dir {state['dir']}")
            return 0
        if args.command == "down":
            Sandbox(args.dir).down()
            return 0
        return demo(args.nodes, args.centos_nodes, args.dir, ssh_nodes=args.ssh_nodes)
    except SandboxError as err:
        print(f"mosmu-sandbox: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
