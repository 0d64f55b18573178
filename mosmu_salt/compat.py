"""``mos_apply_mu``: the old ``mos_apply_mu.py`` command line, run by mosmu's Salt runner.

Operators and their scripts keep typing ``mos_apply_mu --env-id=11 --update``; this command
parses the old options, refuses what mosmu no longer takes on a command line (credentials),
maps the rest to ``mosmu.update`` / ``mosmu.status`` runner arguments, runs the runner in this
process with Salt's ``RunnerClient`` (as ``salt-run`` does), prints one line per node in the
old tool's words, and exits with a code a script can trust.

Parsing, mapping and report formatting are pure functions (:func:`parse`, :func:`runner_call`,
:func:`config_overrides`, :func:`report_lines`) so they are tested without Salt.
"""

import argparse
import ipaddress
import logging
import os
import re
import sys

try:
    import mosmu_text
except ImportError:  # a source checkout (python -m mosmu_salt.compat): the helpers sit beside
    sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "_utils"))
    import mosmu_text

OLD_VERSION_ID = "29042016"  # what mos_apply_mu.py --version printed (VER_ID: ...)
DEFAULT_CONFIG_DIR = "/etc/salt"

# Exit codes. The old tool's validation codes are kept; everything else is mosmu's.
EXIT_OK = 0
EXIT_FAIL = 2            # a node did not end OK, the runner failed, or a bad option
EXIT_BOTH_ENVS = 5       # old: --env-id and --all-envs (or --nodes, which implies all envs)
EXIT_NO_ENV = 6          # old: neither --env-id nor --all-envs
EXIT_BOTH_MODES = 7      # old: --check and --update
EXIT_NO_MODE = 8         # old: neither --check nor --update
EXIT_VERSION = 19        # old: --version
EXIT_INTERRUPTED = 130

REFUSED = ("--user", "--pass", "--tenant")
EXTRA_REPOS = (("mos_proposed", "proposed"), ("mos_security", "security"))
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")

log = logging.getLogger(__name__)

EPILOG = """\
Old options and what they become (salt-run equivalents):
  --env-id=N / --all-envs   env=N / all_envs=True (exactly one; --nodes implies --all-envs,
                            as before)
  --update / --check        salt-run mosmu.update / salt-run mosmu.status
  --roles=a,b --nodes=IP,IP roles=a,b nodes=IP,IP      --offline   offline=True
  --mos-version=8.0         mos_version=8.0 (default: per environment, from Nailgun)
  --master-ip=A.B.C.D       master_ip=A.B.C.D (default: mosmu:master_ip or astute.yaml)
  --mos-proposed            repos=proposed          --mos-security   repos=security
  --no-rsync                sync=False
  --interval=N              batch=1 interval=N: one node at a time, N seconds after each
                            node has finished (the old tool slept N s after starting one)
  --fuel-ip=X               mosmu:fuel_url http://X:8000 and keystone_url
                            http://X:5000/v2.0, for this run only
  --use-latest              accepted; it had no effect in mos_apply_mu.py and has none here
  --user/--pass/--tenant    refused: a password on a command line is visible to every user
                            of the master; set mosmu:username, mosmu:password (literal or
                            sdb://) and mosmu:tenant in /etc/salt/master.d/mosmu.conf

Exit codes (old tool -> mos_apply_mu now):
  0    old: update started (node results unknown)  now: every selected node ended OK
  2    old: -                                      now: a node did not end OK (FAIL,
       STARTED, no status, no minion, timeout), the runner failed (Fuel API, mirror,
       config), or a bad/refused option
  5    --env-id together with --all-envs or --nodes (unchanged)
  6    neither --env-id nor --all-envs (unchanged)
  7    --check together with --update (unchanged)
  8    neither --check nor --update (unchanged)
  19   --version: prints VER_ID: {version} (unchanged)
  95, 110, 111, 1   old: Keystone token, master IP, MOS version, rsync errors
       now: 2, with one line naming the cause and the fix
"""


class UsageError(Exception):
    """A bad or refused command line; ``code`` is the exit code, the message says the fix."""

    def __init__(self, message, code=EXIT_FAIL):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting."""

    def error(self, message):
        raise UsageError(f"ERROR: {message}; see mos_apply_mu --help")


def _parser():
    parser = _Parser(
        prog="mos_apply_mu", add_help=False, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="mos_apply_mu {--env-id=N | --all-envs} {--check | --update} [options]",
        description="Apply MOS maintenance updates with mosmu, using the options of "
                    "mos_apply_mu.py. Runs the mosmu.update (--update) or mosmu.status "
                    "(--check) Salt runner on this Salt master.",
        epilog=EPILOG.format(version=OLD_VERSION_ID))
    add = parser.add_argument
    add("--env-id", metavar="N", help="ID of the operational environment to update or check")
    add("--all-envs", action="store_true", help="every operational environment")
    add("--update", action="store_true", help="update the selected nodes")
    add("--check", action="store_true", help="show each selected node's last MU status")
    add("--roles", metavar="A,B", help="only nodes with any of these roles")
    add("--nodes", metavar="IP,IP",
        help="only these nodes (admin IPs); implies --all-envs, as in mos_apply_mu.py")
    add("--offline", action="store_true", help="include nodes Nailgun reports offline")
    add("--interval", metavar="N", help="seconds between nodes (updates one node at a time)")
    add("--mos-version", metavar="E.F", help="MOS version (default: per environment)")
    add("--master-ip", metavar="A.B.C.D", help="IP the nodes reach the master at")
    add("--fuel-ip", metavar="X", help="Fuel master address (Nailgun :8000, Keystone :5000)")
    add("--mos-proposed", action="store_true", help="also the proposed repository")
    add("--mos-security", action="store_true", help="also the security repository")
    add("--use-latest", action="store_true", help="accepted for compatibility; no effect")
    add("--no-rsync", action="store_true", help="do not sync the mirror first")
    add("--version", action="store_true", help=f"print VER_ID: {OLD_VERSION_ID} and exit 19")
    add("-c", "--config-dir", default=DEFAULT_CONFIG_DIR, metavar="DIR",
        help=f"Salt master config dir (default {DEFAULT_CONFIG_DIR})")
    add("-l", "--log-level", default="critical",
        choices=("debug", "info", "warning", "error", "critical"),
        help="log messages shown on stderr (default critical)")
    add("-h", "--help", action="store_true", help="show this help and exit")
    return parser


def usage():
    """The ``--help`` text, with the option mapping and the exit codes."""
    return _parser().format_help()


def _refused(argv):
    for arg in argv:
        for option in REFUSED:
            if arg == option or arg.startswith(option):  # --pass, --pass=x, --password=x
                return option
    return None


def _positive_int(value, option):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"ERROR: {option}={value!r} is not a number; give {option}=N") \
            from None
    return number


def _items(value, option):
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UsageError(f"ERROR: {option}= is empty; give a comma-separated list")
    return items


def _host(value):
    """An IPv4 address or DNS name for --fuel-ip (it ends up in a URL)."""
    try:
        return str(ipaddress.IPv4Address(value))
    except ipaddress.AddressValueError:
        pass
    if len(value) <= 253 and all(_HOST_LABEL.fullmatch(p) for p in value.split(".")):
        return value
    raise UsageError(f"ERROR: --fuel-ip={value!r} is not an IPv4 address or host name")


def parse(argv):
    """Parse and validate an old-style command line.

    :param argv: arguments without the program name
    :returns: an ``argparse.Namespace`` with normalised values (``env_id`` int or None,
        ``roles``/``nodes`` lists or None, ``interval`` int, ``all_envs`` True when
        ``--nodes`` is given without an environment), or with ``help``/``version`` set
    :raises UsageError: with the old tool's exit code where it had one (5, 6, 7, 8)
    """
    argv = list(argv)
    option = _refused(argv)
    if option:
        raise UsageError(
            f"ERROR: {option} is not accepted: a password on a command line is visible to "
            "every user of the master (ps, shell history) and would be kept in Salt's job "
            "cache. Set mosmu:username, mosmu:password (a literal or sdb://<profile>/<key>) "
            "and mosmu:tenant in /etc/salt/master.d/mosmu.conf (mode 0600) instead; see "
            "docs/install.md.")
    opts = _parser().parse_args(argv)
    if opts.help or opts.version:  # the old tool exited on --version before validating
        return opts
    if opts.env_id is not None:
        opts.env_id = _positive_int(opts.env_id, "--env-id")
        if opts.env_id < 0:
            raise UsageError(f"ERROR: --env-id={opts.env_id} is not an environment id; "
                             "give --env-id=N (see fuel env)")
        if opts.env_id == 0:
            opts.env_id = None  # the old tool treated 0 as "not given"
    opts.roles = _items(opts.roles, "--roles") if opts.roles is not None else None
    opts.nodes = _items(opts.nodes, "--nodes") if opts.nodes is not None else None
    if opts.nodes and opts.env_id is not None:
        raise UsageError(
            "ERROR: You should only select either --env-id or --all-envs. --nodes implies "
            "--all-envs, as in mos_apply_mu.py; drop --env-id, or filter within one "
            "environment with salt-run mosmu.update env=N nodes=IP,IP", EXIT_BOTH_ENVS)
    if opts.nodes:
        opts.all_envs = True
    if opts.env_id is not None and opts.all_envs:
        raise UsageError("ERROR: You should only select either --env-id or --all-envs.",
                         EXIT_BOTH_ENVS)
    if opts.env_id is None and not opts.all_envs:
        raise UsageError("ERROR: At least one option (env-id or all-envs) must be set.",
                         EXIT_NO_ENV)
    if opts.update and opts.check:
        raise UsageError("ERROR: You should use either --check or --update. Not both.",
                         EXIT_BOTH_MODES)
    if not opts.update and not opts.check:
        raise UsageError("ERROR: Either --check or --update must be set.", EXIT_NO_MODE)
    opts.interval = _positive_int(opts.interval, "--interval") if opts.interval else 0
    if opts.interval < 0:
        raise UsageError(f"ERROR: --interval={opts.interval} must be 0 or more seconds")
    opts.master_ip = opts.master_ip or None  # the old usage showed --master-ip="" = guess
    opts.mos_version = opts.mos_version or None
    if opts.fuel_ip is not None:
        opts.fuel_ip = _host(opts.fuel_ip)
    return opts


def runner_call(opts):
    """``(runner function, kwargs)`` for parsed options; no secrets, ever.

    :param opts: the result of :func:`parse`
    """
    kwargs = {"env": opts.env_id} if opts.env_id is not None else {"all_envs": True}
    if opts.roles:
        kwargs["roles"] = list(opts.roles)
    if opts.nodes:
        kwargs["nodes"] = list(opts.nodes)
    if opts.offline:
        kwargs["offline"] = True
    if opts.master_ip:
        kwargs["master_ip"] = opts.master_ip
    if opts.check:
        return "mosmu.status", kwargs
    repos = [repo for flag, repo in EXTRA_REPOS if getattr(opts, flag)]
    if repos:
        kwargs["repos"] = repos
    if opts.mos_version:
        kwargs["mos_version"] = opts.mos_version
    kwargs["sync"] = not opts.no_rsync
    if opts.interval:
        kwargs.update(batch=1, interval=opts.interval)
    return "mosmu.update", kwargs


def notes(opts):
    """Lines for stderr about options that are accepted but do nothing here."""
    out = []
    if opts.use_latest:
        out.append("note: --use-latest has no effect (it set a flag mos_apply_mu.py never "
                   "read); mosmu always installs the newest packages of the MU repos")
    if opts.check:
        ignored = [name for name, on in (
            ("--interval", opts.interval), ("--mos-version", opts.mos_version),
            ("--mos-proposed", opts.mos_proposed), ("--mos-security", opts.mos_security),
            ("--no-rsync", opts.no_rsync)) if on]
        if ignored:
            out.append(f"note: {', '.join(ignored)} ignored with --check")
    return out


def config_overrides(opts, mosmu_config):
    """The ``mosmu:`` master config section this run uses (``--fuel-ip`` applied).

    :param opts: the result of :func:`parse`
    :param mosmu_config: ``opts["mosmu"]`` of the master config (may be None)
    :returns: the section to put back into the master opts; ``mosmu_config`` is not changed
    """
    if not opts.fuel_ip:
        return mosmu_config
    return dict(mosmu_config or {}, fuel_url=f"http://{opts.fuel_ip}:8000",
                keystone_url=f"http://{opts.fuel_ip}:5000/v2.0")


def _node_keys(ret):
    return sorted((k for k, v in ret.items() if isinstance(v, dict) and "result" in v),
                  key=_ip_sort_key)


def _ip_sort_key(key):
    try:
        return (0, int(ipaddress.IPv4Address(key)), key)
    except ipaddress.AddressValueError:
        return (1, 0, key)


def _packages(count):
    return "1 package upgraded" if count == 1 else f"{count} packages upgraded"


def _update_line(ip, entry):
    result, comment = entry.get("result"), str(entry.get("comment") or "").strip()
    changes = entry.get("changes") or {}
    down = sum(1 for c in changes.values() if isinstance(c, dict) and c.get("downgrade"))
    if result == "OK":
        detail = _packages(len(changes)) if changes else "already up to date"
        if entry.get("test"):
            detail = f"test mode, would upgrade {len(changes)} package(s)"
        if down:
            detail += f", {down} of them downgraded"
        return f"Node {ip}: UPDATE=OK ({detail})"
    label = "UPDATE=FAIL" if result == "FAIL" else result
    extra = [comment] if comment else []
    if changes:
        extra.insert(0, _packages(len(changes)))
    return f"Node {ip}: {label}" + (f" ({'; '.join(extra)})" if extra else "")


_LINE_OF_RESULT = {"OK": "UPDATE=OK", "FAIL": "UPDATE=FAIL", "STARTED": "STARTED"}


def _check_line(ip, entry):
    result, line = entry.get("result"), str(entry.get("line") or "").strip()
    # the node's own line, as the old tool printed it, only where it is the result: an
    # UPDATE=OK the node could not overwrite is not (the runner says why in the comment)
    if line and line == _LINE_OF_RESULT.get(result):
        return f"Node {ip} state: {line}"
    if result == "NONE":
        return f"Node {ip}: no updates information found."
    comment = str(entry.get("comment") or "").strip()
    return f"Node {ip}: {result}" + (f" ({comment})" if comment else "")


def _progress_line(event):
    """One line per runner progress event (structured wave/node events, or a message)."""
    try:
        import mosmu_render  # pylint: disable=import-outside-toplevel
    except ImportError:
        return str(event.get("message") or event)
    return mosmu_render.progress_line({k: v for k, v in event.items() if k != "outputter"})


def report_lines(fun, ret):
    """``(stdout lines, stderr lines, exit code)`` for a runner return, every line
    terminal-safe (``mosmu_text.safe``: node comments, status lines and skip reasons come
    from nodes and Nailgun).

    :param fun: ``mosmu.update`` or ``mosmu.status``
    :param ret: what the runner returned: node entries keyed by IP plus ``skipped``,
        ``summary``, ``retcode``; or ``{"error": ..., "retcode": 2}``; or (when the
        runner raised) Salt's exception text
    """
    out, err, code = _report_lines(fun, ret)
    return ([mosmu_text.safe(x, newlines="space") for x in out],
            [mosmu_text.safe(x, newlines="space") for x in err], code)


def _report_lines(fun, ret):
    if not isinstance(ret, dict):
        return [], [f"ERROR: {fun} did not return a report: {str(ret).strip()}"], EXIT_FAIL
    if "error" in ret and not _node_keys(ret):
        return [], [f"ERROR: {ret['error']}"], EXIT_FAIL
    line = _check_line if fun == "mosmu.status" else _update_line
    out = [line(ip, ret[ip]) for ip in _node_keys(ret)]
    for skip in ret.get("skipped") or []:
        if isinstance(skip, dict):
            out.append(f"Skipped {skip.get('ip')}: {skip.get('reason')}")
    summary = ret.get("summary") or {}
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.items())) or "no nodes"
    skipped = len(ret.get("skipped") or [])
    out.append(f"Summary: {counts}" + (f"; {skipped} skipped" if skipped else ""))
    if "error" in ret:       # the run stopped on an error after these nodes
        return out, [f"ERROR: {ret['error']}"], EXIT_FAIL
    code = ret.get("retcode", EXIT_FAIL)
    if not isinstance(code, int) or isinstance(code, bool):
        code = EXIT_FAIL
    return out, [], EXIT_OK if code == 0 else EXIT_FAIL


def _master_opts(config_dir):
    """Salt master opts from ``config_dir`` (``<dir>/master`` and ``master.d/``)."""
    import salt.config  # pylint: disable=import-outside-toplevel

    path = os.path.join(config_dir, "master")
    if not os.path.isfile(path):
        raise UsageError(f"ERROR: no Salt master config at {path}; run this on the Salt master "
                         "or give -c <config dir>")
    return salt.config.master_config(path)


def run(opts, out=sys.stdout, err=sys.stderr):
    """Run the runner for parsed options in this process; print; return the exit code."""
    import salt.runner  # pylint: disable=import-outside-toplevel

    master = _master_opts(opts.config_dir)
    master["mosmu"] = config_overrides(opts, master.get("mosmu"))
    try:  # salt-run creates it too: RunnerClient records the running job there
        os.makedirs(os.path.join(master["cachedir"], "proc"), exist_ok=True)
    except OSError as error:
        raise UsageError(f"ERROR: cannot use the master cache dir {master['cachedir']}: "
                         f"{error}; run as the user the salt-master runs as") from None
    fun, kwargs = runner_call(opts)

    class Client(salt.runner.RunnerClient):  # pylint: disable=too-many-ancestors
        """Prints the runner's progress messages as plain lines, nothing else."""

        def print_async_event(self, suffix, event):
            if suffix == "progress" and isinstance(event, dict):
                print(f"mosmu: {_progress_line(event)}", file=out, flush=True)

    client = Client(master)
    try:
        ret = client.cmd(fun, kwarg=kwargs, print_event=True, full_return=False)
    finally:
        if hasattr(client, "destroy"):
            client.destroy()
    lines, errors, code = report_lines(fun, ret)
    if errors and opts.fuel_ip:
        errors.append(f"(mosmu:fuel_url and keystone_url came from --fuel-ip={opts.fuel_ip})")
    for line in lines:
        print(line, file=out)
    for line in errors:
        print(line, file=err)
    return code


def main(argv=None):
    """Console script ``mos_apply_mu``."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return error.code
    if opts.help:
        print(usage())
        return EXIT_OK
    if opts.version:
        print(f"VER_ID: {OLD_VERSION_ID}")
        return EXIT_VERSION
    logging.basicConfig(level=getattr(logging, opts.log_level.upper()), stream=sys.stderr,
                        format="[%(levelname)s] %(name)s: %(message)s")
    for line in notes(opts):
        print(line, file=sys.stderr)
    try:
        return run(opts)
    except UsageError as error:
        print(error, file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("interrupted; nodes of a wave in progress finish their update on their own; "
              "check them with mos_apply_mu --check", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
