"""mosmu_finish: which services a run restarts, which checks run where, how their output reads.

Rules (issue 18): restart only what this run changed, per role, Pacemaker's resources never
with the node's own init script; the rows are data an operator overrides in the master
config; a check is passed, failed (naming the node and the output line) or skipped (the node
lacks the tool).
"""

import collections

import pytest

import mosmu_finish

Usage = collections.namedtuple("Usage", "total used free")


# -- the rows: per role, per MOS family, overridable ---------------------------------------

@pytest.mark.parametrize("version, roles, present, absent", [
    ("8.0", ["compute"], ["nova-compute", "neutron-plugin-openvswitch-agent"],
     ["nova-api", "neutron-openvswitch-agent"]),
    ("9.2", ["compute"], ["nova-compute", "neutron-openvswitch-agent"],
     ["neutron-plugin-openvswitch-agent"]),
    ("8.0-mu-3", ["controller"], ["nova-api", "neutron-server", "apache2"], ["nova-compute"]),
    ("8.0", ["compute", "cinder"], ["nova-compute", "cinder-volume"], []),
    ("8.0", ["mongo"], [], ["nova-compute", "nova-api"]),
])
def test_a_node_restarts_the_services_of_its_roles(version, roles, present, absent):
    services = mosmu_finish.load("ubuntu", version).node_services(roles)
    assert set(present) <= set(services)
    assert not set(absent) & set(services)
    assert len(services) == len(set(services))          # a service in two roles: once


@pytest.mark.parametrize("version", ["8.0", "9.0", "6.1"])
def test_a_controller_leaves_pacemaker_managed_services_to_pacemaker(version):
    finish = mosmu_finish.load("ubuntu", version)
    managed = {mosmu_finish.resource_service(r) for r in finish.pacemaker}
    assert not managed & set(finish.node_services(["controller"]))
    assert not managed & set(finish.node_services(["controller", "compute"]))


def test_a_compute_restarts_its_own_neutron_agents_even_where_controllers_use_pacemaker():
    finish = mosmu_finish.load("ubuntu", "9.2")
    assert "neutron-l3-agent" in finish.pacemaker
    assert "neutron-l3-agent" in finish.node_services(["compute"])


def test_the_operator_overrides_a_role_and_the_resources_in_the_master_config():
    finish = mosmu_finish.load("ubuntu", "8.0", {
        "ubuntu/8": {"services": {"compute": ["my-agent"]}, "pacemaker": ["p_mine"]},
        "checks": {"skip": ["ceph"], "disk_limit": 80,
                   "extra": [{"name": "rabbit", "argv": ["/usr/sbin/rabbitmqctl", "status"],
                              "roles": ["controller"], "once": True}]}})
    assert finish.node_services(["compute"]) == ["my-agent"]
    assert finish.pacemaker == ("p_mine",)
    assert "ceph" not in [c.name for c in finish.checks]
    assert finish.disk_limit == 80
    assert [c.name for c in finish.env_checks()][-1] == "rabbit"
    assert mosmu_finish.load("ubuntu", "8.0").node_services(["compute"]) != ["my-agent"]


def test_a_version_row_overrides_the_family_row():
    finish = mosmu_finish.load("ubuntu", "8.0", {
        "ubuntu/8": {"services": {"compute": ["a"]}},
        "ubuntu/8.0": {"services": {"compute": ["b"]}}})
    assert finish.node_services(["compute"]) == ["b"]


@pytest.mark.parametrize("distro, version, roles, mon, osd", [
    ("ubuntu", "8.0", ["controller"], "ceph-mon-all", "ceph-osd-all"),
    ("ubuntu", "9.2", ["ceph-osd"], "ceph-mon-all", "ceph-osd-all"),
    ("centos", "6.1", ["controller"], "ceph", "ceph"),
])
def test_monitors_restart_with_controllers_and_osds_with_ceph_osd_nodes(distro, version, roles,
                                                                       mon, osd):
    finish = mosmu_finish.load(distro, version)
    assert (finish.ceph_service("mon"), finish.ceph_service("osd")) == (mon, osd)
    assert finish.ceph_service("mon") in finish.node_services(["controller"])
    assert finish.node_services(["ceph-osd"]) == [osd]
    assert finish.ceph_wait == mosmu_finish.CEPH_WAIT


def test_the_operator_sets_the_ceph_services_and_the_ceph_wait():
    finish = mosmu_finish.load("ubuntu", "8.0", {"ubuntu/8": {"ceph": {"osd": "ceph-osd"}},
                                                 "checks": {"ceph_wait": 0}})
    assert (finish.ceph_service("mon"), finish.ceph_service("osd")) == ("ceph-mon-all",
                                                                        "ceph-osd")
    assert finish.ceph_wait == 0


@pytest.mark.parametrize("package, service", [
    ("ceph-common", "ceph-osd-all"), ("librados2", "ceph-mon-all"), ("ceph-common", "ceph"),
])
def test_the_ceph_libraries_restart_the_ceph_daemons(package, service):
    assert mosmu_finish.touched(service, {package}, {}) == package


@pytest.mark.parametrize("config, named", [
    ("nope", "mosmu:finish"),
    ({"ubuntu/8": {"ceph": {"rgw": "radosgw"}}}, "ceph"),
    ({"ubuntu/8": {"ceph": {"osd": "a b"}}}, "ceph:osd"),
    ({"checks": {"ceph_wait": -1}}, "ceph_wait"),
    ({"checks": {"ceph_wait": "60"}}, "ceph_wait"),
    ({"checks": {"ceph_wait": False}}, "ceph_wait"),
    ({"ubuntu/8": {"service": {}}}, "mosmu:finish:ubuntu/8"),
    ({"ubuntu/8": {"services": ["x"]}}, "services"),
    ({"ubuntu/8": {"services": {"compute": "nova-compute"}}}, "services:compute"),
    ({"ubuntu/8": {"services": {"compute": ["a b"]}}}, "services:compute"),
    ({"ubuntu/8": {"pacemaker": ["-x"]}}, "pacemaker"),
    ({"checks": {"skip": ["nope"]}}, "skip"),
    ({"checks": {"disk_limit": 0}}, "disk_limit"),
    ({"checks": {"disk_limit": True}}, "disk_limit"),
    ({"checks": {"extra": [{"name": "x", "argv": ["rabbitmqctl"]}]}}, "absolute path"),
    ({"checks": {"extra": [{"name": "x", "argv": "/bin/true"}]}}, "argv"),
    ({"checks": {"extra": [{"name": "disk", "argv": ["/bin/true"]}]}}, "differ"),
    ({"checks": {"extra": [{"name": "x", "argv": ["/bin/true"], "once": "yes"}]}}, "once"),
    ({"checks": {"extra": [{"name": "x", "argv": ["/bin/true"], "shell": True}]}}, "extra[0]"),
    ({"checks": {"whatever": 1}}, "mosmu:finish:checks"),
])
def test_a_bad_override_is_one_line_naming_the_key(config, named):
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        mosmu_finish.load("ubuntu", "8.0", config)


# -- what this run touched -----------------------------------------------------------------

@pytest.mark.parametrize("service, changed, owners, expected", [
    ("nova-compute", {"nova-common"}, {"nova-compute": "nova-common"}, "nova-common"),
    ("nova-api", {"python-nova"}, {}, "python-nova"),
    ("openstack-nova-api", {"python-nova"}, {}, "python-nova"),
    ("neutron-server", {"neutron-common"}, {}, "neutron-common"),
    ("p_neutron-l3-agent", {"python-neutron"}, {}, "python-neutron"),
    ("ceilometer-agent-compute", {"nova-common", "python-nova"}, {}, None),
    ("nova-compute", {"libvirt-bin"}, {}, None),
    ("heat-api", set(), {"heat-api": "heat-api"}, None),      # its package did not change
])
def test_a_service_restarts_only_when_a_changed_package_touches_it(service, changed, owners,
                                                                     expected):
    assert mosmu_finish.touched(service, changed, owners) == expected


def test_init_scripts_are_read_from_a_package_file_list():
    paths = ["/.", "/etc", "/etc/init.d", "/etc/init.d/nova-compute", "/etc/init/nova-api.conf",
             "/etc/init.d/sub/x", "/usr/bin/nova-compute"]
    assert mosmu_finish.init_scripts(paths) == {"nova-compute": "/etc/init.d/nova-compute"}


@pytest.mark.parametrize("resource, service", [
    ("p_heat-engine", "heat-engine"), ("neutron-l3-agent", "neutron-l3-agent")])
def test_a_resource_names_its_service(resource, service):
    assert mosmu_finish.resource_service(resource) == service


# -- where the checks run --------------------------------------------------------------------

def test_cloud_checks_run_once_and_disk_on_every_node():
    finish = mosmu_finish.load("ubuntu", "8.0")
    assert [c.name for c in finish.node_checks(["compute"])] == ["disk"]
    assert [c.name for c in finish.node_checks(["controller"])] == ["disk"]
    assert {c.name for c in finish.env_checks()} == {"pacemaker", "nova", "neutron", "cinder",
                                                     "ceph"}
    assert all(c.argv[0].startswith("/") for c in finish.checks)
    assert {c.name for c in finish.checks if c.openrc} == {"nova", "neutron", "cinder"}


# -- reading a check ---------------------------------------------------------------------------

EXIT_CHECK = mosmu_finish.Check("mine", ("/usr/local/bin/mine",), "exit")
DISK = next(c for c in mosmu_finish.CHECKS if c.name == "disk")
DF_OK = ("Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
         "/dev/sda1         10000000 5000000   5000000      50% /\n")
DF_FULL = DF_OK + "/dev/sda2         10000000 9500000    500000      95% /var/log\n"


@pytest.mark.parametrize("check, raw, result, says", [
    (EXIT_CHECK, None, "failed", "did not answer"),
    (EXIT_CHECK, {}, "failed", "did not answer"),
    (EXIT_CHECK, {"missing": "/usr/local/bin/mine"}, "skipped", "not installed"),
    (EXIT_CHECK, {"retcode": 0, "stdout": "fine", "stderr": ""}, "passed", None),
    (EXIT_CHECK, {"retcode": 3, "stdout": "a\nqueue stuck\n", "stderr": ""}, "failed",
     "exit 3: queue stuck"),
    (DISK, {"retcode": 1, "stdout": "", "stderr": "df: cannot read table\n"}, "failed",
     "/bin/df -P exited 1: df: cannot read table"),
    (DISK, {"retcode": 0, "stdout": DF_OK, "stderr": ""}, "passed", None),
    (DISK, {"retcode": 0, "stdout": DF_FULL, "stderr": ""}, "failed", "/var/log"),
    (DISK, {"retcode": 0, "stdout": "Permission denied\n", "stderr": ""}, "failed",
     "Permission denied"),
])
def test_a_check_is_passed_failed_or_skipped(check, raw, result, says):
    got, problems = mosmu_finish.evaluate(check, raw)
    assert got == result
    if says is None:
        assert problems == []
    else:
        assert any(says in p for p in problems), problems


def test_the_disk_limit_is_the_operators():
    assert mosmu_finish.evaluate(DISK, {"retcode": 0, "stdout": DF_OK}, disk_limit=40)[0] == \
        "failed"


@pytest.mark.parametrize("nodes, problems", [
    ([{"id": 1, "status": "ready", "online": True}], []),
    ([{"id": 1, "fqdn": "node-1.x", "status": "error", "online": True}],
     ["node-1 (node-1.x) is status error in Nailgun"]),
    ([{"id": 2, "ip": "10.20.0.4", "status": "ready", "online": False}],
     ["node-2 (10.20.0.4) is offline in Nailgun"]),
    ([{"id": 3, "status": "provisioned", "online": False}],
     ["node-3 (None) is status provisioned and offline in Nailgun"]),
])
def test_every_node_of_the_environment_must_be_ready_and_online(nodes, problems):
    assert mosmu_finish.nailgun_problems(nodes) == problems


@pytest.mark.parametrize("used, limit, full", [(90, 90, False), (91, 90, True), (50, 40, True),
                                              (0, 90, False)])
def test_the_masters_mirror_filesystem_is_checked_against_the_limit(used, limit, full):
    problem = mosmu_finish.disk_problem("/var/www/nailgun", Usage(100, used, 100 - used), limit)
    assert (problem is not None) == full
    if full:
        assert f"{used}% full (limit {limit}%)" in problem
