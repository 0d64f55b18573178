"""FuelClient against the sandbox's real Keystone/Nailgun HTTP server (in-process, 127.0.0.1),
with every fault mode the server offers: each failure is one distinct line, the password never
shows, retries and re-authentication are bounded."""

import json
import logging
import os
import socket

import pytest
import requests

import mosmu_fuel
from mosmu_errors import FuelError
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.procs import free_ports

PASSWORD = "s3cret-Pw"
CREDS = {"tenant": "admin", "username": "admin", "password": PASSWORD}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuel") / "inventory.json"
    path.write_text(json.dumps(inv.default(3)))
    keystone, nailgun = free_ports(2)
    servers = fuelapi.serve(None, CREDS, keystone, nailgun, inventory_path=str(path))
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


def _client(api, **kw):
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
    data = _client(api).inventory()
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
    client = _client(api)
    assert len(client.get("/api/v1/nodes/", params={"cluster_id": 1})) == 3
    assert client.get("/api/v1/nodes/", params={"cluster_id": ""}) == []


def test_one_session_and_one_token_for_the_whole_inventory(api):
    client = _client(api)
    before = len(api["state"].tokens)
    client.inventory()
    assert client.requests_made == 5  # version, token, nodes, clusters, releases
    assert len(api["state"].tokens) == before + 1


def test_wrong_password_names_the_config_keys_not_the_password(api, caplog):
    caplog.set_level(logging.DEBUG)
    text = _fails(_client(api, password="wrong-one"), "HTTP 401")
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
        assert _client(api).inventory()["version"]["release"] == release
    finally:
        api["path"].write_text(original)
    assert "\x1b" not in caplog.text and "\u202e" not in caplog.text
    assert "release 8.0\\x1b]0;pwned\\x07\\x1b[2J\\u202e," in caplog.text


def test_password_never_logged_on_success(api, caplog):
    caplog.set_level(logging.DEBUG)
    api["state"].set_fault({"mode": "401", "times": 1})
    _client(api).inventory()
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
    client = _client(api)
    _fails(client, "connection reset, 3 tries")
    assert client.requests_made == 3


def test_http_500_is_not_retried(api):
    api["state"].set_fault({"mode": "500"})
    client = _client(api)
    _fails(client, "answered HTTP 500")
    assert client.requests_made == 1


def test_502_then_ok_is_retried(api):
    api["state"].set_fault({"mode": "502", "times": 2})
    client = _client(api)
    assert client.inventory()["version"]["release"] == "8.0"
    assert client.requests_made == 7


def test_503_forever_fails_after_bounded_retries(api):
    api["state"].set_fault({"mode": "503"})
    client = _client(api)
    _fails(client, "answered HTTP 503 (server error) after 3 tries")
    assert client.requests_made == 3


def test_slow_answer_times_out(api):
    api["state"].set_fault({"mode": "slow", "delay": 3})
    _fails(_client(api, timeout=1), "did not answer within 1 s")


def test_slow_drip_is_cut_at_the_overall_deadline(api):
    api["state"].set_fault({"mode": "drip", "chunk": 64, "delay": 0.05, "path": "nodes"})
    client = _client(api, timeout=1)
    _fails(client, "did not finish answering within 1 s (body too slow)")


def test_truncated_body(api):
    api["state"].set_fault({"mode": "truncated", "path": "nodes"})
    client = _client(api)
    _fails(client, "cut its answer off before the end (3 tries)")


def test_html_page_means_wrong_url(api):
    api["state"].set_fault({"mode": "html"})
    _fails(_client(api), "with an HTML page, not JSON")


def test_404_means_wrong_url(api):
    text = _fails(_client(api, fuel_url=api["fuel"] + "/ui"), "HTTP 404 (not found)")
    assert "mosmu:fuel_url does not point at the Nailgun API" in text


def test_keystone_404_names_keystone_url(api):
    text = _fails(_client(api, keystone_url=api["keystone"] + "/x"), "HTTP 404")
    assert "mosmu:keystone_url" in text


def test_malformed_json(api):
    api["state"].set_fault({"mode": "malformed"})
    _fails(_client(api), "returned malformed JSON")


@pytest.mark.parametrize("fault, words", [
    ({"mode": "types"}, "wrong shape (list, not an object)"),
    ({"mode": "types", "path": "nodes"}, "wrong shape (dict, not a list of objects)"),
])
def test_json_of_the_wrong_shape(api, fault, words):
    api["state"].set_fault(fault)
    _fails(_client(api), words)


def test_401_once_reauthenticates(api):
    api["state"].set_fault({"mode": "401", "times": 1})
    before = len(api["state"].tokens)
    data = _client(api).inventory()
    assert len(data["nodes"]) == 3
    assert len(api["state"].tokens) == before + 2


def test_expired_token_reauthenticates(api):
    client = _client(api)
    client.inventory()
    api["state"].set_fault({"mode": "expire", "times": 1})
    assert len(client.get("/api/v1/nodes/")) == 3


def test_token_refused_even_after_reauthentication(api):
    api["state"].set_fault({"mode": "401"})
    client = _client(api)
    _fails(client, "refused a fresh Keystone token (HTTP 401)")
    assert client.requests_made == 5  # version, token, nodes, token again, nodes again


@pytest.mark.parametrize("announce", [True, False])
def test_oversized_answer_is_refused(api, announce):
    api["state"].set_fault({"mode": "oversized", "size": 3 * 1024 * 1024, "announce": announce,
                            "path": "nodes"})
    words = "announced a 3145728-byte answer" if announce else "sent more than 1048576 bytes"
    _fails(_client(api, max_bytes=1024 * 1024), words)


def test_deeply_nested_json_is_refused_cleanly(api):
    api["state"].set_fault({"mode": "nested", "depth": 200000, "path": "nodes"})
    _fails(_client(api), "nested too deeply to read")


def test_nesting_over_the_limit_is_refused(api):
    api["state"].set_fault({"mode": "nested", "depth": 40, "path": "nodes"})
    _fails(_client(api), "nested deeper than 32 levels")


def test_no_token_when_auth_is_not_required(api):
    data = inv.default(2)
    data["version"]["auth_required"] = False
    original = api["path"].read_text()
    api["path"].write_text(json.dumps(data))
    stat = os.stat(api["path"])
    os.utime(api["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        client = _client(api, password="not-even-checked")
        assert len(client.inventory()["nodes"]) == 2  # inventory re-read after the change
        assert client.requests_made == 4  # no token request
    finally:
        api["path"].write_text(original)
        stat = os.stat(api["path"])
        os.utime(api["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert len(_client(api).inventory()["nodes"]) == 3


def test_fault_file_beside_the_inventory_is_read_per_request(api):
    fault = api["path"].parent / "fault.json"
    fault.write_text(json.dumps({"mode": "503"}))
    try:
        _fails(_client(api), "HTTP 503")
    finally:
        fault.unlink()
    assert _client(api).version()["release"] == "8.0"


def test_missing_ca_bundle_names_verify_tls(tmp_path):
    with pytest.raises(FuelError, match="mosmu:verify_tls names CA bundle"):
        mosmu_fuel.FuelClient("https://127.0.0.1:1", "a", PASSWORD,
                              verify_tls=str(tmp_path / "ca.pem"))


def test_tls_verification_is_on_by_default():
    client = mosmu_fuel.FuelClient("https://127.0.0.1:1", "a", PASSWORD)
    assert client._session.verify is True  # pylint: disable=protected-access


def test_default_keystone_url():
    assert mosmu_fuel.default_keystone_url("http://10.20.0.2:8000") == "http://10.20.0.2:5000/v2.0"
