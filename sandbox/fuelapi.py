"""A Keystone v2.0 + Nailgun API stand-in, fed by an inventory JSON file.

Serves on 127.0.0.1 only, two ports like a Fuel master (Keystone :5000, Nailgun :8000):

* ``POST /v2.0/tokens`` (Keystone port) and ``POST /keystone/v2.0/tokens`` (Nailgun port,
  as Fuel's nginx proxies it): tenant/user/password checked, 401 otherwise;
* ``GET /api[/v1]/version`` (public, ``auth_required: true``);
* ``GET /api[/v1]/nodes/[?cluster_id=N]`` (empty ``cluster_id=`` -> unassigned nodes),
  ``/clusters/``, ``/releases/`` and ``/<collection>/<id>/``: token in ``X-Auth-Token``.

Run: ``python -m sandbox.fuelapi --inventory F --credentials F --keystone-port P
--nailgun-port P``. The credentials file is read once; the password is never logged.
"""

import argparse
import datetime
import json
import logging
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("mosmu.sandbox.fuelapi")

COLLECTION = re.compile(r"^/api(?:/v1)?/(nodes|clusters|releases)/?(?:(\d+)/?)?$")
VERSION = re.compile(r"^/api(?:/v1)?/version/?$")
TOKENS = re.compile(r"^(?:/keystone)?/v2\.0/tokens/?$")


class FuelState:
    """Inventory, credentials and issued tokens shared by both listeners."""

    def __init__(self, inventory, credentials):
        self.inventory = inventory
        self.credentials = credentials
        self.tokens = set()
        self.lock = threading.Lock()

    def issue(self, body):
        try:
            auth = body["auth"]
            pwd = auth["passwordCredentials"]
            given = (auth.get("tenantName"), pwd["username"], pwd["password"])
        except (KeyError, TypeError):
            return None
        want = (self.credentials["tenant"], self.credentials["username"],
                self.credentials["password"])
        if not all(secrets.compare_digest(str(a), str(b)) for a, b in zip(given, want)):
            return None
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens.add(token)
        return token


class Handler(BaseHTTPRequestHandler):
    state = None  # set per server class
    server_version = "nginx"

    def log_message(self, fmt, *args):  # noqa: N802 - http.server API
        log.info("%s %s", self.address_string(), fmt % args)

    def _send(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _unauthorized(self, message):
        self._send(401, {"error": {"code": 401, "title": "Unauthorized", "message": message}})

    def do_POST(self):  # noqa: N802 - http.server API
        path = urlsplit(self.path).path
        if not TOKENS.match(path):
            self._send(404, {"message": f"{path} not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": {"code": 400, "title": "Bad Request",
                                       "message": "Expecting to find valid JSON"}})
            return
        token = self.state.issue(body)
        if token is None:
            self._unauthorized("Invalid user / password")
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        creds = self.state.credentials
        self._send(200, {"access": {
            "token": {"id": token, "issued_at": now.isoformat(),
                      "expires": (now + datetime.timedelta(hours=24)).strftime(
                          "%Y-%m-%dT%H:%M:%SZ"),
                      "tenant": {"id": "admin-tenant", "name": creds["tenant"],
                                 "enabled": True, "description": None}},
            "serviceCatalog": [],
            "user": {"id": "admin-user", "name": creds["username"], "username":
                     creds["username"], "roles": [{"name": "admin"}], "roles_links": []},
            "metadata": {"is_admin": 0, "roles": ["admin"]}}})

    def do_GET(self):  # noqa: N802 - http.server API
        url = urlsplit(self.path)
        inv = self.state.inventory
        if VERSION.match(url.path):
            self._send(200, inv["version"])
            return
        match = COLLECTION.match(url.path)
        if not match:
            self._send(404, {"message": f"{url.path} not found"})
            return
        if self.headers.get("X-Auth-Token") not in self.state.tokens:
            self._unauthorized("The request you have made requires authentication.")
            return
        name, item = match.group(1), match.group(2)
        objects = inv[name]
        if item is not None:
            found = [o for o in objects if o["id"] == int(item)]
            if found:
                self._send(200, found[0])
            else:
                self._send(404, {"message": f"{name[:-1].capitalize()} with id {item} "
                                            "not found"})
            return
        query = parse_qs(url.query, keep_blank_values=True)
        if name == "nodes" and "cluster_id" in query:
            wanted = query["cluster_id"][0]
            objects = [o for o in objects
                       if (o["cluster"] is None if wanted == "" else
                           str(o["cluster"]) == wanted)]
        if name == "releases":
            objects = sorted(objects, key=lambda r: r["id"], reverse=True)
        self._send(200, objects)


def serve(inventory, credentials, keystone_port, nailgun_port):
    """Start both listeners on 127.0.0.1; return the two servers (already serving)."""
    state = FuelState(inventory, credentials)
    handler = type("BoundHandler", (Handler,), {"state": state})
    servers = [ThreadingHTTPServer(("127.0.0.1", port), handler)
               for port in (keystone_port, nailgun_port)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--keystone-port", type=int, required=True)
    parser.add_argument("--nailgun-port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with open(args.inventory, encoding="utf-8") as handle:
        inventory = json.load(handle)
    with open(args.credentials, encoding="utf-8") as handle:
        credentials = json.load(handle)
    servers = serve(inventory, credentials, args.keystone_port, args.nailgun_port)
    log.info("Keystone on 127.0.0.1:%s, Nailgun on 127.0.0.1:%s", *(s.server_port for s in servers))
    threading.Event().wait()


if __name__ == "__main__":
    main()
