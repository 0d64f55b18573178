"""FuelClient against the sandbox's real Keystone/Nailgun HTTP server (in-process)."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mosmu_fuel
from mosmu_errors import FuelError
from sandbox import fuelapi
from sandbox import inventory as inv
from sandbox.stack import free_ports

CREDS = {"tenant": "admin", "username": "admin", "password": "s3cret"}


@pytest.fixture(scope="module")
def api():
    keystone, nailgun = free_ports(2)
    servers = fuelapi.serve(inv.default(3), CREDS, keystone, nailgun)
    yield f"http://127.0.0.1:{nailgun}", f"http://127.0.0.1:{keystone}/v2.0"
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(api, **kw):
    fuel, keystone = api
    args = dict(username="admin", password="s3cret", tenant="admin", keystone_url=keystone,
                timeout=5)
    args.update(kw)
    return mosmu_fuel.FuelClient(fuel, **args)


def test_inventory_has_nailgun_field_sets(api):
    data = _client(api).inventory()
    assert data["version"]["auth_required"] is True and data["version"]["release"] == "8.0"
    assert len(data["nodes"]) == 3
    assert set(data["nodes"][0]) == set(inv.NODE_FIELDS)
    assert set(data["clusters"][0]) == set(inv.CLUSTER_FIELDS)
    assert {r["name"] for r in data["releases"]} == {"Liberty on CentOS 6.5",
                                                   "Liberty on Ubuntu 14.04"}


def test_collections_need_a_token(api):
    import requests  # pylint: disable=import-outside-toplevel
    assert requests.get(f"{api[0]}/api/v1/nodes/", timeout=5).status_code == 401
    assert requests.get(f"{api[0]}/api/v1/version", timeout=5).status_code == 200


def test_cluster_id_filter(api):
    client = _client(api)
    assert len(client.get("/api/v1/nodes/", params={"cluster_id": 1})) == 3
    assert client.get("/api/v1/nodes/", params={"cluster_id": ""}) == []


def test_wrong_password_names_the_config_keys_not_the_password(api):
    with pytest.raises(FuelError) as err:
        _client(api, password="wrong-one").inventory()
    assert "HTTP 401" in str(err.value) and "mosmu:password" in str(err.value)
    assert "wrong-one" not in str(err.value)


def test_unreachable_nailgun():
    port = free_ports(1)[0]
    client = mosmu_fuel.FuelClient(f"http://127.0.0.1:{port}", "a", "b", timeout=2)
    with pytest.raises(FuelError, match="cannot connect to Nailgun"):
        client.inventory()


def test_default_keystone_url():
    assert mosmu_fuel.default_keystone_url("http://10.20.0.2:8000") == "http://10.20.0.2:5000/v2.0"


class _Liar(BaseHTTPRequestHandler):
    """Answers every request with HTTP 200 and a body that is not Nailgun's."""

    def do_GET(self):  # noqa: N802
        body = b'{"nodes": "not a list"}' if "nodes" in self.path else b"<html>nginx</html>"
        if "version" in self.path:
            body = b'{"auth_required": false}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_api_returning_nonsense_is_named():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = mosmu_fuel.FuelClient(f"http://127.0.0.1:{server.server_port}", "a", "b")
        with pytest.raises(FuelError, match="not a list of objects"):
            client.inventory()
    finally:
        server.shutdown()
        server.server_close()
