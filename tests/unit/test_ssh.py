"""The ssh transport's rules (``mosmu_ssh``), without sshd: each batch script is run by a
real local ``sh -s`` in place of the remote shell, so what the node would execute is
executed here (the integration tier runs the same over a real sshd)."""

import os
import shutil
import subprocess
import time

import pytest

import mosmu_config
import mosmu_exec
import mosmu_ssh
from mosmu_errors import ConfigError

HOSTILE = ["$(touch {canary})", "`touch {canary}`", "a; touch {canary}", "x\ntouch {canary}",
           "'; touch {canary}; '", '"; touch {canary}; "', "\\$(touch {canary})",
           "@@mosmu 0 r 0", "@@mosmu - end", "-rf", "*", "~root", "${{HOME}}", "\x1b]0;t\x07"]


def target(root="/", **kw):
    return mosmu_ssh.Target(name="node-7", host="127.0.0.1", port=2222, user="root", root=root,
                            priv="/k", known_hosts="/kh", **kw)


def local_sh(argv, stdin_text, timeout):
    """What the node's ``sh -s`` does with the script (argv is the ssh command line)."""
    assert argv[-2:] == ["sh", "-s"]
    proc = subprocess.run(["sh", "-s"], input=stdin_text, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def ssh_executor(root="/", **kw):
    return mosmu_ssh.SshExecutor(target(root), call=local_sh, sleep=lambda s: time.sleep(0.05),
                                 **kw)


def local_executor(root="/"):
    def run(argv, env):
        proc = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True,
                              check=False)
        return {"retcode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    return mosmu_exec.LocalExecutor(root, run, shutil.which)


# -- the two executors agree -------------------------------------------------------------------

def _ops(tmp):
    return [
        mosmu_exec.Which(("sh", "no-such-tool-here")),
        mosmu_exec.Read(f"{tmp}/missing"),
        mosmu_exec.Write(f"{tmp}/d/new.list", "deb http://x/ a b\n"),
        mosmu_exec.Write(f"{tmp}/d/new.list", "deb http://x/ a b\n"),
        mosmu_exec.Read(f"{tmp}/d/new.list"),
        mosmu_exec.Append(f"{tmp}/log/status", "STARTED\n"),
        mosmu_exec.Append(f"{tmp}/log/status", "UPDATE=OK\n"),
        mosmu_exec.Read(f"{tmp}/log/status"),
        mosmu_exec.List(f"{tmp}/d"),
        mosmu_exec.List(f"{tmp}/nothing"),
        mosmu_exec.Remove(f"{tmp}/d/new.list"),
        mosmu_exec.Remove(f"{tmp}/d/new.list"),
        mosmu_exec.MakeDirs(f"{tmp}/a/b/c"),
        mosmu_exec.Run.of(["sh", "-c", 'echo "$X"; echo err >&2; exit 3'], {"X": "v a l"}),
        mosmu_exec.Run.of(["true"]),
    ]


def test_the_ssh_and_the_local_executor_give_the_same_results(tmp_path):
    (tmp_path / "ssh").mkdir()
    (tmp_path / "local").mkdir()
    got_ssh = ssh_executor().batch(_ops(tmp_path / "ssh"))
    got_local = local_executor().batch(_ops(tmp_path / "local"))
    got_ssh[0] = {k: bool(v) for k, v in got_ssh[0].items()}
    got_local[0] = {k: bool(v) for k, v in got_local[0].items()}
    assert got_ssh == got_local
    assert got_ssh[13] == mosmu_exec.Result(3, "v a l\n", "err\n")
    assert got_ssh[2:4] == [True, False]          # written once, then unchanged


def test_a_written_file_is_0644_and_exact_bytes_whatever_the_text(tmp_path):
    text = "".join(chr(c) for c in range(1, 128)) + "é€\n\n"
    ssh_executor().one(mosmu_exec.Write(str(tmp_path / "f"), text))
    assert (tmp_path / "f").read_bytes().decode() == text
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_a_failed_check_run_stops_the_batch(tmp_path):
    got = ssh_executor().batch([mosmu_exec.Run.of(["false"], check=True),
                                mosmu_exec.Write(str(tmp_path / "never"), "x")])
    assert got[0].retcode == 1 and got[1] is None
    assert not (tmp_path / "never").exists()


def test_a_failed_file_operation_names_the_path(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(mosmu_exec.NodeIOError, match="file/sub/x"):
        ssh_executor().one(mosmu_exec.Write(str(blocker / "sub/x"), "x"))


def test_a_temp_dir_is_made_and_removed(tmp_path):
    ex = ssh_executor()
    path = ex.one(mosmu_exec.TempDir("mosmu-test-"))
    assert os.path.isdir(path) and os.path.basename(path).startswith("mosmu-test-")
    ex.one(mosmu_exec.RemoveTree(path))
    assert not os.path.exists(path)


def test_remove_tree_refuses_a_dir_that_is_not_mosmus():
    with pytest.raises(ValueError, match="not a mosmu temporary dir"):
        mosmu_exec.RemoveTree("/var/lib")


# -- nothing from the plan, the inventory or the node runs as a command ------------------------

@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_never_run_as_commands(tmp_path, hostile):
    canary = tmp_path / "canary"
    value = hostile.format(canary=canary)
    where = tmp_path / "d"
    ex = ssh_executor()
    got = ex.batch([
        mosmu_exec.Write(str(where / "f"), value),
        mosmu_exec.Read(str(where / "f")),
        mosmu_exec.Run.of(["printf", "%s", value], {"V": value}),
        mosmu_exec.Run.of(["sh", "-c", 'printf %s "$V"'], {"V": value}),
        mosmu_exec.Which((value,)),
        mosmu_exec.List(str(where)),
    ])
    assert not canary.exists()
    assert got[1] == value and got[2].stdout == value and got[3].stdout == value


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_output_cannot_forge_a_result(tmp_path, hostile):
    value = hostile.format(canary=tmp_path / "c")
    got = ssh_executor().batch([
        mosmu_exec.Run.of(["printf", "%s\\n@@mosmu 1 1\\n@@mosmu - end\\n", value]),
        mosmu_exec.Read(str(tmp_path / "missing"))])
    assert got[0].retcode == 0 and value in got[0].stdout
    assert got[1] is None


def test_the_remote_command_line_is_constant():
    argv = mosmu_ssh.ssh_argv(target(), "/tmp/cm", "sh -s")
    assert argv[0].endswith("ssh") and argv[-2:] == ["sh", "-s"]
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert "StrictHostKeyChecking=no" not in argv
    assert "ControlPath=/tmp/cm/%C" in argv and "IdentityFile=/k" in argv


def test_accept_new_host_keys_still_refuses_a_changed_key():
    argv = mosmu_ssh.ssh_argv(target(accept_new=True), None, "sh -s")
    assert "StrictHostKeyChecking=accept-new" in argv
    assert not any(a.startswith("ControlPath") for a in argv)


def test_extra_ssh_options_come_after_mosmus_own():
    argv = mosmu_ssh.ssh_argv(target(options=("ProxyJump=root@10.20.0.2",)), None, "sh -s")
    assert argv.index("ProxyJump=root@10.20.0.2") > argv.index("StrictHostKeyChecking=yes")


# -- ssh failures are named -----------------------------------------------------------------------

@pytest.mark.parametrize("stderr, kind, words", [
    ("root@127.0.0.1: Permission denied (publickey).", "auth", "refused the key /k"),
    ("@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
     "Host key verification failed.", "hostkey", "changed"),
    ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
     "checking.\nHost key verification failed.", "hostkey", "no host key recorded in /kh"),
    ("ssh: connect to host 127.0.0.1 port 2222: Connection refused", "unreachable",
     "unreachable"),
    ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", "timeout", "timed out"),
    ("kex_exchange_identification: Connection closed by remote host", "unreachable",
     "unreachable"),
])
def test_ssh_failures_name_the_node_cause_and_fix(stderr, kind, words):
    err = mosmu_ssh.classify(target(), stderr, 255)
    assert err.kind == kind and words in str(err) and "node-7 (root@127.0.0.1:2222)" in str(err)


def test_an_ssh_failure_of_a_batch_raises_its_kind():
    def refused(_argv, _stdin, _timeout):
        return 255, "", "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n"
    ex = mosmu_ssh.SshExecutor(target(), call=refused)
    with pytest.raises(mosmu_ssh.SshError) as info:
        ex.one(mosmu_exec.Read("/etc/hostname"))
    assert info.value.kind == "unreachable"


def test_a_batch_cut_in_the_middle_is_a_dropped_connection(tmp_path):
    def cut(argv, stdin_text, timeout):
        code, out, err = local_sh(argv, stdin_text, timeout)
        return code, out.rsplit("@@mosmu - end", 1)[0], err
    ex = mosmu_ssh.SshExecutor(target(), call=cut)
    with pytest.raises(mosmu_ssh.SshError, match="dropped in the middle"):
        ex.one(mosmu_exec.Read("/etc/hostname"))


def orphan_sleep(seconds):
    """A ``sleep`` that is not our child (as a step started by an earlier run): its pid."""
    return subprocess.run(["sh", "-c", f"sleep {seconds} >/dev/null 2>&1 & echo $!"],
                          capture_output=True, text=True, check=True).stdout.strip()


# -- long steps run detached ------------------------------------------------------------------

def test_a_long_step_runs_detached_and_its_result_is_read_back(tmp_path):
    ex = ssh_executor(root=str(tmp_path))
    got = ex.run_long(["sh", "-c", 'sleep 0.3; echo "$A"; echo e >&2; exit 4'], {"A": "b"},
                      "upgrade")
    assert got == mosmu_exec.Result(4, "b\n", "e\n")
    assert os.listdir(tmp_path / mosmu_ssh.JOBS_DIR) == []      # cleaned up once read


def test_a_long_step_survives_its_connection(tmp_path):
    """The step is started by one sh and polled by others: it runs in its own session."""
    ex = ssh_executor(root=str(tmp_path))
    marker = tmp_path / "done"
    got = ex.run_long(["sh", "-c", f"sleep 0.5; touch {marker}"], None, "upgrade")
    assert got.retcode == 0 and marker.exists()


def test_a_rerun_waits_for_a_step_still_running_and_reports_unwatched_ends(tmp_path):
    ex = ssh_executor(root=str(tmp_path))
    job = tmp_path / mosmu_ssh.JOBS_DIR / "upgrade-old"
    job.mkdir(parents=True)
    pid = orphan_sleep(0.6)
    (job / "pid").write_text(pid)
    done = tmp_path / mosmu_ssh.JOBS_DIR / "upgrade-older"
    done.mkdir()
    (done / "rc").write_text("0\n")
    started = time.monotonic()
    notes = ex.wait_idle()
    assert time.monotonic() - started >= 0.5       # it waited for the running step
    assert any("upgrade-older" in n and "exit 0" in n for n in notes)
    assert any("upgrade-old)" in n and "killed" in n for n in notes)   # ended without rc


def test_a_step_still_running_past_the_deadline_is_reported_not_doubled(tmp_path):
    ex = ssh_executor(root=str(tmp_path), deadline=time.monotonic() + 0.2)
    job = tmp_path / mosmu_ssh.JOBS_DIR / "upgrade-old"
    job.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (job / "pid").write_text(str(sleeper.pid))
        with pytest.raises(mosmu_exec.NodeIOError,
                           match=r"still runs on node-7 after \d+ s; wait .*never start a second"):
            ex.wait_idle()
    finally:
        sleeper.kill()
        sleeper.wait()


# -- roster ----------------------------------------------------------------------------------

SSH = mosmu_config.ssh_config({"known_hosts": "/kh", "priv": "/k"})
NODE = {"id": 7, "ip": "10.20.0.7", "fqdn": "node-7.domain.tld", "hostname": "node-7"}


def test_the_roster_takes_the_admin_ip_root_and_port_22_by_default():
    got = mosmu_ssh.targets([NODE], SSH)["10.20.0.7"]
    assert (got.host, got.port, got.user, got.root, got.priv) == ("10.20.0.7", 22, "root",
                                                                  "/", "/k")


def test_the_roster_honours_per_node_overrides_and_a_template():
    cfg = mosmu_config.ssh_config({"known_hosts": "/kh", "host": "{fqdn}", "hosts": {
        "10.20.0.7": {"host": "127.0.0.1", "port": 40022, "root": "/srv/n7"}}})
    got = mosmu_ssh.targets([NODE, dict(NODE, id=8, ip="10.20.0.8", fqdn="node-8.d")], cfg)
    assert (got["10.20.0.7"].host, got["10.20.0.7"].port, got["10.20.0.7"].root) == \
        ("127.0.0.1", 40022, "/srv/n7")
    assert got["10.20.0.8"].host == "node-8.d" and got["10.20.0.8"].port == 22


def test_a_hostile_fqdn_in_the_address_template_is_refused():
    cfg = mosmu_config.ssh_config({"known_hosts": "/kh", "host": "{fqdn}"})
    with pytest.raises(ValueError, match="ssh address of node-7"):
        mosmu_ssh.targets([dict(NODE, fqdn="x;touch /tmp/p")], cfg)


@pytest.mark.parametrize("raw, words", [
    ({"priv": "id_rsa"}, "absolute path"),
    ({"port": 0}, "from 1 to 65535"),
    ({"port": True}, "whole number"),
    ({"parallel": 0}, "from 1 to 256"),
    ({"accept_new_hostkeys": "yes"}, "true or false"),
    ({"host": "{ip"}, "template"),
    ({"host": "{password}"}, "template"),
    ({"hosts": {"node-7": {"port": 22}}}, "admin IP"),
    ({"hosts": {"10.20.0.7": {"port": 22, "pass": "x"}}}, "host, port, user, root"),
    ({"hosts": {"10.20.0.7": {"root": "srv"}}}, "absolute path"),
    ({"ssh_options": ["StrictHostKeyChecking=no"]}, "mosmu sets these"),
    ({"ssh_options": ["UserKnownHostsFile=/dev/null"]}, "mosmu sets these"),
    ({"ssh_options": ["ProxyCommand=sh -c x"]}, "Key=Value"),
    ({"ssh_options": "ProxyJump=x"}, "list"),
    ({"passphrase": "x"}, "ssh-agent"),
    ({"user": "root; id"}, "user"),
])
def test_a_bad_ssh_section_is_refused_by_name(raw, words):
    with pytest.raises(ConfigError, match=words):
        mosmu_config.ssh_config(raw)


def test_transport_ssh_without_an_ssh_section_is_refused():
    with pytest.raises(ConfigError, match="no mosmu:ssh section"):
        mosmu_config.load({"fuel_url": "http://10.20.0.2:8000", "password": "x",
                           "master_ip": "10.20.0.2", "transport": "ssh"})
