"""The validation gate: fullmatch everywhere (no trailing newline slips through), types first."""

import pytest

import mosmu_validate


@pytest.mark.parametrize("func, value", [
    (mosmu_validate.ipv4, "10.20.0.3"), (mosmu_validate.hostname, "node-1.test.domain.local"),
    (mosmu_validate.role, "ceph-osd"), (mosmu_validate.mos_version, "8.0"),
    (mosmu_validate.mos_version, "5.1.1"), (mosmu_validate.mos_version, "8.0-mu-3"),
    (mosmu_validate.word, "ubuntu"), (mosmu_validate.url, "http://10.20.0.2:8080"),
    (mosmu_validate.url, "rsync://mirror.fuel-infra.org/mirror"), (mosmu_validate.node_id, 7),
    (mosmu_validate.relpath, "mos-repos/ubuntu/8.0"), (mosmu_validate.filename, "mos.list"),
])
def test_good_values_pass_unchanged(func, value):
    assert func(value) == value


def test_normalisations():
    assert mosmu_validate.mos_version(8.0) == "8.0"
    assert mosmu_validate.url("http://h:8080/") == "http://h:8080"
    assert mosmu_validate.relpath("mos/ubuntu/") == "mos/ubuntu"


@pytest.mark.parametrize("func, value", [
    (mosmu_validate.ipv4, "10.20.0.3\n"), (mosmu_validate.ipv4, 168034307),
    (mosmu_validate.hostname, "node-1\n"), (mosmu_validate.hostname, "a" * 254),
    (mosmu_validate.hostname, "-bad.x"), (mosmu_validate.hostname, "a..b"),
    (mosmu_validate.role, "compute\n"), (mosmu_validate.role, "compute;rm"),
    (mosmu_validate.role, "$(x)"), (mosmu_validate.role, ["compute"]),
    (mosmu_validate.mos_version, "8.0\n"), (mosmu_validate.mos_version, True),
    (mosmu_validate.mos_version, 8), (mosmu_validate.mos_version, "8.0-mu-x"),
    (mosmu_validate.word, "ubuntu\n"), (mosmu_validate.word, "Ubuntu"),
    (mosmu_validate.url, "http://h/\n"), (mosmu_validate.url, "http://u:p@h/"),
    (mosmu_validate.url, "file:///etc/passwd"), (mosmu_validate.url, "http://h/?q=1"),
    (mosmu_validate.node_id, True), (mosmu_validate.node_id, "1"), (mosmu_validate.node_id, 0),
    (mosmu_validate.node_id, 1.0),
    (mosmu_validate.relpath, "../etc"), (mosmu_validate.relpath, "/etc/passwd"),
    (mosmu_validate.relpath, "a/../../b"), (mosmu_validate.relpath, "a/b\n"),
    (mosmu_validate.filename, "a/b"), (mosmu_validate.filename, ".hidden"),
    (mosmu_validate.filename, "x\n"),
])
def test_bad_values_raise_value_error(func, value):
    with pytest.raises(ValueError):
        func(value)
