"""What the cloud's own tools print, read by mosmu_checks (issue 18's gates, holds, changes).

Every sample is public output (tests/unit/data/checks/README.md says where each is from); a
fault variant is a sample with one string replaced, and ``variant`` fails if the string is not
in the sample, so a variant cannot silently stop testing anything.
"""

import os

import pytest

import mosmu_checks

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "checks")
HOSTILE = "node-9\x1b[31m\u202e\x85x"          # ESC, a bidi override and NEL in a host name


def sample(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as handle:
        return handle.read()


def variant(name, *edits):
    """``sample(name)`` with each ``(old, new)`` replaced; ``old`` must occur exactly once."""
    text = sample(name)
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
        text = text.replace(old, new)
    return text


def raises_naming(func, text, line, *args):
    """``func(text)`` raises ValueError quoting ``line`` (the first line that does not fit)."""
    with pytest.raises(ValueError, match="output is not") as err:
        func(text, *args)
    assert line in str(err.value)
    return str(err.value)


# -- df -------------------------------------------------------------------------------------

CENTOS = "df_P_centos66_home_91.txt"
DF_TYPED = """\
Filesystem     Type     1024-blocks    Used Available Capacity Mounted on
/dev/sda1      ext4        10189728 9700000    489728      96% /
/dev/loop0     squashfs       18432   18432         0     100% /snap/core/8268
tmpfs          tmpfs         817660    1448    816212       1% /run
"""


@pytest.mark.parametrize("text, limit, problems", [
    (sample(CENTOS), 90, ["/home is 91% full (limit 90%)"]),
    (sample(CENTOS), 91, []),                                   # Capacity > limit, not >=
    (variant(CENTOS, ("      28% /boot", "      95% /var")), 90,
     ["/var is 95% full (limit 90%)", "/home is 91% full (limit 90%)"]),
    (variant(CENTOS, ("91% /home", "91% /srv/my share")), 90,
     ["/srv/my share is 91% full (limit 90%)"]),
    (sample("df_ubuntu_snaps_keydb.txt"), 90,                  # plain df: a squashfs is a disk
     [f"/snap/{snap} is 100% full (limit 90%)" for snap in
      ("amazon-ssm-agent/1566", "core/8268", "amazon-ssm-agent/1480", "core/8689")]),
    (DF_TYPED, 90, ["/ is 96% full (limit 90%)"]),              # df -PT: images skipped
    (variant(CENTOS, ("/dev/shm\n", "/dev/shm\nnone 0 0 0 - /proc/sys/fs/binfmt_misc\n")), 0,
     ["/ is 19% full (limit 0%)", "/dev/shm is 1% full (limit 0%)",
      "/boot is 28% full (limit 0%)", "/home is 91% full (limit 0%)"]),
    (variant(CENTOS, ("/dev/mapper/vg_idefix-lv_home         20857444",
                      "/dev/mapper/vg_idefix-lv_home\n                      20857444")), 90,
     ["/home is 91% full (limit 90%)"]),                        # wrapped device (df without -P)
    (sample(CENTOS).splitlines()[0] + "\n", 90, []),            # no filesystem at all
    ("\n" + sample(CENTOS), 90, ["/home is 91% full (limit 90%)"]),
])
def test_disk_problems_name_each_filesystem_over_the_limit(text, limit, problems):
    assert mosmu_checks.disk_problems(text, limit) == problems


def test_a_hostile_mount_point_reaches_the_problem_unchanged():
    text = variant(CENTOS, ("91% /home", f"91% /home/{HOSTILE}"))
    assert mosmu_checks.disk_problems(text) == [f"/home/{HOSTILE} is 91% full (limit 90%)"]


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    ("df: cannot read table of mounted file systems: No such file or directory\n",
     "df: cannot read table of mounted file systems"),
    (variant(CENTOS, ("      91% /home", "      91%")), "/dev/mapper/vg_idefix-lv_home"),
    (sample("ceph_health_ok.txt"), "HEALTH_OK"),
])
def test_disk_problems_refuse_what_is_not_df(text, line):
    raises_naming(mosmu_checks.disk_problems, text, line)


def test_a_long_line_is_cut_in_the_error():
    message = raises_naming(mosmu_checks.disk_problems, "x" * 500, "x" * 119)
    assert "x" * 120 not in message and message.endswith("…")


@pytest.mark.parametrize("limit", [True, "90", 90.0, -1, 101, None])
def test_disk_limit_must_be_a_percentage(limit):
    with pytest.raises(ValueError, match="whole percentage"):
        mosmu_checks.disk_problems(sample(CENTOS), limit)


# -- Pacemaker ------------------------------------------------------------------------------

HEALTHY = "crm_mon_1.1.12_fuel_healthy.xml"
RESULT = "crm_mon_2.0.3_hacluster_result.xml"
HEAT = '<resource id="p_heat-engine" resource_agent="ocf::fuel:heat-engine" role="Started" ' \
       'active="true"'
HEAT_STOPPED = HEAT.replace('role="Started" active="true"', 'role="Stopped" active="false"')
NODE3 = 'name="node-3" id="3" online="true" standby="false" standby_onfail="false" ' \
        'maintenance="false" pending="false" unclean="false" shutdown="false"'


def node3(**bad):
    """Node-3's attributes with ``bad`` values in place of the healthy ones."""
    text = NODE3
    for attr, value in bad.items():
        old = f' {attr}="{"true" if attr == "online" else "false"}"'
        assert old in text
        text = text.replace(old, f' {attr}="{value}"')
    return text


@pytest.mark.parametrize("text, problems", [
    (sample(HEALTHY), []),
    (sample("crm_mon_1.1.12_fuel_failure.xml"),
     ["failed action p_cinder-volume_monitor_20000 on node-3: not running "
      "(exit code 7, status complete, last change Tue Sep 15 08:29:56 2015)"]),
    (variant(HEALTHY, (NODE3, node3(standby="true"))), ["node node-3 is in standby"]),
    (variant(HEALTHY, (NODE3, node3(online="false"))), ["node node-3 is offline"]),
    (variant(HEALTHY, (NODE3, node3(maintenance="true"))), ["node node-3 is in maintenance"]),
    (variant(HEALTHY, (NODE3, node3(unclean="true", pending="true"))),
     ["node node-3 is unclean", "node node-3 is pending"]),
    (variant(HEALTHY, (NODE3, node3(standby_onfail="true", shutdown="true"))),
     ["node node-3 is in standby after a failure", "node node-3 is shutting down"]),
    (variant(HEALTHY, (HEAT, HEAT_STOPPED)),
     ["resource p_heat-engine (clone_p_heat-engine) is Stopped"]),
    (variant(HEALTHY, (HEAT, HEAT_STOPPED.replace('role=', 'target_role="Stopped" role='))),
     ["resource p_heat-engine (clone_p_heat-engine) is Stopped "
      "(target-role Stopped: stopped by the operator)"]),
    (variant(HEALTHY, (HEAT, HEAT_STOPPED),                     # target-role set on the clone
             ('<clone id="clone_p_heat-engine" ', '<clone id="clone_p_heat-engine" '
                                                  'target_role="Stopped" ')),
     ["resource p_heat-engine (clone_p_heat-engine) is Stopped "
      "(target-role Stopped: stopped by the operator)"]),
    (variant(HEALTHY, ('id="p_rabbitmq-server" resource_agent="ocf::fuel:rabbitmq-server" '
                       'role="Master"', 'id="p_rabbitmq-server" resource_agent="ocf::fuel:'
                       'rabbitmq-server" role="Stopped"')),
     ["resource p_rabbitmq-server (master_p_rabbitmq-server) is Stopped"]),
    (variant(HEALTHY, ('id="vip__zbx_vip_mgmt" resource_agent="ocf::fuel:ns_IPaddr2" '
                       'role="Started" active="true"', 'id="vip__zbx_vip_mgmt" resource_agent='
                       '"ocf::fuel:ns_IPaddr2" role="Starting" active="false"')),
     ["resource vip__zbx_vip_mgmt (group__zabbix-server) is Starting"]),
    (variant(HEALTHY, ('ocf::fuel:cinder-volume" role="Started" active="true" orphaned="false" '
                       'managed="true" failed="false"', 'ocf::fuel:cinder-volume" role="Started"'
                       ' active="true" orphaned="false" managed="false" failed="true"')),
     ["resource p_cinder-volume is failed on node-3",
      "resource p_cinder-volume is unmanaged on node-3"]),
    (sample("crm_mon_1.1.12_octane_resources.xml"),
     ["resource p_ceilometer-alarm-evaluator is not active (role Started)",
      "resource p_rabbitmq-server (master_p_rabbitmq-server) is Stopped"]),
    (sample(RESULT),
     ["node node1 is offline", "resource res_ks_haproxy (cl_ks_haproxy) is Stopped"]),
    (variant(RESULT, ('maintenance-mode="false"', 'maintenance-mode="true"')),
     ["cluster is in maintenance mode", "node node1 is offline",
      "resource res_ks_haproxy (cl_ks_haproxy) is Stopped"]),
    (variant(RESULT, ('<status code="0" message="OK"/>',
                      '<status code="102" message="Not connected"/>')),
     ["pacemaker: crm_mon reports Not connected (status 102)"]),
])
def test_pacemaker_problems_name_nodes_resources_and_failures(text, problems):
    assert mosmu_checks.pacemaker_problems(text) == problems


def test_two_stopped_instances_of_a_clone_are_one_problem():
    stopped = ('<resource id="res_ks_haproxy" resource_agent="lsb:haproxy" role="Stopped" '
               'active="false" orphaned="false" blocked="false" managed="true" failed="false" '
               'failure_ignored="false" nodes_running_on="0"/>')
    text = variant(RESULT, (stopped, stopped + "\n      " + stopped))
    assert mosmu_checks.pacemaker_problems(text).count(
        "resource res_ks_haproxy (cl_ks_haproxy) is Stopped") == 1


def test_hostile_node_and_resource_names_reach_the_problem_unchanged():
    name = "node-3\x9b31m\u202e"        # XML 1.0 refuses ESC itself; C1 CSI and bidi pass
    text = variant(HEALTHY, (NODE3, node3(online="false").replace("node-3", name)),
                   (HEAT, HEAT_STOPPED.replace("p_heat-engine", "p_\u202eheat")))
    assert mosmu_checks.pacemaker_problems(text) == [
        f"node {name} is offline", "resource p_\u202eheat (clone_p_heat-engine) is Stopped"]


BILLION_LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE crm_mon [<!ENTITY a "aaaaaaaaaa">'
                  '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<crm_mon>&b;</crm_mon>')


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    ("Could not establish cib_ro connection: Connection refused (111)\n",
     "Could not establish cib_ro connection"),
    ("Error: cluster is not currently running on this node\n", "Error: cluster is not"),
    ('<cib epoch="1"><configuration/></cib>', "<cib epoch"),
    ("<crm_mon><resources>", "<crm_mon><resources>"),            # cut short
    (BILLION_LAUGHS, '<?xml version="1.0"?>'),
    ('<!ENTITY x SYSTEM "file:///etc/shadow">\n<crm_mon/>', "<!ENTITY x"),
    (b"<crm_mon/>", "(a bytes, not text)"),
])
def test_pacemaker_refuses_what_is_not_crm_mon_xml(text, line):
    raises_naming(mosmu_checks.pacemaker_problems, text, line)
    raises_naming(mosmu_checks.pacemaker_resources, text, line)


def test_a_document_type_declaration_is_refused_before_any_entity_is_expanded():
    message = raises_naming(mosmu_checks.pacemaker_problems, BILLION_LAUGHS, "<?xml")
    assert "DTD or entity declaration is refused" in message


def test_pacemaker_resources_are_the_primitives_the_operator_restarts():
    resources = mosmu_checks.pacemaker_resources(sample(HEALTHY))
    assert [r["id"] for r in resources] == [
        "p_vrouter", "vip__management", "vip__vrouter_pub", "vip__vrouter", "vip__public",
        "p_conntrackd", "p_haproxy", "p_dns", "p_rabbitmq-server", "p_mysql",
        "p_ceilometer-agent-central", "p_ceilometer-alarm-evaluator", "p_heat-engine",
        "p_neutron-plugin-openvswitch-agent", "p_neutron-dhcp-agent", "p_neutron-metadata-agent",
        "p_neutron-l3-agent", "p_ntp", "p_cinder-volume", "vip__zbx_vip_mgmt", "p_zabbix-server"]
    by_id = {r["id"]: r for r in resources}
    assert by_id["p_neutron-l3-agent"] == {
        "id": "p_neutron-l3-agent", "parent": "clone_p_neutron-l3-agent",
        "agent": "ocf::fuel:ocf-neutron-l3-agent", "role": "Started", "active": True}
    assert by_id["p_cinder-volume"]["parent"] is None
    assert by_id["p_zabbix-server"]["parent"] == "group__zabbix-server"


def test_a_clones_instances_are_one_resource_with_all_their_roles():
    by_id = {r["id"]: r for r in mosmu_checks.pacemaker_resources(
        sample("crm_mon_1.1.12_octane_resources.xml"))}
    assert by_id["p_rabbitmq-server"]["role"] == "Master,Slave,Stopped"
    assert by_id["p_rabbitmq-server"]["active"] is True
    assert by_id["p_ceilometer-alarm-evaluator"]["active"] is False
    assert [r["id"] for r in mosmu_checks.pacemaker_resources(sample(RESULT))] == [
        "res_ks_3cb88eb_vip", "res_ks_haproxy"]


def test_a_unique_clones_instance_numbers_are_dropped():
    text = ('<crm_mon version="1.1.12"><resources><clone id="cl_ip" unique="true">'
            '<resource id="p_ip:0" resource_agent="ocf::heartbeat:IPaddr2" role="Started" '
            'active="true"/><resource id="p_ip:1" resource_agent="ocf::heartbeat:IPaddr2" '
            'role="Stopped" active="false"/></clone></resources></crm_mon>')
    assert mosmu_checks.pacemaker_resources(text) == [{
        "id": "p_ip", "parent": "cl_ip", "agent": "ocf::heartbeat:IPaddr2",
        "role": "Started,Stopped", "active": True}]


def test_no_resource_list_when_crm_mon_reports_its_own_error():
    text = variant(RESULT, ('<status code="0" message="OK"/>',
                            '<status code="102" message="Not connected"/>'))
    with pytest.raises(ValueError, match="Not connected"):
        mosmu_checks.pacemaker_resources(text)


# -- Ceph -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, problems", [
    (sample("ceph_health_ok.txt"), []),
    ("HEALTH_OK (muted: POOL_NO_REDUNDANCY)\n", []),
    (sample("ceph_health_warn_pgs_per_osd.txt"),
     ["ceph health is HEALTH_WARN: too many PGs per OSD (384 > max 300)"]),
    (sample("ceph_health_warn_clock_skew.txt"),
     ["ceph health is HEALTH_WARN: clock skew detected on mon.node-16, mon.node-17"]),
    (sample("ceph_health_warn_pgs_stuck.txt"),
     ["ceph health is HEALTH_WARN: 63 pgs peering; 54 pgs stuck inactive; 208 pgs stuck "
      "unclean; recovery 2/34 degraded (5.882%)"]),
    (sample("ceph_health_detail_osd_down.txt"),
     ["ceph health is HEALTH_WARN: 1/3 in osds are down",
      "ceph health detail: osd.0 is down since epoch 23, last address "
      "192.168.106.220:6800/11080"]),
    (sample("ceph_health_detail_full.txt"),
     ["ceph health is HEALTH_ERR: 1 nearfull osds, 1 full osds",
      "ceph health detail: osd.2 is near full at 85%",
      "ceph health detail: osd.3 is full at 97%"]),
    ("HEALTH_WARN\n", ["ceph health is HEALTH_WARN"]),
    (f"HEALTH_WARN 1 osds down\n    osd.1 ({HOSTILE}) is down\n",
     ["ceph health is HEALTH_WARN: 1 osds down", f"ceph health detail: osd.1 ({HOSTILE}) is down"]),
])
def test_ceph_problems_are_one_per_line_of_a_bad_health(text, problems):
    assert mosmu_checks.ceph_problems(text) == problems


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    ("Error initializing cluster client: ObjectNotFound('RADOS object not found')\n",
     "Error initializing cluster client"),
    ("2016-10-11 22:03:43 monclient(hunting): authenticate timed out after 300\n",
     "monclient(hunting)"),
    ("HEALTH_OKAY\n", "HEALTH_OKAY"),
])
def test_ceph_problems_refuse_what_is_not_a_health_status(text, line):
    raises_naming(mosmu_checks.ceph_problems, text, line)


@pytest.mark.parametrize("text, result", [
    (sample("ceph_pg_stat_clean.txt"), (True, "448 pgs: 448 active+clean")),
    (sample("ceph_pg_stat_recovering.txt"), (False, "960 pgs: 1 active, 959 active+clean")),
    (variant("ceph_pg_stat_clean.txt", ("448 active+clean;", "447 active+clean, "
                                        "1 active+clean+scrubbing+deep;")),
     (True, "448 pgs: 447 active+clean, 1 active+clean+scrubbing+deep")),
    (variant("ceph_pg_stat_clean.txt", ("448 active+clean;", "446 active+clean, "
                                        "2 active+undersized+degraded;")),
     (False, "448 pgs: 446 active+clean, 2 active+undersized+degraded")),
    (variant("ceph_pg_stat_clean.txt", ("448 active+clean;", "447 active+clean, "
                                        "1 active+clean+inconsistent;")),
     (False, "448 pgs: 447 active+clean, 1 active+clean+inconsistent")),
    (variant("ceph_pg_stat_clean.txt", ("448 active+clean;", "440 active+clean;")),
     (False, "448 pgs: 440 active+clean")),                       # counts short of the total
    ("192 pgs: 192 active+clean; 2.0 GiB data, 7.1 GiB used, 293 GiB / 300 GiB avail\n",
     (True, "192 pgs: 192 active+clean")),                        # luminous: no vNNN prefix
    ("v5: 0 pgs: ; 0 bytes data, 0 kB used, 0 kB / 0 kB avail\n", (True, "0 pgs: none")),
])
def test_ceph_pgs_clean_only_when_every_pg_is_active_and_clean(text, result):
    assert mosmu_checks.ceph_pgs_clean(text) == result


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    (sample("ceph_health_ok.txt"), "HEALTH_OK"),
    ("v1: 10 pgs: ten active+clean; 0 bytes data\n", "v1: 10 pgs: ten active+clean"),
])
def test_ceph_pgs_clean_refuses_what_is_not_pg_stat(text, line):
    raises_naming(mosmu_checks.ceph_pgs_clean, text, line)


# -- OpenStack service tables ---------------------------------------------------------------

NOVA_DOWN = "nova_service_list_mos91_down.txt"
NOVA_UP = "nova_service_list_mos91_up.txt"
NOVA8 = "| nova-compute     | node-8.test.domain.local | nova     | enabled | up    |"
CINDER = "cinder_service_list_mos91.txt"
CISCO = "neutron_agent_list_cisco_l3_xxx.txt"
L3_ROW = "| L3 agent           | tme166.cisco.com | xxx   | True           |"


@pytest.mark.parametrize("text, problems", [
    (sample(NOVA_UP), []),
    (sample(NOVA_DOWN), [f"nova-{binary} on node-{node}.test.domain.local is down"
                         for node in (3, 5)
                         for binary in ("consoleauth", "scheduler", "conductor", "cert")]),
    (variant(NOVA_UP, (NOVA8, NOVA8.replace("up   ", "down "))),
     ["nova-compute on node-8.test.domain.local is down"]),
    (variant(NOVA_UP, (NOVA8 + " 2016-10-12T10:46:50.000000 | -               |",
                       NOVA8.replace("enabled", "disabled").replace("up   ", "down ")
                       + " 2016-10-12T10:46:50.000000 | maintenance | ticket 42 |")),
     ["nova-compute on node-8.test.domain.local is down (disabled: maintenance | ticket 42)"]),
    (variant(NOVA_UP, (NOVA8, NOVA8.replace("enabled", "disabled").replace("up   ", "down "))),
     ["nova-compute on node-8.test.domain.local is down (disabled)"]),
    (variant(NOVA_UP, (NOVA8, NOVA8.replace("enabled", "disabled"))), []),   # disabled, up
    (variant(NOVA_UP, (NOVA8, NOVA8.replace("node-8.test.domain.local", HOSTILE)
                       .replace("up   ", "down "))), [f"nova-compute on {HOSTILE} is down"]),
    ("nova CLI is deprecated and will be removed in a future release\n" + sample(NOVA_UP), []),
    ("\n".join(sample(NOVA_UP).splitlines()[:3]) + "\n", []),              # header only
])
def test_nova_service_problems_name_each_service_not_up(text, problems):
    assert mosmu_checks.nova_service_problems(text) == problems


@pytest.mark.parametrize("text, problems", [
    (sample(CINDER), []),
    (variant(CINDER, ("| nova | enabled |   up  | 2016-10-12T10:47:48",
                      "| nova | enabled |  down | 2016-10-12T10:47:48")),
     ["cinder-volume on rbd:volumes@RBD-backend is down"]),
])
def test_cinder_service_problems_read_the_centred_table(text, problems):
    assert mosmu_checks.cinder_service_problems(text) == problems


@pytest.mark.parametrize("func, text, line", [
    (mosmu_checks.nova_service_problems, "", "(no output)"),
    (mosmu_checks.nova_service_problems,
     "ERROR (Unauthorized): The request you have made requires authentication. (HTTP 401)\n",
     "ERROR (Unauthorized)"),
    (mosmu_checks.nova_service_problems, sample(CISCO), "| id "),         # no State column
    (mosmu_checks.nova_service_problems, "\n".join(sample(NOVA_UP).splitlines()[:-1]),
     "| 41 | nova-compute"),                                                 # cut short
    (mosmu_checks.nova_service_problems, variant(NOVA_UP, (NOVA8, "| 38 | nova-compute |")),
     "| 38 | nova-compute |"),                                               # cells missing
    (mosmu_checks.cinder_service_problems, "cinder: error: unrecognized arguments\n",
     "cinder: error"),
    (mosmu_checks.neutron_agent_problems, sample(NOVA_UP), "| Id | Binary"),  # no alive column
    (mosmu_checks.neutron_agent_problems, variant(CISCO, (L3_ROW, L3_ROW.replace("xxx", "?  "))),
     "alive ?"),
])
def test_service_tables_refuse_what_is_not_their_table(func, text, line):
    raises_naming(func, text, line)


def with_zone(text):
    """An agent table with Mitaka's ``availability_zone`` column after ``host``."""
    lines = []
    for line in text.splitlines():
        sep = "+" if line.startswith("+") else "|"
        cells = line.split(sep)
        cells.insert(4, "-" * 19 if sep == "+" else " availability_zone " if "agent_type" in line
                     else " nova              " if "L3 agent" in line else " " * 19)
        lines.append(sep.join(cells))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, problems", [
    (sample("neutron_agent_list_install_guide.txt"), []),
    (sample(CISCO), ["neutron-l3-agent on tme166.cisco.com is not alive (xxx)"]),
    (variant(CISCO, (L3_ROW, L3_ROW.replace("True ", "False"))),
     ["neutron-l3-agent on tme166.cisco.com is not alive (xxx, admin state down)"]),
    (with_zone(sample(CISCO)), ["neutron-l3-agent on tme166.cisco.com is not alive (xxx)"]),
    (variant(CISCO, (L3_ROW, L3_ROW.replace("tme166.cisco.com", HOSTILE))),
     [f"neutron-l3-agent on {HOSTILE} is not alive (xxx)"]),
    ("+----+-------+-------+-------+------------------+\n"
     "| ID | Host  | Alive | State | Binary           |\n"
     "+----+-------+-------+-------+------------------+\n"
     "| 1  | ctl-1 | XXX   | DOWN  | neutron-l3-agent |\n"
     "| 2  | ctl-2 | :-)   | UP    | neutron-l3-agent |\n"
     "+----+-------+-------+-------+------------------+\n",               # openstack client
     ["neutron-l3-agent on ctl-1 is not alive (XXX, admin state down)"]),
])
def test_neutron_agent_problems_name_each_dead_agent(text, problems):
    assert mosmu_checks.neutron_agent_problems(text) == problems


# -- init script status ---------------------------------------------------------------------

UPSTART_NOTICE = (
    "Rather than invoking init scripts through /etc/init.d, use the service(8)\n"
    "utility, e.g. service nova-compute status\n\n"
    "Since the script you are attempting to invoke has been converted to an\n"
    "Upstart job, you may also use the status(8) utility, e.g. status nova-compute\n")


@pytest.mark.parametrize("text, retcode, status", [
    (sample("status_upstart_running_fuel.txt"), 0, {"running": True, "pid": 283}),
    (sample("status_sysv_rhel_running_sos.txt"), 0, {"running": True, "pid": 4197}),
    (sample("status_sysv_rhel_dead_corosync.txt"), 1, {"running": False, "pid": None}),
    (sample("status_lsb_apache2_running_fuel.txt"), 0, {"running": True, "pid": 1907}),
    (sample("status_lsb_debian12_not_running.txt"), 3, {"running": False, "pid": None}),
    (sample("status_systemd_memcached_running.txt"), 0, {"running": True, "pid": 9279}),
    (sample("status_systemd_apache2_dead.txt"), 3, {"running": False, "pid": None}),
    ("nova-compute stop/waiting\n", 0, {"running": False, "pid": None}),
    (UPSTART_NOTICE + "nova-compute start/running, process 1234\n", 0,
     {"running": True, "pid": 1234}),
    ("network-interface (eth0) start/running\n", 0, {"running": True, "pid": None}),
    ("nova-compute start/post-start, process 99\n", 0, {"running": False, "pid": None}),
    ("nova-compute stop/pre-stop, process 99\n", 0, {"running": False, "pid": None}),
    (" * nova-compute is running\n", 0, {"running": True, "pid": None}),
    (" * nova-compute is not running\n", 3, {"running": False, "pid": None}),
    ("Apache2 is NOT running.\n", 3, {"running": False, "pid": None}),
    ("openstack-nova-compute is stopped\n", 3, {"running": False, "pid": None}),
    ("openstack-nova-api (pid  2442 2460) is running...\n", 0, {"running": True, "pid": 2442}),
    ("rpc.mountd (pid 1061) is running...\nnfsd dead but subsys locked\n", 2,
     {"running": False, "pid": None}),                       # one daemon down: not running
    ("", 3, {"running": False, "pid": None}),
    ("Usage: /etc/init.d/nova-compute {start|stop|restart}\n", 3,
     {"running": False, "pid": None}),
])
def test_service_status_reads_upstart_sysv_lsb_and_systemd(text, retcode, status):
    assert mosmu_checks.service_status(text, retcode) == status


@pytest.mark.parametrize("text, retcode, line", [
    ("status: Unknown job: nova-compute\n", 1, "status: Unknown job"),
    ("", 0, "(no output)"),
    ("could not access PID file for nova-compute\n", 4, "could not access PID file"),
])
def test_service_status_refuses_text_without_a_status(text, retcode, line):
    raises_naming(mosmu_checks.service_status, text, line, retcode)


@pytest.mark.parametrize("retcode", [None, "3", True])
def test_service_status_needs_an_int_retcode(retcode):
    with pytest.raises(ValueError, match="retcode"):
        mosmu_checks.service_status("nova-compute stop/waiting\n", retcode)


# -- openrc ---------------------------------------------------------------------------------

OPENRC = "openrc_fuel_8.0.txt"


def test_openrc_env_reads_fuels_openrc():
    assert mosmu_checks.openrc_env(sample(OPENRC)) == {
        "OS_NO_CACHE": "true", "OS_TENANT_NAME": "admin", "OS_PROJECT_NAME": "admin",
        "OS_USERNAME": "admin", "OS_PASSWORD": "admin", "OS_AUTH_URL": "http://192.168.0.2:5000/",
        "OS_DEFAULT_DOMAIN": "default", "OS_AUTH_STRATEGY": "keystone",
        "OS_REGION_NAME": "RegionOne", "OS_ENDPOINT_TYPE": "internalURL",
        "CINDER_ENDPOINT_TYPE": "internalURL", "NOVA_ENDPOINT_TYPE": "internalURL",
        "NEUTRON_ENDPOINT_TYPE": "internalURL"}


@pytest.mark.parametrize("line, name, value", [
    ("export OS_PASSWORD='it\\'s'", "OS_PASSWORD", "it's"),          # Fuel's quote escaping
    ("export OS_PASSWORD='back\\slash'", "OS_PASSWORD", "back\\slash"),
    ('export OS_PASSWORD="pa\\"ss$word"', "OS_PASSWORD", 'pa"ss$word'),
    ("export OS_AUTH_URL=$KEYSTONE/v2.0", "OS_AUTH_URL", "$KEYSTONE/v2.0"),  # not expanded
    ("export OS_IDENTITY_API_VERSION=3", "OS_IDENTITY_API_VERSION", "3"),
    ("export OS_CACERT='/var/lib/astute/haproxy/public_haproxy.pem'  # TLS",
     "OS_CACERT", "/var/lib/astute/haproxy/public_haproxy.pem"),
    ("   export OS_REGION_NAME='Region Two'", "OS_REGION_NAME", "Region Two"),
    ("export OS_PASSWORD=''", "OS_PASSWORD", ""),
    (f"export OS_USERNAME='{HOSTILE}'", "OS_USERNAME", HOSTILE),
])
def test_openrc_values_are_read_as_written(line, name, value):
    assert mosmu_checks.openrc_env(sample(OPENRC) + line + "\n")[name] == value


@pytest.mark.parametrize("line", [
    "export OS_EXTRA=$(cat /etc/secret)",
    "export OS_EXTRA=`id`",
    "export OS_EXTRA='unterminated",
    "export OS_EXTRA=1; rm -rf /",
    "export OS_EXTRA='a' 'b'",
    "OS_EXTRA=plain-assignment",
    "# export OS_EXTRA=commented",
    "export os_extra=lower-case",
    "export GLANCE_EXTRA=other-client",
])
def test_openrc_lines_that_are_not_simple_os_exports_are_ignored(line):
    env = mosmu_checks.openrc_env(sample(OPENRC) + line + "\n")
    assert "OS_EXTRA" not in env and "os_extra" not in env and "GLANCE_EXTRA" not in env
    assert env["OS_USERNAME"] == "admin"


def test_the_last_export_of_a_name_wins():
    text = sample(OPENRC) + "export OS_REGION_NAME='RegionTwo'\n"
    assert mosmu_checks.openrc_env(text)["OS_REGION_NAME"] == "RegionTwo"


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    ("cat: /root/openrc: No such file or directory\n", "cat: /root/openrc: No such file"),
    ("export NOVA_ENDPOINT_TYPE='internalURL'\n", "export NOVA_ENDPOINT_TYPE=…"),
])
def test_openrc_env_needs_an_os_variable(text, line):
    raises_naming(mosmu_checks.openrc_env, text, line)


def test_an_openrc_error_never_shows_a_password():
    message = raises_naming(mosmu_checks.openrc_env, "export OS_PASSWORD='s3cr3t\n",
                            "export OS_PASSWORD=…")
    assert "s3cr3t" not in message


# -- holds ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, names", [
    (sample("versionlock_yum.list"),
     ["openstack-nova-common", "openstack-nova-compute", "python-nova"]),
    (sample("versionlock_dnf.list"), ["openstack-nova-common", "openstack-nova-compute"]),
    ("nova-api-2015.1.1-1.el6.noarch\n", ["nova-api"]),
    ("0:nova-api-2015.1.1-1.el6.*\nnova-api-0:2015.1.1-1.el6.*\n", ["nova-api"]),
    ("0:python-oslo-config-2.4.0~rc1-1.el7.*\n", ["python-oslo-config"]),
    ("", []),
    ("# nothing locked\n\n!0:nova-api-2015.1.1-2.el6.*\n", []),     # an exclude is no lock
])
def test_versionlock_names_are_the_locked_packages(text, names):
    assert mosmu_checks.versionlock_names(text) == names


@pytest.mark.parametrize("text, line", [
    ("nova-compute\n", "nova-compute"),
    ("0:nova-api-2015.1.1-1.el6.*\nLoaded plugins: versionlock\n", "Loaded plugins"),
    ("0:nova api-2015.1.1-1.el6.*\n", "0:nova api"),
])
def test_versionlock_names_refuse_what_is_not_a_lock_entry(text, line):
    raises_naming(mosmu_checks.versionlock_names, text, line)


# -- local changes --------------------------------------------------------------------------

def change(path, config, flags):
    return {"path": path, "config": config, "flags": flags}


@pytest.mark.parametrize("text, changes", [
    (sample("dpkg_verify_captured.txt"), [
        change("/etc/nova/api-paste.ini", True, "missing"),
        change("/etc/nova/nova.conf", True, "??5??????"),
        change("/usr/bin/nova-manage", False, "??5??????"),
        change("/usr/bin/with space", False, "??5??????")]),
    ("", []),
    ("??5?????? /lib/systemd/system/ssh.service\n",                  # as docs often print it
     [change("/lib/systemd/system/ssh.service", False, "??5??????")]),
    (f"??5?????? c /etc/nova/{HOSTILE}.conf\n", [change(f"/etc/nova/{HOSTILE}.conf", True,
                                                        "??5??????")]),
])
def test_dpkg_verify_lists_changed_files_by_path(text, changes):
    assert mosmu_checks.dpkg_verify(text) == changes


@pytest.mark.parametrize("text, changes", [
    (sample("rpm_verify_captured.txt"), [
        change("/etc/nova/api-paste.ini", True, "missing"),
        change("/etc/nova/nova.conf", True, "S.5....T."),
        change("/usr/bin/nova-manage", False, "SM5....T.")]),
    (".M...... c /etc/passwd\nS.5....T c /etc/printcap\n",          # rpm 4.4: 8 flags
     [change("/etc/passwd", True, ".M......"), change("/etc/printcap", True, "S.5....T")]),
    ("..5....T.  c /etc/nova/policy.json (replaced)\n",
     [change("/etc/nova/policy.json", True, "..5....T.")]),
    ("missing   c /etc/nova/rootwrap.conf (Permission denied)\n",
     [change("/etc/nova/rootwrap.conf", True, "missing")]),
    ("Unsatisfied dependencies for openstack-nova-common-2015.1.1-1.el6.noarch:\n"
     "\tpython-nova = 2015.1.1 is needed by openstack-nova-common\n"
     "S.5....T.  c /etc/nova/nova.conf\n", [change("/etc/nova/nova.conf", True, "S.5....T.")]),
    ("", []),
])
def test_rpm_verify_lists_changed_files_by_path(text, changes):
    assert mosmu_checks.rpm_verify(text) == changes


@pytest.mark.parametrize("text, config, changes", [
    (sample("debsums_ce.txt"), True, [change("/etc/nova/api-paste.ini", True, "??5??????"),
                                      change("/etc/nova/nova.conf", True, "??5??????")]),
    ("/usr/bin/nova-manage\n", False, [change("/usr/bin/nova-manage", False, "??5??????")]),
    ("debsums: missing file /usr/bin/nova-api (from nova-api package)\n"
     "debsums: no md5sums for nova-doc\n", False,
     [change("/usr/bin/nova-api", False, "missing")]),
    ("debsums: changed file /etc/nova/nova.conf (from nova-common package)\n", True,
     [change("/etc/nova/nova.conf", True, "??5??????")]),
    ("", False, []),
])
def test_debsums_changed_lists_changed_files_by_path(text, config, changes):
    assert mosmu_checks.debsums_changed(text, config=config) == changes


@pytest.mark.parametrize("func, text, line", [
    (mosmu_checks.dpkg_verify, "dpkg: error: --verify needs a valid package name\n",
     "dpkg: error"),
    (mosmu_checks.dpkg_verify, "??5?????? c etc/relative\n", "??5?????? c etc/relative"),
    (mosmu_checks.rpm_verify, "package nova-api is not installed\n", "package nova-api is not"),
    (mosmu_checks.rpm_verify, "S.5....T.  c\n", "S.5....T.  c"),
    (mosmu_checks.debsums_changed, "sh: debsums: not found\n", "sh: debsums: not found"),
])
def test_verify_parsers_refuse_what_is_not_their_output(func, text, line):
    raises_naming(func, text, line)


# -- a verify run's result -----------------------------------------------------------------------

class _Ret:
    def __init__(self, retcode, stdout="", stderr=""):
        self.retcode, self.stdout, self.stderr = retcode, stdout, stderr


@pytest.mark.parametrize("ret, expected", [
    (_Ret(0, ""), []),
    (_Ret(1, "??5??????   c /etc/nova/nova.conf\n"),
     [{"path": "/etc/nova/nova.conf", "config": True, "flags": "??5??????"}]),
])
def test_a_verify_run_that_found_changes_or_none_is_read(ret, expected):
    assert mosmu_checks.changed_files(ret, "dpkg --verify", mosmu_checks.dpkg_verify) == expected


@pytest.mark.parametrize("ret", [
    _Ret(2, "", "dpkg: error: unknown option --verify\n\nType dpkg --help\n"),
    _Ret(1, "", "dpkg: error: unknown option --verify\n"),
])
def test_a_verify_tool_that_failed_is_one_line_naming_it(ret):
    with pytest.raises(RuntimeError, match=r"^dpkg --verify failed \(exit \d\): dpkg: error: "
                                           r"unknown option --verify$"):
        mosmu_checks.changed_files(ret, "dpkg --verify", mosmu_checks.dpkg_verify)


# -- ceph quorum_status: which monitors are in the quorum ----------------------------------

@pytest.mark.parametrize("text, result", [
    (sample("ceph_quorum_status_one_out.json"),
     (["ceph001", "ceph002"], ["ceph002", "ceph001", "ceph003"])),
    (variant("ceph_quorum_status_one_out.json",
             ('"quorum_names":["ceph001","ceph002"]', '"quorum_names":[]')),
     ([], ["ceph002", "ceph001", "ceph003"])),
])
def test_ceph_quorum_names_the_monitors_in_quorum_and_all_monitors(text, result):
    assert mosmu_checks.ceph_quorum(text) == result


@pytest.mark.parametrize("text, line", [
    ("", "(no output)"),
    ("HEALTH_OK\n", "HEALTH_OK"),
    ('{"quorum": [0]}', '{"quorum": [0]}'),
    (variant("ceph_quorum_status_one_out.json", ('"quorum_names":["ceph001","ceph002"]',
                                                 '"quorum_names":"ceph001"')), '{"election'),
    (variant("ceph_quorum_status_one_out.json", ('{"rank":0,"name":"ceph002",',
                                                 '{"rank":0,"name":2,')), '{"election'),
    ("[1, 2]", "[1, 2]"),
])
def test_ceph_quorum_refuses_what_is_not_quorum_status(text, line):
    raises_naming(mosmu_checks.ceph_quorum, text, line)
