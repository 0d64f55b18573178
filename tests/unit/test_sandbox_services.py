"""The sandbox's node services and cloud stand-ins (``sandbox/services.py``,
``sandbox/nodetools.py``): real daemons restarted through real init scripts, the node's own
tools printing the real tools' formats, fault modes. Node roots live in tmp_path; every
daemon a test starts is stopped, and a test fails if one survives."""

import json
import os
import re
import shlex
import signal
import subprocess
import xml.etree.ElementTree as ET

import pytest

from sandbox import debrepo, nodetools, rpmrepo, services
from sandbox.cli import installed_rpms, installed_versions
from sandbox.procs import alive, free_ports
from sandbox.stack import Sandbox, SandboxError

CTL, CMP, CIN = (f"node-{i}.test.domain.local" for i in (1, 2, 3))
HOSTS = {CTL: ["controller"], CMP: ["compute"], CIN: ["compute", "cinder"]}
PACKAGES = ("nova-common", "neutron-common")


def _root(tmp_path, name=CTL, roles=("controller",), hosts=None, **kwargs):
    """A node root with the packages' files (as dpkg would leave them) and install()."""
    root = str(tmp_path / name)
    for package in PACKAGES:
        services.write_files(root, package)
    services.install(root, roles, HOSTS if hosts is None else hosts, **kwargs)
    return root


@pytest.fixture
def roots(tmp_path):
    """Node roots made by a test (append to the list); their daemons are stopped after it,
    and none may be left."""
    made = []
    yield made
    for root in made:
        services.stop_all(root)
    assert not any(services.daemons(root) for root in made)


@pytest.fixture
def ctl(tmp_path, roots):
    root = _root(tmp_path)
    roots.append(root)
    return root


def _openrc_env(root):
    out = subprocess.run(["sh", "-c", f". {shlex.quote(root)}/root/openrc && env -0"],
                         capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    return dict(line.split("=", 1) for line in out.decode().split("\0") if "=" in line)


def _tool(root, rel, *args, env=None):
    return subprocess.run([os.path.join(root, rel), *args], capture_output=True, text=True,
                          timeout=30, check=False, stdin=subprocess.DEVNULL,
                          env=env if env is not None else _openrc_env(root))


def _table(text):
    """Rows of a prettytable as lists of stripped cells (header first)."""
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


# -- packages carry the init scripts ---------------------------------------------------------

def test_debs_carry_init_scripts_and_conffiles_but_no_maintainer_scripts(tmp_path):
    nova = debrepo.build_deb(str(tmp_path), "nova-common", "1.1")
    neutron = debrepo.build_deb(str(tmp_path), "neutron-common", "1.1")
    listing = subprocess.run(["dpkg-deb", "-c", nova], capture_output=True, text=True,
                             check=True).stdout
    assert re.search(r"^-rwxr-xr-x root/root .* \./etc/init\.d/nova-compute$", listing, re.M)
    assert re.search(r"^-rwxr-xr-x root/root .* \./etc/init\.d/nova-api$", listing, re.M)
    assert "./etc/nova/nova.conf" in listing
    assert "./etc/init.d/neutron-server" in subprocess.run(
        ["dpkg-deb", "-c", neutron], capture_output=True, text=True, check=True).stdout
    conffiles = subprocess.run(["dpkg-deb", "-I", nova, "conffiles"], capture_output=True,
                               text=True, check=True).stdout.split()
    assert "/etc/nova/nova.conf" in conffiles
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", nova], capture_output=True,
                             check=True).stdout
    members = subprocess.run(["tar", "-t"], input=control, capture_output=True,
                             check=True).stdout.decode().split()
    assert not {m for m in members if re.search(r"(pre|post)(inst|rm)$", m)}


def test_rpms_carry_init_scripts_and_a_noreplace_config_but_no_scriptlets(tmp_path):
    rpm = rpmrepo.build_rpm(str(tmp_path), "openstack-nova-common", "1.1")
    neutron = rpmrepo.build_rpm(str(tmp_path), "openstack-neutron", "1.1")

    def query(path, *args):
        return subprocess.run(["rpm", "--define", f"_dbpath {tmp_path}/db", "-qp", *args,
                               path], capture_output=True, text=True, check=True,
                              stdin=subprocess.DEVNULL).stdout
    assert {"/etc/init.d/openstack-nova-compute", "/etc/init.d/openstack-nova-api",
            "/etc/nova/nova.conf"} <= set(query(rpm, "-l").split())
    assert query(rpm, "-c").split() == ["/etc/nova/nova.conf"]
    assert query(rpm, "--scripts").strip() == ""
    assert query(rpm, "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]").count(
        "-rwxr-xr-x /etc/init.d/") == 2
    assert "/etc/init.d/neutron-server" in query(neutron, "-l").split()


def test_packages_built_with_older_content_are_rebuilt(tmp_path, monkeypatch):
    """Packages are reused by file name: one built before the init scripts existed (another
    content version) must be built again, not reused."""
    monkeypatch.setattr(services, "CONTENT_VERSION", "0")
    old_deb = debrepo.build_deb(str(tmp_path), "nova-common", "1.0")
    old_rpm = rpmrepo.build_rpm(str(tmp_path), "openstack-nova-common", "1.0")
    assert (debrepo.deb_content(old_deb), rpmrepo.rpm_content(old_rpm)) == ("0", "0")
    inode = os.stat(old_deb).st_ino
    assert debrepo.build_deb(str(tmp_path), "nova-common", "1.0") == old_deb
    assert os.stat(old_deb).st_ino == inode           # same content version: reused
    monkeypatch.undo()
    assert debrepo.build_deb(str(tmp_path), "nova-common", "1.0") == old_deb
    assert rpmrepo.build_rpm(str(tmp_path), "openstack-nova-common", "1.0") == old_rpm
    assert debrepo.deb_content(old_deb) == rpmrepo.rpm_content(old_rpm) == \
        services.CONTENT_VERSION


def test_node_roots_get_package_owned_and_unowned_services_running(tmp_path, roots):
    box = Sandbox(str(tmp_path / "box"))
    ubuntu, centos = str(tmp_path / CTL), str(tmp_path / CMP)
    roots += [ubuntu, centos]
    box.make_node_root(ubuntu, "ubuntu", "8.0", roles=("controller",), hosts=HOSTS)
    box.make_node_root(centos, "centos", "6.1", roles=("compute",), hosts=HOSTS)
    assert installed_versions(ubuntu)["nova-common"] == "1.0"
    assert installed_rpms(centos)["openstack-nova-common"] == "1.0"
    owned = subprocess.run(["dpkg-query", f"--admindir={ubuntu}/var/lib/dpkg", "-L",
                            "nova-common"], capture_output=True, text=True, check=True).stdout
    assert {"/etc/init.d/nova-compute", "/etc/init.d/nova-api"} <= set(owned.split())
    owned = subprocess.run(["rpm", f"--root={centos}", "-ql", "openstack-neutron"],
                           capture_output=True, text=True, check=True,
                           env=rpmrepo.rpm_env()).stdout
    assert "/etc/init.d/neutron-server" in owned.split()
    unowned = subprocess.run(["dpkg-query", f"--admindir={ubuntu}/var/lib/dpkg", "-S",
                              "/etc/init.d/heat-api"], capture_output=True, text=True,
                             check=False)
    assert unowned.returncode == 1
    expected = {ubuntu: ["ceilometer-agent-compute", "heat-api", "neutron-server", "nova-api",
                         "nova-compute"],
                centos: ["ceilometer-agent-compute", "heat-api", "neutron-server",
                         "openstack-nova-api", "openstack-nova-compute"]}
    for root in (ubuntu, centos):
        assert services.services(root) == expected[root]
        assert all(services.pid(root, s) for s in expected[root])
    assert os.path.exists(os.path.join(ubuntu, "usr/sbin/pcs"))
    assert not os.path.exists(os.path.join(centos, "usr/sbin/pcs"))


# -- init scripts and daemons ----------------------------------------------------------------

def test_status_restart_stop_as_upstart_prints_them(ctl):
    pids = services.start_all(ctl)
    assert set(pids) == {"ceilometer-agent-compute", "heat-api", "neutron-server",
                         "nova-api", "nova-compute"}
    old = pids["nova-compute"]
    status = services.run_init(ctl, "nova-compute", "status")
    assert (status.returncode, status.stdout) == (0, f"nova-compute start/running, process "
                                                     f"{old}\n")
    restart = services.run_init(ctl, "nova-compute", "restart")
    new = services.pid(ctl, "nova-compute")
    assert restart.returncode == 0 and new and new != old and not alive(old)
    assert restart.stdout == ("nova-compute stop/waiting\n"
                              f"nova-compute start/running, process {new}\n")
    assert services.pid(ctl, "nova-api") == pids["nova-api"]      # the others untouched
    stop = services.run_init(ctl, "nova-compute", "stop")
    assert (stop.returncode, stop.stdout) == (0, "nova-compute stop/waiting\n")
    status = services.run_init(ctl, "nova-compute", "status")
    assert (status.returncode, status.stdout) == (3, "nova-compute stop/waiting\n")
    assert not alive(new) and services.pid(ctl, "nova-compute") is None
    again = services.run_init(ctl, "nova-compute", "restart")       # restart of a stopped one
    assert again.returncode == 0 and services.pid(ctl, "nova-compute")
    assert services.run_init(ctl, "nova-compute", "start").returncode == 1
    assert services.run_init(ctl, "nova-compute", "reload").returncode == 2


def test_daemon_is_detached_and_named_after_its_root(ctl):
    """cmd.run and an ssh channel return at once only if the daemon keeps none of the
    caller's pipes; the sandbox recognises its daemons by their command line."""
    proc = services.run_init(ctl, "heat-api", "start")     # capture_output: pipes
    assert proc.returncode == 0
    pid = services.pid(ctl, "heat-api")
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        assert handle.read().split(b"\0")[0] == f"{ctl}/usr/bin/heat-api".encode()
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    assert int(fields[2]) == int(fields[3]) == pid          # own process group and session
    assert {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)} == {"/dev/null"}
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    with open(f"/proc/{pid}/environ", "rb") as handle:
        assert handle.read().split(b"\0")[:1] == [b"PATH=/usr/sbin:/usr/bin:/sbin:/bin"]


def test_init_script_finds_its_root_from_its_own_path(tmp_path, roots):
    """The same script text serves every root: started through a relative path it still
    runs the daemon of its own root."""
    root = _root(tmp_path)
    roots.append(root)
    proc = subprocess.run(["./nova-api", "start"], cwd=os.path.join(root, "etc/init.d"),
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert services.daemons(root) == {services.pid(root, "nova-api"):
                                      f"{root}/usr/bin/nova-api"}


def test_stop_all_stops_only_its_own_daemons(tmp_path, roots):
    one = _root(tmp_path / "a")
    two = _root(tmp_path / "b")
    roots += [one, two]
    services.start_all(one)
    theirs = services.start_all(two)
    decoy = subprocess.Popen(["sleep", "300"])               # a stranger's pid in a pid file
    try:
        # neutron-server's pid file now names a stranger: its daemon is found in /proc
        with open(os.path.join(one, "var/run/neutron-server.pid"), "w",
                  encoding="ascii") as handle:
            handle.write(f"{decoy.pid}\n")
        with open(os.path.join(one, "var/run/stray.pid"), "w", encoding="ascii") as handle:
            handle.write(f"{theirs['nova-api']}\n")         # another root's daemon
        stopped = services.stop_all(one)
        assert len(stopped) == 5 and decoy.pid not in stopped
        assert decoy.poll() is None and alive(decoy.pid)
        assert services.daemons(one) == {}
        assert {services.pid(two, s) for s in theirs} == set(theirs.values())
    finally:
        decoy.send_signal(signal.SIGTERM)
        decoy.wait(timeout=10)


# -- tool stand-ins --------------------------------------------------------------------------

def test_tools_per_role_and_openrc(tmp_path, roots):
    ctl = _root(tmp_path)
    cmp_ = _root(tmp_path, CMP, roles=("compute",))
    osd = _root(tmp_path, "node-9.test.domain.local", roles=("ceph-osd",))
    roots += [ctl, cmp_, osd]
    present = {r: {t for t, (rel, _w) in services.TOOLS.items()
                   if os.access(os.path.join(r, rel), os.X_OK)} for r in (ctl, cmp_, osd)}
    assert present == {ctl: set(services.TOOLS), cmp_: {"df"}, osd: {"df", "ceph"}}
    env = _openrc_env(ctl)
    assert (env["OS_USERNAME"], env["OS_TENANT_NAME"]) == ("admin", "admin")
    assert env["OS_PASSWORD"] and env["OS_AUTH_URL"].startswith("http://")
    assert os.stat(os.path.join(ctl, "root/openrc")).st_mode & 0o777 == 0o600


def test_df_reports_the_roots_filesystem_as_root_and_a_full_var_log(ctl):
    proc = _tool(ctl, "bin/df", "-P")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0
    assert lines[0].split() == ["Filesystem", "1024-blocks", "Used", "Available", "Capacity",
                                "Mounted", "on"]
    rows = {cells[5]: cells for cells in (line.split() for line in lines[1:])}
    st = os.statvfs(ctl)                    # others write to this disk too: sizes only
    assert int(rows["/"][1]) == st.f_blocks * st.f_frsize // 1024
    assert abs(int(rows["/"][3]) - st.f_bavail * st.f_frsize // 1024) < 1024 * 1024
    assert int(rows["/var/log"][4].rstrip("%")) < 90
    assert len({len(line) - len(line.split(None, 5)[5]) for line in lines}) == 1   # aligned
    services.set_faults(ctl, "disk-95")
    full = {c[5]: c[4] for c in (line.split() for line in _tool(ctl, "bin/df", "-P")
                                 .stdout.splitlines()[1:])}
    assert full["/var/log"] == "95%" and int(full["/"].rstrip("%")) < 95
    one = _tool(ctl, "bin/df", "-P", "/var/log/nova").stdout.splitlines()
    assert len(one) == 2 and one[1].endswith(" /var/log")
    bad = _tool(ctl, "bin/df", "-Z")
    assert bad.returncode == 1 and bad.stderr.startswith("df: invalid option -- 'Z'")


def _xml(text):
    return ET.fromstring(text)  # noqa: S314 - the sandbox's own stand-in printed it


def _crm(root, *args):
    proc = _tool(root, "usr/sbin/crm_mon", *(args or ("-1", "-X")))
    assert proc.returncode == 0, proc.stderr
    return _xml(proc.stdout)


def _resources(doc):
    """{id: element} of every top-level resource, clone and master of the status."""
    return {e.get("id"): e for e in doc.find("resources")}


def test_crm_mon_xml_lists_the_controllers_and_fuels_resources(tmp_path, roots):
    hosts = {CTL: ["controller"], "node-4.test.domain.local": ["controller"], CMP: ["compute"]}
    root = _root(tmp_path, roles=("controller",), hosts=hosts)
    roots.append(root)
    doc = _crm(root)
    assert doc.tag == "crm_mon" and doc.get("version") == "1.1.12"
    dc = doc.find("summary/current_dc")
    assert (dc.get("name"), dc.get("id"), dc.get("with_quorum")) == (CTL, "1", "true")
    nodes = doc.findall("nodes/node")
    assert [(n.get("name"), n.get("id")) for n in nodes] == \
        [(CTL, "1"), ("node-4.test.domain.local", "4")]
    for node in nodes:
        assert (node.get("online"), node.get("standby"), node.get("maintenance"),
                node.get("type")) == ("true", "false", "false", "member")
    res = _resources(doc)
    assert {"clone_p_neutron-l3-agent", "clone_p_neutron-plugin-openvswitch-agent",
            "clone_p_neutron-dhcp-agent", "clone_p_neutron-metadata-agent",
            "master_p_rabbitmq-server", "clone_p_haproxy", "clone_p_heat-engine",
            "vip__public", "p_ceilometer-agent-central"} <= set(res)
    assert res["vip__public"].tag == "resource"
    assert res["master_p_rabbitmq-server"].get("multi_state") == "true"
    l3 = res["clone_p_neutron-l3-agent"].findall("resource")
    assert [r.find("node").get("name") for r in l3] == [CTL, "node-4.test.domain.local"]
    assert {r.get("role") for r in res["master_p_rabbitmq-server"]} == {"Master", "Slave"}
    every = doc.findall(".//resource")
    assert all(r.get("active") == "true" and r.get("managed") == "true" and
               r.get("failed") == "false" for r in every)
    assert int(doc.find("summary/resources_configured").get("number")) == len(every)
    assert sum(int(n.get("resources_running")) for n in nodes) == len(every)
    pcs = _tool(root, "usr/sbin/pcs", "status", "xml")
    assert pcs.returncode == 0
    assert _resources(_xml(pcs.stdout)).keys() == res.keys()
    assert _tool(root, "usr/sbin/crm_mon", "-1").returncode == nodetools.EX_USAGE


@pytest.mark.parametrize(("fault", "check"), [
    ("resource-stopped", lambda doc: [
        (r.get("id"), r.get("role"), r.get("active"), r.get("nodes_running_on"))
        for r in doc.findall(".//resource") if r.get("active") != "true"] ==
        [("p_ceilometer-agent-central", "Stopped", "false", "0")]),
    ("resource-unmanaged", lambda doc: {
        r.get("id") for r in doc.iter() if r.get("managed") == "false"} ==
        {"clone_p_heat-engine", "p_heat-engine"}),
    ("node-standby", lambda doc: [
        n.get("name") for n in doc.findall("nodes/node") if n.get("standby") == "true"] ==
        ["node-4.test.domain.local"]),
])
def test_pacemaker_faults(tmp_path, roots, fault, check):
    hosts = {CTL: ["controller"], "node-4.test.domain.local": ["controller"]}
    root = _root(tmp_path, hosts=hosts)
    roots.append(root)
    services.set_faults(root, fault)
    doc = _crm(root)
    assert check(doc)
    assert int(doc.find("summary/resources_configured").get("number")) == \
        len(doc.findall(".//resource"))
    assert check(_xml(_tool(root, "usr/sbin/pcs", "status", "xml").stdout))
    services.set_faults(root)
    healthy = _crm(root)
    assert all(r.get("active") == r.get("managed") == "true"
               for r in healthy.findall(".//resource"))
    assert {n.get("standby") for n in healthy.findall("nodes/node")} == {"false"}


def test_pcs_resource_restart_logs_what_it_restarted(ctl):
    first = _tool(ctl, "usr/sbin/pcs", "resource", "restart", "clone_p_neutron-l3-agent")
    assert (first.returncode, first.stdout) == (0, "clone_p_neutron-l3-agent successfully "
                                                   "restarted\n")
    inner = _tool(ctl, "usr/sbin/pcs", "resource", "restart", "p_heat-engine")
    assert inner.returncode == 0
    assert inner.stdout.splitlines() == [
        "Warning: using clone_p_heat-engine... (if a resource is a clone or master/slave you "
        "must use the clone or master/slave name", "clone_p_heat-engine successfully restarted"]
    unknown = _tool(ctl, "usr/sbin/pcs", "resource", "restart", "p_nope")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.startswith("Error: Resource 'p_nope' not restarted: unknown\n")
    assert services.pcs_restarts(ctl) == ["clone_p_neutron-l3-agent", "clone_p_heat-engine"]


def test_resource_names_follow_the_release_and_distro(tmp_path, roots):
    centos = _root(tmp_path / "c", distro="centos", version="6.1")
    mitaka = _root(tmp_path / "m", version="9.0")
    roots += [centos, mitaka]
    assert "clone_p_neutron-openvswitch-agent" in _resources(_crm(centos))
    names = set(_resources(_crm(mitaka)))
    assert {"clone_neutron-openvswitch-agent", "clone_neutron-l3-agent",
            "clone_heat-engine", "clone_p_haproxy"} <= names
    assert "clone_p_neutron-l3-agent" not in names


def test_ceph_health_pg_stat_and_noout(ctl):
    assert _tool(ctl, "usr/bin/ceph", "health").stdout == "HEALTH_OK\n"
    stat = _tool(ctl, "usr/bin/ceph", "pg", "stat").stdout
    assert re.fullmatch(r"v\d+: (\d+) pgs: \1 active\+clean; \d+ MB data, \d+ MB used, "
                        r"\d+ GB / \d+ GB avail\n", stat)
    set_ = _tool(ctl, "usr/bin/ceph", "osd", "set", "noout")
    assert (set_.returncode, set_.stdout, set_.stderr) == (0, "", "set noout\n")
    assert _tool(ctl, "usr/bin/ceph", "health").stdout == "HEALTH_WARN noout flag(s) set\n"
    unset = _tool(ctl, "usr/bin/ceph", "osd", "unset", "noout")
    assert (unset.returncode, unset.stderr) == (0, "unset noout\n")
    assert _tool(ctl, "usr/bin/ceph", "health").stdout == "HEALTH_OK\n"
    assert services.ceph_log(ctl) == ["osd set noout", "osd unset noout"]
    services.set_faults(ctl, "ceph-warn")
    warn = _tool(ctl, "usr/bin/ceph", "health").stdout
    assert warn.startswith("HEALTH_WARN ") and "pgs degraded" in warn
    assert "active+degraded" in _tool(ctl, "usr/bin/ceph", "pg", "stat").stdout
    assert _tool(ctl, "usr/bin/ceph", "df").returncode != 0


def test_ceph_quorum_status_lists_the_controllers_monitors_and_commands_are_timed(tmp_path,
                                                                                roots):
    hosts = {CTL: ["controller"], "node-2.test.domain.local": ["controller"],
             "node-9.test.domain.local": ["ceph-osd"]}
    ctl = _root(tmp_path, hosts=hosts)
    roots.append(ctl)
    quorum = json.loads(_tool(ctl, "usr/bin/ceph", "quorum_status", "-f", "json").stdout)
    assert quorum["quorum_names"] == ["node-1", "node-2"]
    assert [m["name"] for m in quorum["monmap"]["mons"]] == ["node-1", "node-2"]
    services.set_faults(ctl, "mon-out-of-quorum-after-update")
    assert json.loads(_tool(ctl, "usr/bin/ceph", "quorum_status").stdout)["quorum_names"] \
        == ["node-1", "node-2"]                       # not updated yet: still in quorum
    os.makedirs(os.path.join(ctl, "var/log"), exist_ok=True)
    with open(os.path.join(ctl, "var/log/mos_apply_mu.status"), "w", encoding="utf-8") as f:
        f.write("STARTED\nUPDATE=OK\n")
    assert json.loads(_tool(ctl, "usr/bin/ceph", "quorum_status").stdout)["quorum_names"] \
        == ["node-2"]
    times = [t for t, _cmd in services.ceph_commands(ctl)]
    assert [cmd for _t, cmd in services.ceph_commands(ctl)] == [
        "quorum_status -f json", "quorum_status", "quorum_status"]
    assert times == sorted(times)


def test_pgs_stuck_shows_degraded_pgs_only_while_noout_is_set(ctl):
    services.set_faults(ctl, "pgs-stuck")
    assert "degraded" not in _tool(ctl, "usr/bin/ceph", "pg", "stat").stdout
    _tool(ctl, "usr/bin/ceph", "osd", "set", "noout")
    assert "12 active+degraded" in _tool(ctl, "usr/bin/ceph", "pg", "stat").stdout
    _tool(ctl, "usr/bin/ceph", "osd", "unset", "noout")
    assert "degraded" not in _tool(ctl, "usr/bin/ceph", "pg", "stat").stdout


@pytest.mark.parametrize("roles, hosts, has_ceph", [
    (["ceph-osd"], {}, True),
    (["controller"], {CTL: ["controller"], "n9": ["ceph-osd", "compute"]}, True),
    (["controller"], HOSTS, False),                  # no ceph-osd node: no Ceph at all
    (["compute"], {"n9": ["ceph-osd"]}, False),
])
def test_ceph_is_installed_on_osd_nodes_and_the_monitors_of_a_ceph_environment(roles, hosts,
                                                                              has_ceph):
    assert services.ceph_node(roles, hosts) is has_ceph


def test_the_ceph_package_ships_the_monitor_and_osd_init_scripts():
    assert {"etc/init.d/ceph-mon-all", "etc/init.d/ceph-osd-all", "etc/init.d/ceph"} == \
        set(services.package_files("ceph"))


CLIENTS = [("usr/bin/nova", "service-list", "ERROR (CommandError): You must provide a username "
            "or user id via --os-username, --os-user-id, env[OS_USERNAME] or env[OS_USER_ID]"),
           ("usr/bin/neutron", "agent-list", "You must provide a username or user ID via  "
            "--os-username, env[OS_USERNAME] or  --os-user-id, env[OS_USER_ID]"),
           ("usr/bin/cinder", "service-list", "ERROR: You must provide a user name through "
            "--os-username or env[OS_USERNAME].")]


@pytest.mark.parametrize(("rel", "command", "message"), CLIENTS)
def test_clients_refuse_without_the_openrc_environment(ctl, rel, command, message):
    proc = _tool(ctl, rel, command, env={"PATH": "/usr/bin:/bin"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message + "\n")
    assert _tool(ctl, rel, command).returncode == 0


def test_nova_service_list_and_nova_down(ctl):
    rows = _table(_tool(ctl, "usr/bin/nova", "service-list").stdout)
    assert rows[0] == ["Id", "Binary", "Host", "Zone", "Status", "State", "Updated_at",
                       "Disabled Reason"]
    assert {(r[1], r[2]) for r in rows[1:]} >= {("nova-scheduler", CTL),
                                                ("nova-conductor", CTL),
                                                ("nova-compute", CMP), ("nova-compute", CIN)}
    assert {r[5] for r in rows[1:]} == {"up"} and [r[0] for r in rows[1:]] == \
        [str(i) for i in range(1, len(rows))]
    services.set_faults(ctl, "nova-down")
    down = [r[1:3] for r in _table(_tool(ctl, "usr/bin/nova", "service-list").stdout)[1:]
            if r[5] == "down"]
    assert down == [["nova-compute", CMP]]
    only = _table(_tool(ctl, "usr/bin/nova", "service-list", "--host", CIN).stdout)
    assert [r[2] for r in only[1:]] == [CIN]


def test_neutron_agent_list_and_agent_dead(tmp_path, ctl, roots):
    out = _tool(ctl, "usr/bin/neutron", "agent-list").stdout
    rows = _table(out)
    assert rows[0] == ["id", "agent_type", "host", "alive", "admin_state_up", "binary"]
    assert out.splitlines()[0].startswith("+------")
    assert {(r[1], r[2]) for r in rows[1:]} == {
        ("L3 agent", CTL), ("DHCP agent", CTL), ("Metadata agent", CTL),
        ("Open vSwitch agent", CTL), ("Open vSwitch agent", CMP), ("Open vSwitch agent", CIN)}
    assert {r[3] for r in rows[1:]} == {":-)"}
    services.set_faults(ctl, "agent-dead")
    dead = [r[1:3] for r in _table(_tool(ctl, "usr/bin/neutron", "agent-list").stdout)[1:]
            if r[3] == "xxx"]
    assert dead == [["Open vSwitch agent", CMP]]
    mitaka = _root(tmp_path / "m", version="9.0")
    roots.append(mitaka)
    header = _table(_tool(mitaka, "usr/bin/neutron", "agent-list").stdout)
    assert header[0] == ["id", "agent_type", "host", "availability_zone", "alive",
                         "admin_state_up", "binary"]


def test_cinder_service_list_is_centred_and_cinder_down(ctl):
    out = _tool(ctl, "usr/bin/cinder", "service-list").stdout
    assert "|      Binary      |" in out and "|   up  |" in out and "|  Status |" in out
    rows = _table(out)
    assert [(r[0], r[1], r[4]) for r in rows[1:]] == [("cinder-scheduler", CTL, "up"),
                                                    ("cinder-volume", CIN, "up")]
    services.set_faults(ctl, "cinder-down")
    rows = _table(_tool(ctl, "usr/bin/cinder", "service-list").stdout)
    assert [(r[0], r[4]) for r in rows[1:]] == [("cinder-scheduler", "up"),
                                                ("cinder-volume", "down")]


def test_faults_are_checked_and_cleared(ctl):
    with pytest.raises(ValueError, match=r"unknown fault.*known: resource-stopped"):
        services.set_faults(ctl, "disk-99")
    services.set_faults(ctl, "ceph-warn", "disk-95")
    assert services.faults(ctl) == {"ceph-warn", "disk-95"}
    services.set_faults(ctl)
    assert services.faults(ctl) == set()
    assert _tool(ctl, "usr/bin/ceph", "health").stdout == "HEALTH_OK\n"


# -- the Sandbox's node API --------------------------------------------------------------------

def test_sandbox_finds_node_roots_and_down_stops_their_daemons(tmp_path):
    box = Sandbox(str(tmp_path / "box"))
    minion = _root(tmp_path / "box" / "nodes")
    ssh = _root(tmp_path / "box" / "nodes", CMP, roles=("compute",))
    box.state = {"minions": {CTL: {"root": minion}},
                 "ssh_nodes": {CMP: {"root": ssh, "port": free_ports(1)[0]}}}
    try:
        started = box.start_services(CTL)
        box.start_services(CMP)
        assert box.service_pid(CTL, "nova-api") == started["nova-api"]
        assert box.service_pids(CMP)["heat-api"] == services.pid(ssh, "heat-api")
        box.set_faults(CTL, "ceph-warn")
        assert services.faults(minion) == {"ceph-warn"}
        with pytest.raises(SandboxError, match="unknown fault"):
            box.set_faults(CMP, "nope")
        subprocess.run([os.path.join(minion, "usr/sbin/pcs"), "resource", "restart",
                        "vip__public"], check=True, capture_output=True)
        assert box.pcs_restarts(CTL) == ["vip__public"] and box.ceph_log(CTL) == []
        with pytest.raises(SandboxError, match="not a minion or ssh node"):
            box.root_of("node-99.test.domain.local")
        assert box.stop_services(CMP) and not services.daemons(ssh)
        box.start_services(CMP)
    finally:
        box.down(remove=False)
    assert services.daemons(minion) == services.daemons(ssh) == {}
