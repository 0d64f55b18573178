"""FuelClient: Keystone and Nailgun read with bounded, secret-free failures.

The security-relevant defaults of :class:`mosmu_fuel.FuelClient` (TLS verification on, no proxy
from the environment, timeouts set and positive, an overall deadline), its bounds (body size,
JSON depth, tries and which statuses are retried, one re-authentication on 401), that the
password never shows in a message or a log record, the trimmed streaming decode of node
lists, and the mapping of every failure to its own one-line FuelError naming the config key
that fixes it.

Most tests drive the client through a scripted session (exact requests, exact answers, no
waiting); the sandbox's Keystone/Nailgun (in-process, 127.0.0.1) checks the same on the wire
with every fault mode it offers. The streaming decoder is also driven directly, chunk by chunk:
where a body is cut is what it promises about, and no public call chooses the cuts.
"""

import json
import logging
import os
import socket

import pytest
import requests
import urllib3.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

import mosmu_fuel
from mosmu_errors import FuelError
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.procs import free_ports

PASSWORD = "pw-S3cret-never-shown"
FUEL = "http://fuel.test:8000"
KEYSTONE = "http://fuel.test:5000/v2.0"
TOKEN = "tok-0123456789abcdef"
VERSION = {"release": "8.0", "auth_required": True}


# --- a scripted transport: exact requests, exact answers, no waiting ----------------------

class Resp:
    """A streamed ``requests`` response: status, headers and the body in chunks."""

    def __init__(self, status=200, body=b"", ctype="application/json", headers=None,
                 chunks=None, error=None):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.status_code = status
        self.headers = CaseInsensitiveDict({"Content-Type": ctype} if ctype else {})
        self.headers.update(headers or {})
        self.chunks = list(chunks) if chunks is not None else (
            [body[i:i + 7] for i in range(0, len(body), 7)] if body else [])
        self.error = error          # raised by read1 once the chunks are out
        self.raw = self
        self.closed = False
        self.reads = []

    def read1(self, size):
        self.reads.append(size)
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b""

    def close(self):
        self.closed = True


def _route(method, url, kwargs):
    """A healthy Fuel master."""
    if url.endswith("/tokens"):
        return Resp(200, {"access": {"token": {"id": TOKEN}}})
    if url.endswith("/version"):
        return Resp(200, VERSION)
    name = url.rstrip("/").rsplit("/", 1)[1]
    return Resp(200, [{"id": 1, "name": name, "meta": {"big": 1}, "network_data": [1]}])


class Session:
    """Stands in for ``requests.Session``: records each request, answers from ``script``
    (a list of answers or exceptions, consumed per request) or from ``route``."""

    def __init__(self, script=None, route=_route):
        self.script = list(script) if script is not None else None
        self.route = route
        self.calls = []
        self.answers = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        if self.script is not None:
            answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            if isinstance(answer, Resp):    # a fresh copy per use
                answer = Resp(answer.status_code, b"".join(answer.chunks), None,
                              dict(answer.headers), error=answer.error)
        else:
            answer = self.route(method, url, kwargs)
        if isinstance(answer, BaseException):
            raise answer
        self.answers.append(answer)
        return answer

    def close(self):
        pass


def _client(session=None, **kw):
    args = dict(username="admin", password=PASSWORD, tenant="admin", timeout=30, backoff=0)
    args.update(kw)
    client = mosmu_fuel.FuelClient(args.pop("fuel_url", FUEL), **args)
    client._session = session if session is not None else Session()
    return client


def _error(call, *args, **kwargs):
    """The FuelError ``call`` raises: one line, without the password."""
    with pytest.raises(FuelError) as err:
        call(*args, **kwargs)
    text = str(err.value)
    assert "\n" not in text and PASSWORD not in text, text
    return err.value


@pytest.fixture
def clock(monkeypatch):
    """A frozen monotonic clock (``clock.now``) and recorded sleeps (``clock.sleeps``)."""

    class Clock:  # pylint: disable=too-few-public-methods
        def __init__(self):
            self.now, self.sleeps = 1000.0, []

        def sleep(self, seconds):
            self.sleeps.append(seconds)
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(mosmu_fuel.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(mosmu_fuel.time, "sleep", clock.sleep)
    return clock


# --- defaults: TLS verified, no proxy from the environment, every wait bounded --------------

def test_module_bounds_are_set_and_positive():
    assert mosmu_fuel.MAX_BYTES == 64 * 1024 * 1024
    assert mosmu_fuel.MAX_DEPTH == 32
    assert mosmu_fuel.RETRY_STATUSES == (502, 503, 504)
    assert 0 < mosmu_fuel.CHUNK <= 1024 * 1024
    assert mosmu_fuel.TRIMMED_NODE_FIELDS == ("meta", "network_data")


def test_security_defaults_of_a_client():
    client = mosmu_fuel.FuelClient("https://10.20.0.2:8443/", "admin", PASSWORD)
    assert client._session.verify is True
    assert client._session.trust_env is False
    assert client._timeout == 30.0 and client._connect_timeout == 10.0
    assert client._max_bytes == mosmu_fuel.MAX_BYTES and client._max_depth == 32
    assert client._tries == 3 and client._backoff == 0.5
    assert client._tenant == "admin" and client._token is None
    assert client.requests_made == 0
    assert client.fuel_url == "https://10.20.0.2:8443"
    assert client.keystone_url == "https://10.20.0.2:5000/v2.0"
    client.close()


@pytest.mark.parametrize("fuel_url, keystone_url, expected", [
    ("http://10.20.0.2:8000", None, "http://10.20.0.2:5000/v2.0"),
    ("https://fuel.example:8443/", None, "https://fuel.example:5000/v2.0"),
    ("http://fuel.example", None, "http://fuel.example:5000/v2.0"),
    ("http://h:8000", "http://k:35357/v2.0///", "http://k:35357/v2.0"),
])
def test_keystone_url(fuel_url, keystone_url, expected):
    client = mosmu_fuel.FuelClient(fuel_url, "a", PASSWORD, keystone_url=keystone_url)
    assert client.keystone_url == expected
    assert client.fuel_url == fuel_url.rstrip("/")
    if keystone_url is None:
        assert mosmu_fuel.default_keystone_url(fuel_url) == expected


@pytest.mark.parametrize("verify", [False, True])
def test_verify_tls_is_passed_to_the_session(verify):
    assert mosmu_fuel.FuelClient(FUEL, "a", PASSWORD, verify_tls=verify)._session.verify \
        is verify


def test_an_existing_ca_bundle_is_used(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert mosmu_fuel.FuelClient(FUEL, "a", PASSWORD, verify_tls=str(bundle))._session.verify \
        == str(bundle)


def test_a_missing_ca_bundle_is_refused_by_name(tmp_path):
    missing = str(tmp_path / "nope.pem")
    err = _error(mosmu_fuel.FuelClient, FUEL, "a", PASSWORD, verify_tls=missing)
    assert missing in str(err) and "mosmu:verify_tls" in str(err)


@pytest.mark.parametrize("timeout, connect, expected", [
    (30, None, (10.0, 30.0)), (4, None, (4.0, 4.0)), (10, None, (10.0, 10.0)),
    (30, 2, (2.0, 30.0)), (0.5, None, (0.5, 0.5)), ("7", None, (7.0, 7.0)),
])
def test_every_request_has_connect_and_read_timeouts(clock, timeout, connect, expected):
    session = Session()
    client = _client(session, timeout=timeout, connect_timeout=connect)
    client.version()
    ((method, url, kwargs),) = session.calls
    assert (method, url) == ("GET", f"{FUEL}/api/v1/version")
    assert kwargs["timeout"] == expected and all(t > 0 for t in kwargs["timeout"])
    assert kwargs["stream"] is True


def test_the_read_timeout_is_what_remains_of_the_deadline(clock):
    def slow(method, url, kwargs):
        clock.now += 3                       # each answer takes 3 s
        return _route(method, url, kwargs)

    session = Session(route=slow)
    client = _client(session, timeout=8, connect_timeout=6)
    client.inventory()
    timeouts = [kwargs["timeout"] for _, _, kwargs in session.calls]
    assert timeouts == [(6.0, 8.0)] * 5     # each request has its own deadline


@pytest.mark.parametrize("tries, made", [(0, 1), (-2, 1), (1, 1), (2, 2), (5, 5), ("4", 4)])
def test_tries_are_at_least_one(tries, made):
    session = Session([Resp(503, {"message": "Bad Gateway"})])
    client = _client(session, tries=tries)
    err = _error(client.version)
    assert client.requests_made == made == len(session.calls)
    assert "HTTP 503" in str(err) and f"after {max(1, int(tries))} tries" in str(err)


def test_the_environment_s_proxy_is_not_used(api, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _wire(api).version()["release"] == "8.0"


# --- retries: only gateway errors and lost connections, backoff doubling, within the deadline

def test_backoff_doubles_and_retries_are_bounded(clock):
    refused = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "refused"))
    session = Session([refused])
    client = _client(session, tries=4, backoff=0.5, timeout=30)
    err = _error(client.version)
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert client.requests_made == 4 and err.__cause__ is refused


def test_no_retry_that_would_end_past_the_deadline(clock):
    session = Session([Resp(502, {})])
    client = _client(session, tries=5, backoff=2, timeout=7)
    _error(client.version)
    assert clock.sleeps == [2, 4]           # 2 + 4 = 6 < 7; another 8 would pass 7
    assert client.requests_made == 3


def test_a_retry_ending_exactly_at_the_deadline_is_not_made(clock):
    session = Session([Resp(504, {})])
    client = _client(session, tries=3, backoff=2, timeout=2)
    _error(client.version)
    assert clock.sleeps == [] and client.requests_made == 1


def test_each_retry_is_logged_with_its_attempt(clock, caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_fuel.log.name)
    session = Session([Resp(503, {}), Resp(503, {}), Resp(200, VERSION)])
    assert _client(session, tries=3).version() == VERSION
    retries = [r for r in caplog.records if r.levelno == logging.DEBUG and "retry" in r.msg]
    assert [r.args[:3] for r in retries] == [("Nailgun", f"{FUEL}/api/v1/version", 2),
                                             ("Nailgun", f"{FUEL}/api/v1/version", 3)]
    assert all("503" in r.getMessage() for r in retries)


@pytest.mark.parametrize("status, retried", [
    (502, True), (503, True), (504, True),
    (500, False), (501, False), (505, False), (429, False), (400, False), (403, False),
    (200, False),
])
def test_which_statuses_are_retried(status, retried):
    session = Session([Resp(status, VERSION if status == 200 else {"message": "x"})])
    client = _client(session)
    if status == 200:
        assert client.version() == VERSION
    else:
        err = _error(client.version)
        assert f"HTTP {status}" in str(err)
    assert client.requests_made == (3 if retried else 1)


@pytest.mark.parametrize("exc, retried, words", [
    (requests.exceptions.SSLError("certificate verify failed"), False, "mosmu:verify_tls"),
    (requests.exceptions.ConnectTimeout("connect"), False, "did not answer within 30 s"),
    (requests.exceptions.ReadTimeout("read"), False, "did not answer within 30 s"),
    (urllib3.exceptions.ReadTimeoutError(None, "u", "read"), False, "raise mosmu:timeout"),
    (requests.exceptions.ConnectionError(socket.gaierror(-2, "Name or service not known")),
     False, "cannot resolve the host name of Nailgun"),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
     True, "connection refused (3 tries); check mosmu:fuel_url"),
    (requests.exceptions.ConnectionError(ConnectionResetError(104, "reset by peer")), True,
     "connection reset, 3 tries); check mosmu:fuel_url"),
    (requests.exceptions.ChunkedEncodingError("chunked"), True, "cut its answer off"),
    (urllib3.exceptions.ProtocolError("Connection broken"), True, "cut its answer off"),
    (urllib3.exceptions.IncompleteRead(10, 5), True, "(3 tries)"),
])
def test_every_transport_error_is_mapped(exc, retried, words):
    session = Session([exc])
    client = _client(session)
    err = _error(client.version)
    assert words in str(err), str(err)
    assert client.requests_made == (3 if retried else 1)
    assert err.__cause__ is exc


def test_an_error_while_reading_the_body_is_retried_and_mapped():
    broken = Resp(200, b'{"release": ', error=urllib3.exceptions.ProtocolError("broken"))
    session = Session([broken, Resp(200, VERSION)])
    client = _client(session)
    assert client.version() == VERSION and client.requests_made == 2
    assert all(answer.closed for answer in session.answers)


@pytest.mark.parametrize("exc, words", [
    (requests.exceptions.ConnectionError(socket.gaierror(-2, "x")), "cannot resolve"),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "x")), "connection refused"),
    (requests.exceptions.ConnectionError(OSError(113, "No route to host")), "unreachable"),
    (requests.exceptions.ChunkedEncodingError("x"), "cut its answer off"),
    (requests.exceptions.SSLError("x"), "TLS verification failed for Keystone"),
])
def test_keystone_failures_name_keystone_and_its_key(exc, words):
    def route(method, url, kwargs):
        return exc if url.endswith("/tokens") else _route(method, url, kwargs)

    err = _error(_client(Session(route=route), keystone_url=KEYSTONE).inventory)
    text = str(err)
    assert words in text and f"{KEYSTONE}/tokens" in text, text
    assert "mosmu:fuel_url" not in text, text
    if "TLS" not in text and "cut" not in text:
        assert "mosmu:keystone_url" in text, text


def test_a_passed_deadline_makes_no_request(clock):
    session = Session()
    client = _client(session, timeout=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client._once("GET", f"{FUEL}/api/v1/version", "Nailgun", clock.now)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client._once("GET", f"{FUEL}/api/v1/version", "Nailgun", clock.now - 1)
    assert session.calls == [] and client.requests_made == 0
    answer = client._once("GET", f"{FUEL}/api/v1/version", "Nailgun", clock.now + 0.25)
    assert answer.status == 200 and json.loads(answer.body) == VERSION and answer.data is None
    assert session.calls[0][2]["timeout"] == (0.25, 0.25) and client.requests_made == 1


def test_the_body_deadline_is_checked_while_it_arrives(clock):
    class Dripping(Resp):
        def read1(self, size):
            clock.now += 1
            return super().read1(size)

    session = Session(route=lambda m, u, k: Dripping(200, b" " * 40 + json.dumps(VERSION).encode()))
    client = _client(session, timeout=3, tries=3)
    err = _error(client.version)
    assert "did not finish answering within 3 s" in str(err) and "mosmu:timeout" in str(err)
    assert client.requests_made == 1 and session.answers[0].closed


# --- size limits: an announced or an actual body over the limit, JSON nested too deep -------

@pytest.mark.parametrize("length, ok", [("100", True), ("101", False), ("99999999999", False),
                                        ("abc", True), ("", True), ("-5", True)])
def test_an_announced_length_over_the_limit_is_refused_unread(length, ok):
    body = b" " * 100
    resp = Resp(200, body, headers={"Content-Length": length})
    client = _client(max_bytes=100)
    if ok:
        assert client._read_body(resp, "Nailgun", FUEL, float("inf")) == body
    else:
        err = _error(client._read_body, resp, "Nailgun", FUEL, float("inf"))
        assert f"announced a {int(length)}-byte answer" in str(err) and "100-byte" in str(err)
        assert resp.reads == []


@pytest.mark.parametrize("size, ok", [(99, True), (100, True), (101, False), (250, False)])
def test_a_body_over_the_limit_is_cut_off(size, ok):
    body = b"x" * size
    resp = Resp(200, chunks=[body[i:i + 30] for i in range(0, size, 30)])
    client = _client(max_bytes=100)
    if ok:
        assert client._read_body(resp, "Nailgun", FUEL, float("inf")) == body
    else:
        err = _error(client._read_body, resp, "Nailgun", FUEL, float("inf"))
        assert "more than 100 bytes" in str(err) and "mosmu:fuel_url" in str(err)
        assert resp.reads == [mosmu_fuel.CHUNK] * 4        # stopped at the first chunk over


def test_a_streamed_body_goes_to_the_decoder_not_into_memory():
    class Sink:
        def __init__(self):
            self.fed = []

        def feed(self, chunk):
            self.fed.append(chunk)

    sink = Sink()
    resp = Resp(200, chunks=[b"[", b"{}", b"]"])
    assert _client()._read_body(resp, "Nailgun", FUEL, float("inf"), sink) == b""
    assert sink.fed == [b"[", b"{}", b"]"]


@pytest.mark.parametrize("depth, ok", [(31, True), (32, True), (33, False)])
def test_the_depth_limit_of_an_object(depth, ok):
    body = ('{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()
    client = _client(Session([Resp(200, body)]))
    if ok:
        assert isinstance(client.version(), dict)
    else:
        assert "nested deeper than 32 levels" in str(_error(client.version))


@pytest.mark.parametrize("depth, ok", [(5, True), (6, False)])
def test_a_lower_depth_limit_is_applied_to_streamed_collections(depth, ok):
    node = {"id": 1, "roles": "[" * (depth - 2)}
    value = 1
    for _ in range(depth - 2):
        value = [value]
    node["roles"] = value
    session = Session([Resp(200, [node])])
    client = _client(session, max_depth=5)
    if ok:
        assert client.get("/api/v1/nodes/", auth=False) == [node]
    else:
        err = _error(client.get, "/api/v1/nodes/", auth=False)
        assert "deeper than 5 levels" in str(err)


@pytest.mark.parametrize("data, limit, ok", [
    (1, 0, True), ([], 0, False), ([], 1, True), ([[]], 1, False), ([[]], 2, True),
    ({"a": {"b": []}}, 3, True), ({"a": {"b": []}}, 2, False), ([1, "x", {"a": 1}], 2, True),
    ([1, [2, [3, [4]]]], 4, True), ([1, [2, [3, [4]]]], 3, False),
    ([{}, {"a": [{"b": {}}]}], 5, True), ([{}, {"a": [{"b": {}}]}], 4, False),
])
def test_every_list_and_object_counts_as_one_level(data, limit, ok):
    """``data`` under one key of the version answer, with a limit one level higher."""
    client = _client(Session([Resp(200, {"v": data})]), max_depth=limit + 1)
    if ok:
        assert client.version() == {"v": data}
    else:
        assert f"nested deeper than {limit + 1} levels" in str(_error(client.version))


# --- a connection error is told apart by its whole chain: dns, refused or other ---------

def _connection_failure(err):
    """The FuelError of a version() whose every try raises ``err``."""
    return str(_error(_client(Session([err, err, err])).version))


def test_a_refusal_is_found_through_cause_context_args_and_reason():
    root = ConnectionRefusedError(111, "refused")
    holder = Exception("pool")
    holder.reason = root
    wrapped = requests.exceptions.ConnectionError(holder)
    by_context = ValueError("context")
    by_context.__context__ = wrapped
    outer = requests.exceptions.ConnectionError("outer")
    outer.__cause__ = by_context
    assert "connection refused (3 tries)" in _connection_failure(outer)


def test_the_cause_wins_over_the_context_and_a_cycle_ends_the_chain():
    outer = requests.exceptions.ConnectionError("outer")
    refused = ConnectionRefusedError(111, "x")
    outer.__cause__, outer.__context__ = ValueError("cause"), refused   # the context is unread
    assert "host unreachable or connection reset" in _connection_failure(outer)
    looped = requests.exceptions.ConnectionError("looped")
    inner = ValueError("inner")
    looped.__cause__, inner.__context__ = inner, looped                  # a cycle
    assert "host unreachable or connection reset" in _connection_failure(looped)
    own = requests.exceptions.ConnectionError("own")
    own.reason = own                                                     # its own reason
    assert "host unreachable or connection reset" in _connection_failure(own)


def test_the_context_alone_is_followed():
    outer = requests.exceptions.ConnectionError("outer")
    outer.__context__ = ConnectionRefusedError(111, "x")
    assert "connection refused (3 tries)" in _connection_failure(outer)


def _refused_inside():
    holder = Exception("pool")
    holder.reason = ConnectionRefusedError(111, "x")
    return requests.exceptions.ConnectionError(holder)


@pytest.mark.parametrize("err, kind", [
    (requests.exceptions.ConnectionError(socket.gaierror(-2, "x")), "dns"),
    (requests.exceptions.ConnectionError(
        urllib3.exceptions.NameResolutionError("fuel.test", None, socket.gaierror(-2, "x"))),
     "dns"),
    (requests.exceptions.ConnectionError("[Errno -2] Name or service not known"), "dns"),
    (requests.exceptions.ConnectionError("Failed to resolve 'fuel.test'"), "dns"),
    (requests.exceptions.ConnectionError("name or service not known"), "other"),
    (requests.exceptions.ConnectionError("failed to resolve"), "other"),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "x")), "refused"),
    (_refused_inside(), "refused"),
    (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "refused"),
    (requests.exceptions.ConnectionError("connection refused"), "other"),
    (requests.exceptions.ConnectionError(ConnectionResetError(104, "reset")), "other"),
    (requests.exceptions.ConnectionError("Connection aborted."), "other"),
])
def test_a_connection_error_is_named_by_its_kind(err, kind):
    text = _connection_failure(err)
    words = {"dns": "cannot resolve the host name of Nailgun",
             "refused": "connection refused (3 tries)",
             "other": "host unreachable or connection reset"}
    assert words[kind] in text, text
    assert all(words[other] not in text for other in words if other != kind)


# --- Keystone: the credentials once, a plain token, a rejection naming user and tenant ------

def test_the_token_request_carries_the_credentials_once(clock):
    session = Session()
    client = _client(session, tenant="services", username="fueladm", keystone_url=KEYSTONE)
    assert client.token() == TOKEN and client.token() == TOKEN
    ((method, url, kwargs),) = session.calls
    assert (method, url) == ("POST", f"{KEYSTONE}/tokens")
    assert kwargs["json"] == {"auth": {"tenantName": "services", "passwordCredentials": {
        "username": "fueladm", "password": PASSWORD}}}
    assert client.token(renew=True) == TOKEN and len(session.calls) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_name_user_tenant_and_keys(status):
    session = Session([Resp(status, {"error": {"message": PASSWORD}})])
    err = _error(_client(session, username="fueladm", tenant="svc").token)
    text = str(err)
    assert f"HTTP {status}" in text and "'fueladm'" in text and "'svc'" in text
    assert "mosmu:password" in text and "mosmu:username" in text and "mosmu:tenant" in text
    assert len(session.calls) == 1


@pytest.mark.parametrize("status, body, ctype, words", [
    (404, {"message": "nf"}, "application/json", "HTTP 404 (not found)"),
    (400, {"message": "bad"}, "application/json", "answered HTTP 400; check mosmu:keystone_url"),
    (500, b"oops", "text/plain", "answered HTTP 500; check mosmu:keystone_url"),
    (500, fuelapi.HTML, "text/html", "with an HTML page"),
    (500, fuelapi.HTML, "application/json", "with an HTML page"),
    (200, fuelapi.HTML, "text/html", "with an HTML page"),
    (200, b"{", "application/json", "malformed JSON"),
    (200, {"access": {}}, "application/json", "no access.token.id"),
    (200, {"access": {"token": "x"}}, "application/json", "no access.token.id"),
    (200, [], "application/json", "no access.token.id"),
])
def test_keystone_answers_that_are_not_a_token(status, body, ctype, words):
    url = f"{KEYSTONE}/tokens"
    err = _error(_client(Session([Resp(status, body, ctype)]), keystone_url=KEYSTONE).token)
    text = str(err)
    assert words in text and url in text and "Keystone" in text, text
    if status != 200 or "HTML" in text:
        assert "mosmu:keystone_url" in text, text


@pytest.mark.parametrize("token, ok", [
    ("a", True), ("x" * 4096, True), ("gAAAAA-_=+/.~", True),
    ("", False), ("x" * 4097, False), (None, False), (5, False), (["t"], False),
    ("tök", False), ("t\nk", False), ("t\x00k", False), ("t k\t", False),
])
def test_only_a_plain_token_is_accepted(token, ok):
    client = _client(Session([Resp(200, {"access": {"token": {"id": token}}})]))
    if ok:
        assert client.token() == token and client._token == token
    else:
        assert "not a plain string" in str(_error(client.token))
        assert client._token is None


def test_a_failed_renewal_forgets_the_old_token():
    session = Session([Resp(200, {"access": {"token": {"id": TOKEN}}}), Resp(401, {})])
    client = _client(session)
    assert client.token() == TOKEN
    _error(client.token, renew=True)
    assert client._token is None


# --- Nailgun: answers refused by shape, one re-authentication on 401, answers always closed -

@pytest.mark.parametrize("status, body, ctype, words", [
    (404, {"message": "nf"}, "application/json", "HTTP 404 (not found)"),
    (500, {"message": "x"}, "application/json", "answered HTTP 500; check mosmu:fuel_url"),
    (500, b"  <HTML><body>", "application/json", "with an HTML page"),
    (500, b"Internal error", "text/html; charset=utf-8", "with an HTML page"),
    (500, b"Internal error", None, "answered HTTP 500"),
    (200, [VERSION], "application/json", "wrong shape (list, not an object)"),
    (200, {"auth_required": "yes"}, "application/json", "auth_required is not a boolean"),
    (200, {"auth_required": 1}, "application/json", "auth_required is not a boolean"),
    (200, b"<!DOCTYPE html>", "text/plain", "with an HTML page"),
    (200, b" \n<p>", "application/json", "with an HTML page"),
    (200, b"\xff\xfe", "application/json", "malformed JSON"),
    (200, b"[" * 100000 + b"]" * 100000, "application/json", "nested too deeply to read"),
])
def test_version_answers_that_are_refused(status, body, ctype, words):
    url = f"{FUEL}/api/v1/version"
    err = _error(_client(Session([Resp(status, body, ctype)])).version)
    assert words in str(err) and url in str(err) and "Nailgun" in str(err), str(err)
    if status == 404 or "HTML" in str(err):
        assert "mosmu:fuel_url" in str(err)


@pytest.mark.parametrize("data", [{"release": "9.0"}, {"auth_required": False},
                                  {"auth_required": True, "api": "1"}])
def test_version_answers_that_are_accepted(data):
    assert _client(Session([Resp(200, data)])).version() == data


def test_a_body_that_starts_with_markup_after_256_bytes_is_not_taken_for_html():
    body = b" " * 256 + b"<html>"
    assert "malformed JSON" in str(_error(_client(Session([Resp(200, body)])).version))
    err = _error(_client(Session([Resp(500, body)])).version)
    assert "answered HTTP 500" in str(err)
    body = b" " * 255 + b"<html>"
    assert "HTML page" in str(_error(_client(Session([Resp(500, body)])).version))


def test_get_sends_the_token_and_the_params_and_trims():
    session = Session()
    client = _client(session)
    got = client.get("/api/v1/nodes/", params={"cluster_id": 3}, trim=("meta",))
    assert got == [{"id": 1, "name": "nodes", "meta": None, "network_data": [1]}]
    token_call, get_call = session.calls
    assert token_call[0] == "POST"
    assert get_call[:2] == ("GET", f"{FUEL}/api/v1/nodes/")
    assert get_call[2]["headers"] == {"X-Auth-Token": TOKEN}
    assert get_call[2]["params"] == {"cluster_id": 3}


def test_get_without_auth_sends_no_token():
    session = Session()
    assert _client(session).get("/api/v1/releases/", auth=False)[0]["meta"] == {"big": 1}
    ((method, url, kwargs),) = session.calls
    assert (method, url, kwargs["headers"], kwargs["params"]) == (
        "GET", f"{FUEL}/api/v1/releases/", {}, None)


def test_a_401_reauthenticates_exactly_once(caplog):
    caplog.set_level(logging.DEBUG)
    tokens = iter(["t1", "t2", "t3"])

    def route(method, url, kwargs):
        if url.endswith("/tokens"):
            return Resp(200, {"access": {"token": {"id": next(tokens)}}})
        return Resp(401, {"error": "no"})

    session = Session(route=route)
    err = _error(_client(session).get, "/api/v1/nodes/")
    assert "refused a fresh Keystone token (HTTP 401)" in str(err)
    assert [(m, u.rsplit("/", 2)[-2], k.get("headers")) for m, u, k in session.calls] == [
        ("POST", "v2.0", None), ("GET", "nodes", {"X-Auth-Token": "t1"}),
        ("POST", "v2.0", None), ("GET", "nodes", {"X-Auth-Token": "t2"})]
    refusals = [r for r in caplog.records if r.name == mosmu_fuel.log.name
                and r.levelno == logging.INFO]
    assert [r.args for r in refusals] == [(f"{FUEL}/api/v1/nodes/", "; authenticating again"),
                                          (f"{FUEL}/api/v1/nodes/", "")]
    assert PASSWORD not in caplog.text


def test_a_401_then_a_fresh_token_succeeds():
    answers = iter([Resp(401, {}), None])

    def route(method, url, kwargs):
        answer = None if url.endswith("/tokens") else next(answers)
        return answer or _route(method, url, kwargs)

    session = Session(route=route)
    assert _client(session).get("/api/v1/clusters/") == [
        {"id": 1, "name": "clusters", "meta": {"big": 1}, "network_data": [1]}]
    assert [m for m, _, _ in session.calls] == ["POST", "GET", "POST", "GET"]


def test_a_401_without_auth_is_not_answered_by_authenticating():
    session = Session([Resp(401, {})])
    err = _error(_client(session).get, "/api/v1/nodes/", auth=False)
    assert "auth_required is false" in str(err) and "mosmu:fuel_url" in str(err)
    assert [m for m, _, _ in session.calls] == ["GET"]


@pytest.mark.parametrize("status, body, ctype, words", [
    (404, {"m": 1}, "application/json", "HTTP 404 (not found)"),
    (403, {"m": 1}, "application/json", "answered HTTP 403"),
    (500, b"<html>", "application/json", "with an HTML page"),
    (200, fuelapi.HTML, "text/html", "with an HTML page"),
    (200, {"nodes": []}, "application/json", "wrong shape (dict, not a list of objects)"),
    (200, [{"id": 1}, 2], "application/json", "wrong shape (list, not a list of objects)"),
    (200, b"[{}, ]", "application/json", "malformed JSON"),
    (200, b"[" * 40 + b"]" * 40, "application/json", "nested deeper than 32 levels"),
    (200, b"[" * 100000 + b"]" * 100000, "application/json", "nested too deeply to read"),
    (200, b"", "application/json", "malformed JSON"),
])
def test_collection_answers_that_are_refused(status, body, ctype, words):
    url = f"{FUEL}/api/v1/nodes/"
    err = _error(_client(Session([Resp(status, body, ctype)])).get, "/api/v1/nodes/",
                 auth=False)
    assert words in str(err) and url in str(err), str(err)
    if status == 404:
        assert "mosmu:fuel_url" in str(err)


def test_a_streamed_decode_error_is_mapped_and_chained():
    client = _client(Session([Resp(200, b'[{"a": 1} {"b": 2}]')]))
    err = _error(client.get, "/api/v1/nodes/", auth=False)
    assert "malformed JSON" in str(err) and err.__cause__.kind == "malformed"


@pytest.mark.parametrize("body", [
    b'\xef\xbb\xbf[{"id": 1, "meta": {"a": 1}}]',
    '[{"id": 1, "meta": {"a": 1}}]'.encode("utf-16"),
])
def test_the_whole_body_path_trims_too(body):
    client = _client(Session([Resp(200, body)]))
    assert client.get("/api/v1/nodes/", auth=False, trim=("meta", "network_data")) == [
        {"id": 1, "meta": None}]


def test_an_html_collection_is_not_streamed():
    session = Session([Resp(200, b'[{"id": 1}]', "text/html")])
    err = _error(_client(session).get, "/api/v1/nodes/", auth=False)
    assert "HTML page" in str(err)


def test_answers_are_always_closed():
    session = Session([Resp(200, b"x" * 50)])
    _error(_client(session, max_bytes=10).version)
    assert session.answers[0].closed
    session = Session([Resp(200, b'[{"a": 1},]')])
    _error(_client(session).get, "/api/v1/nodes/", auth=False)
    assert session.answers[0].closed


def test_inventory_without_auth_never_asks_for_a_token(caplog):
    caplog.set_level(logging.DEBUG, logger=mosmu_fuel.log.name)

    def route(method, url, kwargs):
        if url.endswith("/version"):
            return Resp(200, {"release": "7.0", "auth_required": False})
        assert "/tokens" not in url and kwargs["headers"] == {}
        return _route(method, url, kwargs)

    session = Session(route=route)
    got = _client(session).inventory()
    assert got["version"] == {"release": "7.0", "auth_required": False}
    assert got["nodes"] == [{"id": 1, "name": "nodes", "meta": None, "network_data": None}]
    assert got["clusters"][0]["meta"] == {"big": 1} and got["releases"][0]["name"] == "releases"
    assert [u.rsplit("/", 2)[-2] for _, u, _ in session.calls] == [
        "v1", "nodes", "clusters", "releases"]
    [debug] = [r for r in caplog.records if "auth_required" in r.msg]
    assert debug.args == (FUEL, "7.0", False)


@pytest.mark.parametrize("version", [{"release": "8.0"}, {"auth_required": None},
                                     {"auth_required": True}])
def test_inventory_authenticates_unless_auth_is_false(version):
    def route(method, url, kwargs):
        if url.endswith("/version"):
            return Resp(200, version) if version.get("auth_required", True) is not None \
                else Resp(200, {})
        return _route(method, url, kwargs)

    session = Session(route=route)
    _client(session).inventory()
    assert [m for m, _, _ in session.calls] == ["GET", "POST", "GET", "GET", "GET"]
    assert all(k["headers"] == {"X-Auth-Token": TOKEN} for m, _, k in session.calls[2:])


# --- the streaming decoder, chunk by chunk: what json.loads gives, or the same refusal ----

def _stream(body, cuts, **kw):
    dec = mosmu_fuel._Collection(**kw)
    start = 0
    for cut in [*cuts, len(body)]:
        dec.feed(body[start:cut])
        start = cut
    return dec


def test_malformed_positions_are_those_of_the_whole_body():
    for body in (b'[{"a": 1},  {"b": 2}  {"c": 3}]', b'[{"a": 1}, {"b": 2}] ,',
                 b'[ {"a": 1} , {"b": 2} x', b'[{"a": 1}, {"b": tru', b'[{"a": 1}, {"b": [1, 2',
                 b'[{"a": 1}', b'[{"a": 1}, ', b'[{"a": 1} '):
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(body)
        for cut in range(1, len(body)):
            with pytest.raises(mosmu_fuel._BadJSON) as err:
                _stream(body, [cut]).close()
            assert err.value.kind == "malformed"
            assert err.value.detail.endswith(f"char {expected.value.pos}"), (body, cut)


@pytest.mark.parametrize("body", [b'[{"a": 1}]\xc3', b'[{"a": 1}] \xe2\x82', b'[{"a": "\xe2'])
def test_a_body_cut_inside_a_character_is_malformed_and_says_why(body):
    with pytest.raises(UnicodeDecodeError) as expected:
        body.decode("utf-8")
    for cut in range(len(body) + 1):
        with pytest.raises(mosmu_fuel._BadJSON) as err:
            _stream(body, [cut]).close()
        assert err.value.kind == "malformed"
        assert expected.value.reason in err.value.detail, (cut, err.value.detail)
    err = _error(_client(Session([Resp(200, body)])).get, "/api/v1/nodes/", auth=False)
    assert "malformed JSON" in str(err) and expected.value.reason in str(err)


def test_a_malformed_detail_is_in_the_message_up_to_80_characters():
    detail = "Expecting value: " + "x" * 100
    client = _client()
    err = client._bad_json("Nailgun", FUEL, mosmu_fuel._BadJSON("malformed", detail))
    assert f"({detail[:80]})" in str(err)
    err = client._bad_json("Nailgun", FUEL, mosmu_fuel._BadJSON("shape", "str"))
    assert "(str, not a list of objects)" in str(err)


@pytest.mark.parametrize("body, cuts, expected", [
    (b"[]", [], []), (b" [ ] ", [1, 3], []), (b"[{}]", [1], [{}]),
    (b'[{"meta": 1, "id": 2}]', [5, 9], [{"meta": None, "id": 2}]),
    (b'[{"id": 1}, {"id": 2}]', [11], [{"id": 1}, {"id": 2}]),
    (b'\n\n[\n{"id": 1}\n]\n', [1, 2, 3], [{"id": 1}]),
])
def test_collections_decode_at_any_cut(body, cuts, expected):
    assert _stream(body, cuts, trim=("meta",)).close() == expected


@pytest.mark.parametrize("body", [b"x", b"[", b" ", b"\x00[", b"\xef", b"{}"])
def test_a_short_or_foreign_start_is_read_whole(body):
    dec = _stream(body, [])
    assert dec.close() is None and bytes(dec.raw) == body


@pytest.mark.parametrize("head, whole", [(b"[", False), (b"[{", False), (b" ", False),
                                          (b" [", False), (b"{[", True), (b"\x00[", True),
                                          (b"[\x00", True), (b"\xef\xbb", True),
                                          (b"\xff\xfe", True), (b"\xfe\xff", True)])
def test_the_streaming_decision_needs_two_bytes(head, whole):
    dec = mosmu_fuel._Collection()
    dec.feed(head)
    if len(head) < 2 or not head.strip():
        assert dec.raw is None and dec._state is None     # still undecided
    else:
        assert (dec.raw is not None) is whole


@pytest.mark.parametrize("body, kind", [
    (b'[{"a": 1}, 5]', "shape"), (b'[5, {"a": 1}]', "shape"), (b'["x"]', "shape"),
    (b"[[]]", "shape"), (b"[1.5 ]", "shape"), (b'[{"a": 1}', "malformed"),
    (b'[{"a": 1}]]', "malformed"), (b'[{"a": "\xe2\x82"}]', "malformed"),
    (b'[{"a": 1}, ', "malformed"), (b"[ 12", "malformed"),
    (b'[{"a": 1}]\xc3', "malformed"), (b'[{"a": 1}] \xe2\x82', "malformed"),
])
def test_refusals_at_every_cut(body, kind):
    for cut in range(len(body) + 1):
        with pytest.raises(mosmu_fuel._BadJSON) as err:
            _stream(body, [cut]).close()
        assert err.value.kind == kind, (body, cut)


def test_a_number_at_the_end_of_a_chunk_waits_for_more():
    dec = _stream(b'[{"a": 1}, 1', [])
    assert dec.items == [{"a": 1}] and dec._shape is None
    dec.feed(b"2 ]")
    with pytest.raises(mosmu_fuel._BadJSON) as err:
        dec.close()
    assert err.value.kind == "shape"


def test_an_element_is_decoded_again_only_when_twice_as_much_waits(monkeypatch):
    dec = mosmu_fuel._Collection()
    calls = []
    real = dec._decoder.raw_decode

    def counting(buf, pos):
        calls.append(len(buf) - pos)
        return real(buf, pos)

    monkeypatch.setattr(dec._decoder, "raw_decode", counting)
    dec.feed(b'[{"k": "' + b"x" * 10)           # 17 characters of the element wait
    assert calls == [17]
    dec.feed(b"x" * 10)                         # 27 < 34: not tried again
    assert calls == [17]
    dec.feed(b"x" * 10)                         # 37 >= 34
    assert calls == [17, 37]
    dec.feed(b'"}]')
    assert dec.close() == [{"k": "x" * 30}]


# --- on the wire: the sandbox's Keystone/Nailgun on 127.0.0.1, with its fault modes -------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuel") / "inventory.json"
    path.write_text(json.dumps(inv.default(3)))
    keystone, nailgun = free_ports(2)
    servers = fuelapi.serve(None, {"tenant": "admin", "username": "admin", "password": PASSWORD},
                            keystone, nailgun, inventory_path=str(path))
    yield {"fuel": f"http://127.0.0.1:{nailgun}", "keystone": f"http://127.0.0.1:{keystone}/v2.0",
           "state": servers[0].fuel_state, "path": path}
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def api(server):
    server["state"].set_fault(None)
    yield server
    server["state"].set_fault(None)


def _wire(api, **kw):
    args = dict(username="admin", password=PASSWORD, tenant="admin",
                keystone_url=api["keystone"], timeout=5, backoff=0)
    fuel_url = kw.pop("fuel_url", api["fuel"])
    args.update(kw)
    return mosmu_fuel.FuelClient(fuel_url, **args)


def _fails(client, words, call="inventory"):
    with pytest.raises(FuelError) as err:
        getattr(client, call)()
    text = str(err.value)
    assert words in text, text
    assert "\n" not in text and PASSWORD not in text
    return text


def test_inventory_has_nailgun_field_sets(api):
    data = _wire(api).inventory()
    assert data["version"]["auth_required"] is True and data["version"]["release"] == "8.0"
    assert len(data["nodes"]) == 3
    assert set(data["nodes"][0]) == set(inv.NODE_FIELDS)
    assert set(data["clusters"][0]) == set(inv.CLUSTER_FIELDS)
    assert {r["name"] for r in data["releases"]} >= {"Liberty on CentOS 6.5",
                                                   "Liberty on Ubuntu 14.04"}


def test_collections_need_a_token(api):
    assert requests.get(f"{api['fuel']}/api/v1/nodes/", timeout=5).status_code == 401
    assert requests.get(f"{api['fuel']}/api/v1/version", timeout=5).status_code == 200


def test_cluster_id_filter(api):
    client = _wire(api)
    assert len(client.get("/api/v1/nodes/", params={"cluster_id": 1})) == 3
    assert client.get("/api/v1/nodes/", params={"cluster_id": ""}) == []


def test_one_session_and_one_token_for_the_whole_inventory(api):
    client = _wire(api)
    before = len(api["state"].tokens)
    client.inventory()
    assert client.requests_made == 5  # version, token, nodes, clusters, releases
    assert len(api["state"].tokens) == before + 1


def test_wrong_password_names_the_config_keys_not_the_password(api, caplog):
    caplog.set_level(logging.DEBUG)
    text = _fails(_wire(api, password="wrong-one"), "HTTP 401")
    assert "mosmu:password" in text and "wrong-one" not in text
    assert "wrong-one" not in caplog.text and PASSWORD not in caplog.text


def test_nailgun_text_in_a_log_line_is_escaped_and_the_data_kept(api, caplog):
    """Nailgun's version ``release`` is logged (salt-run -l debug prints it on the terminal):
    a control sequence or bidi override in it is logged escaped; the data keeps it."""
    original = api["path"].read_text()
    data = json.loads(original)
    release = "8.0\x1b]0;pwned\x07\x1b[2J\u202e"
    data["version"]["release"] = release
    api["path"].write_text(json.dumps(data))
    caplog.set_level(logging.DEBUG, logger="mosmu_fuel")
    try:
        assert _wire(api).inventory()["version"]["release"] == release
    finally:
        api["path"].write_text(original)
    assert "\x1b" not in caplog.text and "\u202e" not in caplog.text
    assert "release 8.0\\x1b]0;pwned\\x07\\x1b[2J\\u202e," in caplog.text


def test_password_never_logged_on_success(api, caplog):
    caplog.set_level(logging.DEBUG)
    api["state"].set_fault({"mode": "401", "times": 1})
    _wire(api).inventory()
    assert PASSWORD not in caplog.text


def test_connection_refused():
    port = free_ports(1)[0]
    client = mosmu_fuel.FuelClient(f"http://127.0.0.1:{port}", "a", PASSWORD, timeout=5,
                                   backoff=0)
    _fails(client, "connection refused (3 tries)")
    assert client.requests_made == 3


def test_name_resolution_failure(monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "fuel.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    client = mosmu_fuel.FuelClient("http://fuel.invalid:8000", "a", PASSWORD, backoff=0)
    text = _fails(client, "cannot resolve the host name of Nailgun")
    assert "mosmu:fuel_url" in text and client.requests_made == 1


def test_server_down_mid_connection(api):
    api["state"].set_fault({"mode": "down"})
    client = _wire(api)
    _fails(client, "connection reset, 3 tries")
    assert client.requests_made == 3


def test_http_500_is_not_retried(api):
    api["state"].set_fault({"mode": "500"})
    client = _wire(api)
    _fails(client, "answered HTTP 500")
    assert client.requests_made == 1


def test_502_then_ok_is_retried(api):
    api["state"].set_fault({"mode": "502", "times": 2})
    client = _wire(api)
    assert client.inventory()["version"]["release"] == "8.0"
    assert client.requests_made == 7


def test_503_forever_fails_after_bounded_retries(api):
    api["state"].set_fault({"mode": "503"})
    client = _wire(api)
    _fails(client, "answered HTTP 503 (server error) after 3 tries")
    assert client.requests_made == 3


def test_slow_answer_times_out(api):
    api["state"].set_fault({"mode": "slow", "delay": 3})
    _fails(_wire(api, timeout=1), "did not answer within 1 s")


def test_slow_drip_is_cut_at_the_overall_deadline(api):
    api["state"].set_fault({"mode": "drip", "chunk": 64, "delay": 0.05, "path": "nodes"})
    client = _wire(api, timeout=1)
    _fails(client, "did not finish answering within 1 s (body too slow)")


def test_truncated_body(api):
    api["state"].set_fault({"mode": "truncated", "path": "nodes"})
    client = _wire(api)
    _fails(client, "cut its answer off before the end (3 tries)")


def test_html_page_means_wrong_url(api):
    api["state"].set_fault({"mode": "html"})
    _fails(_wire(api), "with an HTML page, not JSON")


def test_404_means_wrong_url(api):
    text = _fails(_wire(api, fuel_url=api["fuel"] + "/ui"), "HTTP 404 (not found)")
    assert "mosmu:fuel_url does not point at the Nailgun API" in text


def test_keystone_404_names_keystone_url(api):
    text = _fails(_wire(api, keystone_url=api["keystone"] + "/x"), "HTTP 404")
    assert "mosmu:keystone_url" in text


def test_malformed_json(api):
    api["state"].set_fault({"mode": "malformed"})
    _fails(_wire(api), "returned malformed JSON")


@pytest.mark.parametrize("fault, words", [
    ({"mode": "types"}, "wrong shape (list, not an object)"),
    ({"mode": "types", "path": "nodes"}, "wrong shape (dict, not a list of objects)"),
])
def test_json_of_the_wrong_shape(api, fault, words):
    api["state"].set_fault(fault)
    _fails(_wire(api), words)


def test_401_once_reauthenticates(api):
    api["state"].set_fault({"mode": "401", "times": 1})
    before = len(api["state"].tokens)
    data = _wire(api).inventory()
    assert len(data["nodes"]) == 3
    assert len(api["state"].tokens) == before + 2


def test_expired_token_reauthenticates(api):
    client = _wire(api)
    client.inventory()
    api["state"].set_fault({"mode": "expire", "times": 1})
    assert len(client.get("/api/v1/nodes/")) == 3


def test_token_refused_even_after_reauthentication(api):
    api["state"].set_fault({"mode": "401"})
    client = _wire(api)
    _fails(client, "refused a fresh Keystone token (HTTP 401)")
    assert client.requests_made == 5  # version, token, nodes, token again, nodes again


@pytest.mark.parametrize("announce", [True, False])
def test_oversized_answer_is_refused(api, announce):
    api["state"].set_fault({"mode": "oversized", "size": 3 * 1024 * 1024, "announce": announce,
                            "path": "nodes"})
    words = "announced a 3145728-byte answer" if announce else "sent more than 1048576 bytes"
    _fails(_wire(api, max_bytes=1024 * 1024), words)


def test_deeply_nested_json_is_refused_cleanly(api):
    api["state"].set_fault({"mode": "nested", "depth": 200000, "path": "nodes"})
    _fails(_wire(api), "nested too deeply to read")


def test_nesting_over_the_limit_is_refused(api):
    api["state"].set_fault({"mode": "nested", "depth": 40, "path": "nodes"})
    _fails(_wire(api), "nested deeper than 32 levels")


def test_no_token_when_auth_is_not_required(api):
    data = inv.default(2)
    data["version"]["auth_required"] = False
    original = api["path"].read_text()
    api["path"].write_text(json.dumps(data))
    stat = os.stat(api["path"])
    os.utime(api["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        client = _wire(api, password="not-even-checked")
        assert len(client.inventory()["nodes"]) == 2  # inventory re-read after the change
        assert client.requests_made == 4  # no token request
    finally:
        api["path"].write_text(original)
        stat = os.stat(api["path"])
        os.utime(api["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert len(_wire(api).inventory()["nodes"]) == 3


def test_fault_file_beside_the_inventory_is_read_per_request(api):
    fault = api["path"].parent / "fault.json"
    fault.write_text(json.dumps({"mode": "503"}))
    try:
        _fails(_wire(api), "HTTP 503")
    finally:
        fault.unlink()
    assert _wire(api).version()["release"] == "8.0"


def test_missing_ca_bundle_names_verify_tls(tmp_path):
    with pytest.raises(FuelError, match="mosmu:verify_tls names CA bundle"):
        mosmu_fuel.FuelClient("https://127.0.0.1:1", "a", PASSWORD,
                              verify_tls=str(tmp_path / "ca.pem"))


def test_tls_verification_is_on_by_default():
    client = mosmu_fuel.FuelClient("https://127.0.0.1:1", "a", PASSWORD)
    assert client._session.verify is True  # pylint: disable=protected-access


def test_default_keystone_url():
    assert mosmu_fuel.default_keystone_url("http://10.20.0.2:8000") == "http://10.20.0.2:5000/v2.0"


@pytest.mark.parametrize("mode", ["502", "503", "504"])
def test_gateway_errors_are_retried_three_times_on_the_wire(api, mode):
    api["state"].set_fault({"mode": mode})
    client = _wire(api)
    assert f"HTTP {mode} (server error) after 3 tries" in str(_error(client.version))
    assert client.requests_made == 3


@pytest.mark.parametrize("fault, password", [
    (None, "wrong-" + PASSWORD), ({"mode": "500"}, PASSWORD), ({"mode": "html"}, PASSWORD),
    ({"mode": "malformed"}, PASSWORD), ({"mode": "down"}, PASSWORD),
    ({"mode": "401"}, PASSWORD), ({"mode": "truncated", "path": "nodes"}, PASSWORD),
])
def test_the_password_is_never_in_a_message_or_a_log_record(api, caplog, fault, password):
    caplog.set_level(logging.DEBUG)
    api["state"].set_fault(fault)
    err = _error(_wire(api, password=password).inventory)
    assert password not in str(err) and PASSWORD not in repr(err.args)
    for record in caplog.records:
        assert PASSWORD not in record.getMessage() and password not in record.getMessage()


def test_a_slow_answer_is_cut_at_a_small_timeout(api):
    api["state"].set_fault({"mode": "slow", "delay": 0.6, "path": "version"})
    client = _wire(api, timeout=0.2)
    assert "did not answer within 0.2 s" in str(_error(client.version))
    assert client.requests_made == 1


def test_nodes_arrive_without_meta_and_network_data_other_collections_whole(api):
    data, client = inv.default(3), _wire(api)
    got = client.inventory()
    assert len(got["nodes"]) == 3
    for raw, node in zip(json.loads(json.dumps(data["nodes"])), got["nodes"]):
        assert raw["meta"] and raw["network_data"]              # there was something to drop
        assert node == dict(raw, meta=None, network_data=None)
    sent = json.loads(json.dumps(data))                         # as it travels
    assert got["clusters"] == sent["clusters"]
    assert sorted(got["releases"], key=lambda r: r["id"]) == sent["releases"]  # untrimmed
    assert client.get("/api/v1/nodes/") == sent["nodes"]        # get() without trim: whole


# --- the streaming decoder: any chunking gives what json.loads gives (properties) ---------

def _decode(body, cuts, trim=(), max_depth=mosmu_fuel.MAX_DEPTH):
    """Feed ``body`` split at ``cuts``; the list, or the raw bytes for the whole-body path."""
    dec = mosmu_fuel._Collection(trim=trim, max_depth=max_depth)
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        dec.feed(body[start:cut])
        start = cut
    out = dec.close()
    return out if out is not None else ("raw", bytes(dec.raw))


def _kind(body, cuts, **kw):
    with pytest.raises(mosmu_fuel._BadJSON) as err:
        _decode(body, cuts, **kw)
    return err.value.kind


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)
OBJECTS = st.lists(st.dictionaries(st.sampled_from(["id", "meta", "ip", "é", "x y"]),
                                   JSON_VALUES, max_size=5), max_size=6)


@settings(max_examples=300, deadline=None)
@given(OBJECTS, st.lists(st.integers(0, 4000), max_size=12), st.sampled_from(["", " ", "\n  "]))
def test_any_chunking_gives_what_json_loads_gives(objects, cuts, blank):
    body = (blank + json.dumps(objects, indent=1 if blank else None) + blank).encode()
    cuts = [c % (len(body) + 1) for c in cuts]
    expected = json.loads(body)
    for obj in expected:
        if "meta" in obj:
            obj["meta"] = None
    assert _decode(body, cuts, trim=("meta",)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(JSON_VALUES, min_size=1, max_size=5), st.lists(st.integers(0, 400), max_size=8))
def test_a_list_of_other_values_is_the_wrong_shape_or_decodes(values, cuts):
    body = json.dumps(values).encode()
    cuts = [c % (len(body) + 1) for c in cuts]
    if all(isinstance(v, dict) for v in values):
        assert _decode(body, cuts) == values
    else:
        assert _kind(body, cuts) == "shape"


def test_a_number_cut_between_chunks_is_not_taken_early():
    """``[12`` then ``3]`` must not decode as 12 followed by garbage."""
    assert _kind(b"[123]", [3]) == "shape"          # decoded whole: a list of numbers
    assert _decode(b'[{"id": 123}]', [9, 10]) == [{"id": 123}]


@pytest.mark.parametrize("body", [
    b'[{"a": 1},]', b'[{"a": 1} {"b": 2}]', b'[{"a": 1}] x', b'[{"a": 1}', b'[{"a": tru}]',
    b'[{"a": "\xff"}]', b'[{"a": "\xc3"}]', b'[,]', b'[ ',
])
def test_malformed_bodies_are_refused_at_any_chunking(body):
    for cut in range(len(body) + 1):
        assert _kind(body, [cut]) == "malformed", (body, cut)
    with pytest.raises(ValueError):
        json.loads(body)


@pytest.mark.parametrize("body", [b"", b"  ", b"[", b'{"nodes": []}', b"<html></html>",
                                  b'\xef\xbb\xbf[{"a": 1}]', '[{"a": 1}]'.encode("utf-16-le"),
                                  '[{"a": 1}]'.encode("utf-16")])
def test_bodies_not_starting_with_a_utf8_bracket_go_to_the_whole_body_path(body):
    assert _decode(body, [1]) == ("raw", body)


def test_depth_limit_applies_to_what_is_kept():
    deep = {"a": [[[[1]]]]}                                     # depth 5 inside the list
    body = json.dumps([deep]).encode()
    assert _decode(body, [], max_depth=6) == [deep]
    assert _kind(body, [], max_depth=5) == "depth"
    trimmed = json.dumps([{"meta": deep, "id": 1}]).encode()    # the deep part is dropped
    assert _decode(trimmed, [], trim=("meta",), max_depth=3) == [{"meta": None, "id": 1}]
    assert _kind(b"[" * 3000 + b"]" * 3000, [7]) == "recursion"


def test_a_large_element_in_small_chunks_is_decoded_once_complete():
    big = [{"id": 1, "blob": "x" * 200000, "meta": {"k": list(range(5000))}}]
    body = json.dumps(big).encode()
    out = _decode(body, list(range(0, len(body), 997)), trim=("meta",))
    assert out == [{"id": 1, "blob": "x" * 200000, "meta": None}]
