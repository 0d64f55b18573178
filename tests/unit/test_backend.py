"""Backend selection: the plan picks apt or yum, built with the node's own tools.

The plan's backend is built with the node's tools; a node without them is refused naming what
is missing; a backend without a plan still reads the installed packages; ``available`` follows
the package managers present; ``diff_versions`` reports every added, removed or changed package.
"""

import pytest

import mosmu_apt
import mosmu_backend
import mosmu_catalog
import mosmu_plan
import mosmu_yum

URL = "http://10.20.0.2:8080"
APT = {"apt-get": "/usr/bin/apt-get", "dpkg": "/usr/bin/dpkg", "dpkg-query": "/usr/bin/dpkg-query"}
YUM = {"yum": "/usr/bin/yum", "rpm": "/bin/rpm"}


def _plan(distro, version="8.0"):
    return mosmu_plan.Plan.build(mosmu_catalog.Catalog().get(distro, version), URL)


# --- the plan's distro picks the backend, whatever else the node has -------------------------

@pytest.mark.parametrize("distro, tools, cls", [
    ("ubuntu", APT, mosmu_apt.Apt), ("centos", YUM, mosmu_yum.Yum),
    ("ubuntu", dict(APT, **YUM), mosmu_apt.Apt), ("centos", dict(APT, **YUM), mosmu_yum.Yum),
])
def test_the_plan_s_distro_picks_the_backend(distro, tools, cls):
    plan = _plan(distro)
    backend = mosmu_backend.for_plan(plan, "/srv/n1/", tools.get, private="/tmp/p")
    assert type(backend) is cls
    assert (backend.root, backend.plan, backend.private) == ("/srv/n1/", plan, "/tmp/p")
    assert mosmu_backend.for_plan(plan, "/", tools.get).private is None


# --- a node without the tools is refused, naming each one missing ----------------------------

@pytest.mark.parametrize("distro, tools, missing", [
    ("ubuntu", YUM, ["apt-get", "dpkg", "dpkg-query"]),
    ("ubuntu", dict(APT, dpkg=None), ["dpkg"]),
    ("centos", APT, ["dnf", "yum", "rpm"]),
    ("centos", {"yum": "/usr/bin/yum"}, ["rpm"]),
])
def test_a_node_without_the_plan_s_tools_is_refused_naming_them(distro, tools, missing):
    with pytest.raises(mosmu_backend.BackendMissing) as err:
        mosmu_backend.for_plan(_plan(distro), "/", tools.get)
    assert all(tool in str(err.value) for tool in missing)
    assert f"{distro} MOS 8.0" in str(err.value)
    assert isinstance(err.value.__cause__, LookupError)


# --- by name, without a plan: only the installed packages are read ---------------------------

@pytest.mark.parametrize("name, tools, cls, argv", [
    ("apt", APT, mosmu_apt.Apt,
     ["dpkg-query", "--admindir=/srv/n1/var/lib/dpkg", "-W", "-f",
      mosmu_apt.INSTALLED_FORMAT]),
    ("yum", YUM, mosmu_yum.Yum,
     ["rpm", "--root=/srv/n1", "-qa", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"]),
])
def test_a_backend_by_name_reads_installed_packages_in_its_root(name, tools, cls, argv):
    asked = []

    def which(tool):
        asked.append(tool)
        return tools.get(tool)

    backend = mosmu_backend.by_name(name, "/srv/n1", which)
    assert type(backend) is cls and backend.plan is None and backend.root == "/srv/n1"
    assert backend.installed_argv() == argv
    assert asked == list(cls.candidates)
    assert mosmu_backend.by_name(name, "/", tools.get).installed_argv()[1] != argv[1]


@pytest.mark.parametrize("name, tools, missing", [
    ("apt", {}, "dpkg-query"), ("apt", YUM, "apt-get"), ("yum", APT, "rpm"),
    ("yum", {"dnf": "/usr/bin/dnf"}, "rpm"),
])
def test_a_backend_by_name_needs_its_tools(name, tools, missing):
    with pytest.raises(mosmu_backend.BackendMissing, match=missing):
        mosmu_backend.by_name(name, "/", tools.get)


def test_an_unknown_backend_name_is_a_key_error():
    with pytest.raises(KeyError):
        mosmu_backend.by_name("zypper", "/", APT.get)


# --- available: the package managers present on the node -------------------------------------

@pytest.mark.parametrize("tools, names", [
    ({}, []), ({"apt-get": "x"}, ["apt"]), ({"dpkg": "x"}, []), ({"rpm": "x"}, []),
    ({"dnf": "x"}, ["yum"]), ({"yum": "x"}, ["yum"]),
    ({"apt-get": "x", "dnf": "y"}, ["apt", "yum"]), ({"apt-get": ""}, []),
])
def test_available_backends_follow_the_package_managers_present(tools, names):
    assert mosmu_backend.available(tools.get) == names


# --- diff_versions: every added, removed or changed package, sorted ---------------------------

@pytest.mark.parametrize("before, after, diff", [
    ({}, {}, {}),
    ({"a": "1"}, {"a": "1"}, {}),
    ({"a": "1"}, {"a": "2"}, {"a": {"old": "1", "new": "2"}}),
    ({"a": "1"}, {}, {"a": {"old": "1", "new": ""}}),
    ({}, {"b": "1"}, {"b": {"old": "", "new": "1"}}),
    ({"a": "1.0", "b": "1"}, {"a": "1.1", "c": "2"},
     {"a": {"old": "1.0", "new": "1.1"}, "b": {"old": "1", "new": ""},
      "c": {"old": "", "new": "2"}}),
    ({"z": "1", "a": "1", "m": "1"}, {"z": "2", "a": "2", "m": "1"},
     {"a": {"old": "1", "new": "2"}, "z": {"old": "1", "new": "2"}}),
])
def test_every_added_removed_or_changed_package_is_in_the_diff(before, after, diff):
    got = mosmu_backend.diff_versions(before, after)
    assert got == diff and list(got) == sorted(diff)
