"""The validation gate: fullmatch everywhere (no trailing newline slips through), types first.

Every inventory or config value reaches a command line or a path only through these
validators. Good values come back normalised the way callers rely on; hostile values raise a
``ValueError`` whose text names the refused value (callers turn it into the one line an
operator reads), never checked for wording; length limits sit where the docstrings say.
"""

import decimal

import pytest

import mosmu_validate as v

LABEL63 = "a" * 63
HOST253 = ".".join([LABEL63, LABEL63, LABEL63, "b" * 61])   # 63*3 + 61 + 3 dots = 253
PART8 = "abcdefgh"


def _relpath_of(length):
    """A relative path of plain 8-char parts, exactly ``length`` characters long."""
    text = "/".join([PART8] * (length // 9 + 1))
    text = text[:length]
    return text if not text.endswith("/") else text[:-1] + "z"


# --- good values pass, normalised the way callers rely on -------------------------------------

@pytest.mark.parametrize("func, value", [
    (v.ipv4, "10.20.0.3"), (v.hostname, "node-1.test.domain.local"),
    (v.role, "ceph-osd"), (v.mos_version, "8.0"),
    (v.mos_version, "5.1.1"), (v.mos_version, "8.0-mu-3"),
    (v.word, "ubuntu"), (v.url, "http://10.20.0.2:8080"),
    (v.url, "rsync://mirror.fuel-infra.org/mirror"), (v.node_id, 7),
    (v.relpath, "mos-repos/ubuntu/8.0"), (v.filename, "mos.list"),
])
def test_good_values_pass_unchanged(func, value):
    assert func(value) == value


def test_versions_urls_and_paths_are_normalised():
    assert v.mos_version(8.0) == "8.0"
    assert v.url("http://h:8080/") == "http://h:8080"
    assert v.relpath("mos/ubuntu/") == "mos/ubuntu"


@pytest.mark.parametrize("func, value, expected", [
    (v.ipv4, "10.20.0.3", "10.20.0.3"),
    (v.ipv4, "0.0.0.0", "0.0.0.0"),  # noqa: S104 - a value under test, nothing binds
    (v.hostname, "n", "n"),
    (v.hostname, HOST253, HOST253),
    (v.hostname, "Node-1.Example", "Node-1.Example"),
    (v.hostname, "a" * 63, "a" * 63),
    (v.role, "a", "a"),
    (v.role, "primary-controller", "primary-controller"),
    (v.role, "x" * 64, "x" * 64),
    (v.role, "ceph_osd", "ceph_osd"),
    (v.mos_version, "10.12.1-mu-42", "10.12.1-mu-42"),
    (v.mos_version, 9.2, "9.2"),
    (v.word, "a", "a"),
    (v.word, "z" + "9" * 31, "z" + "9" * 31),
    (v.url, "https://h", "https://h"),
    (v.url, "http://h:65535/a_b/c-d/e.f~", "http://h:65535/a_b/c-d/e.f~"),
    (v.url, "http://hostX", "http://hostX"),
    (v.url, "rsync://m.org/mirror//", "rsync://m.org/mirror"),
    (v.node_id, 1, 1),
    (v.node_id, 10 ** 9, 10 ** 9),
    (v.relpath, "a", "a"),
    (v.relpath, "Xmos/", "Xmos"),
    (v.relpath, "a.b/c+d/e_f-g", "a.b/c+d/e_f-g"),
    (v.relpath, "...", "..."),
    (v.relpath, _relpath_of(512), _relpath_of(512)),
    (v.filename, "a", "a"),
    (v.filename, "x" * 128, "x" * 128),
])
def test_values_at_their_limits_pass_normalised(func, value, expected):
    assert func(value) == expected


# --- hostile values are refused: fullmatch, types first, the reason names the value ----------

HOSTILE = [
    # a trailing newline, a wrong type, a shell or path character
    (v.ipv4, "10.20.0.3\n"), (v.ipv4, 168034307),
    (v.hostname, "node-1\n"), (v.hostname, "a" * 254),
    (v.hostname, "-bad.x"), (v.hostname, "a..b"),
    (v.role, "compute\n"), (v.role, "compute;rm"),
    (v.role, "$(x)"), (v.role, ["compute"]),
    (v.mos_version, "8.0\n"), (v.mos_version, True),
    (v.mos_version, 8), (v.mos_version, "8.0-mu-x"),
    (v.word, "ubuntu\n"), (v.word, "Ubuntu"),
    (v.url, "http://h/\n"), (v.url, "http://u:p@h/"),
    (v.url, "file:///etc/passwd"), (v.url, "http://h/?q=1"),
    (v.node_id, True), (v.node_id, "1"), (v.node_id, 0),
    (v.node_id, 1.0),
    (v.relpath, "../etc"), (v.relpath, "/etc/passwd"),
    (v.relpath, "a/../../b"), (v.relpath, "a/b\n"),
    (v.filename, "a/b"), (v.filename, ".hidden"),
    (v.filename, "x\n"),
    # one past a bound, empty, another scheme, a credential, a relative step
    (v.ipv4, "10.20.0.256"), (v.ipv4, "10.20.0"), (v.ipv4, " 10.20.0.3"), (v.ipv4, None),
    (v.ipv4, b"10.20.0.3"),
    (v.hostname, ""), (v.hostname, HOST253 + "c"), (v.hostname, "a" * 64), (v.hostname, None),
    (v.hostname, "a.-b"), (v.hostname, "a_b"), (v.hostname, "a b"), (v.hostname, "a.b."),
    (v.hostname, 7),
    (v.role, ""), (v.role, "Compute"), (v.role, "-compute"), (v.role, "x" * 65), (v.role, None),
    (v.mos_version, decimal.Decimal("8.0")), (v.mos_version, ["8.0"]), (v.mos_version, None),
    (v.mos_version, "8"), (v.mos_version, "123.0"), (v.mos_version, "8.0-mu-"),
    (v.mos_version, "8.0.1.2"), (v.mos_version, False),
    (v.word, ""), (v.word, "1abc"), (v.word, "a" * 33), (v.word, "a b"), (v.word, None),
    (v.url, ""), (v.url, "/"), (v.url, "//http://h"), (v.url, "///http://h"),
    (v.url, "http://h:80X"), (v.url, "http://h:123456"), (v.url, "ftp://h"), (v.url, "http://"),
    (v.url, "http://h/a b"), (v.url, "http://h/a;rm"), (v.url, None), (v.url, 8080),
    (v.node_id, -1), (v.node_id, None), (v.node_id, False), (v.node_id, [1]),
    (v.relpath, ""), (v.relpath, "."), (v.relpath, ".."), (v.relpath, "a/./b"), (v.relpath, "a//b"),
    (v.relpath, _relpath_of(513)), (v.relpath, "/"), (v.relpath, "a b"), (v.relpath, "x" * 129),
    (v.relpath, 5), (v.relpath, ["a"]), (v.relpath, None),
    (v.filename, ""), (v.filename, "."), (v.filename, ".."), (v.filename, "x" * 129),
    (v.filename, "a b"), (v.filename, None), (v.filename, 5),
]


@pytest.mark.parametrize("func, value", HOSTILE)
def test_hostile_values_are_refused_naming_the_value(func, value):
    with pytest.raises(ValueError) as err:
        func(value)
    assert repr(value) in str(err.value)   # the reason names what was refused


# --- length limits and the key named in the reason ---------------------------------------------

def test_length_boundaries_are_where_the_docstrings_say():
    assert len(HOST253) == 253 and v.hostname(HOST253) == HOST253
    assert len(_relpath_of(512)) == 512 and len(_relpath_of(513)) == 513


@pytest.mark.parametrize("func", [v.word, v.url, v.relpath, v.filename])
def test_the_reason_names_the_config_key_given_as_what(func):
    with pytest.raises(ValueError) as err:
        func("\n", "mosmu:some_key")
    assert "mosmu:some_key" in str(err.value)
