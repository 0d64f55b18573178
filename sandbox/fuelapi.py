"""A Keystone v2.0 + Nailgun API stand-in, fed by an inventory JSON file.

Serves on 127.0.0.1 only, two ports like a Fuel master (Keystone :5000, Nailgun :8000):

* ``POST /v2.0/tokens`` (Keystone port) and ``POST /keystone/v2.0/tokens`` (Nailgun port,
  as Fuel's nginx proxies it): tenant/user/password checked, 401 otherwise;
* ``GET /api[/v1]/version`` (public; ``auth_required`` as the inventory's ``version`` says);
* ``GET /api[/v1]/nodes/[?cluster_id=N]`` (empty ``cluster_id=`` -> unassigned nodes),
  ``/clusters/``, ``/releases/`` and ``/<collection>/<id>/``: token in ``X-Auth-Token``
  unless ``auth_required`` is false.

The inventory file is re-read when its mtime changes. A fault mode can be set at run time
with ``fault.json`` beside the inventory (re-read on every request; delete it to heal), or
``--fault '{"mode": ...}'``, or in-process with ``FuelState.set_fault``. A fault is
``{"mode": M, "times": N (optional: only the next N matching requests), "path": regex
(optional: only matching paths), ...}``; modes (see :data:`FAULTS`): ``down`` (close the
socket), ``500``, ``502`` / ``503`` / ``504`` (with ``times`` = N-then-ok), ``slow``
(``delay`` s before answering), ``truncated`` (half the announced body), ``html``,
``401`` (token refused; ``times: 1`` = once), ``expire`` (every issued token expires now),
``oversized`` (``size`` bytes, ``announce`` Content-Length or not), ``nested`` (``depth``
levels of JSON arrays), ``drip`` (``chunk`` bytes every ``delay`` s), ``types`` (JSON of the
wrong type: an object where a list belongs, a list where an object belongs), ``malformed``
(a complete answer that is not JSON).

Run: ``python -m sandbox.fuelapi --inventory F --credentials F --keystone-port P
--nailgun-port P [--fault JSON]``. The credentials file is read once; the password is never
logged.
"""

import argparse
import datetime
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("mosmu.sandbox.fuelapi")

COLLECTION = re.compile(r"^/api(?:/v1)?/(nodes|clusters|releases)/?(?:(\d+)/?)?$")
VERSION = re.compile(r"^/api(?:/v1)?/version/?$")
TOKENS = re.compile(r"^(?:/keystone)?/v2\.0/tokens/?$")
FAULTS = ("down", "500", "502", "503", "504", "slow", "truncated", "html", "401", "expire",
          "oversized", "nested", "drip", "types", "malformed")
HTML = (b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>"
        b"<body><h1>Welcome to nginx!</h1></body></html>\n")


class FuelState:
    """Inventory, credentials, issued tokens and the fault mode shared by both listeners.

    :param inventory: the inventory dict, or None to load it from ``inventory_path``
    :param inventory_path: re-read when its mtime changes (optional)
    :param fault_path: a fault JSON file re-read per request (optional)
    """

    def __init__(self, inventory, credentials, inventory_path=None, fault_path=None):
        self.credentials = credentials
        self.tokens = set()
        self.lock = threading.Lock()
        self.inventory_path = inventory_path
        self.fault_path = fault_path
        self._inventory = inventory
        self._stamp = None
        self._fault = None
        self._fault_stamp = None
        self._fault_used = 0
        self.encoded = {}          # (collection, query, inventory stamp) -> encoded body
        if inventory is None:
            self._inventory = self.inventory  # load now: fail early

    @property
    def inventory(self):
        """The current inventory; re-read from ``inventory_path`` when the file changed."""
        if self.inventory_path is None:
            return self._inventory
        stat = os.stat(self.inventory_path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self.lock:
            if stamp != self._stamp:
                try:
                    with open(self.inventory_path, encoding="utf-8") as handle:
                        self._inventory = json.load(handle)
                    self._stamp = stamp
                    log.info("inventory re-read from %s", self.inventory_path)
                except ValueError:
                    if self._inventory is None:
                        raise
                    log.warning("inventory %s is not valid JSON (being written?); keeping "
                                "the previous one", self.inventory_path)
            return self._inventory

    def set_fault(self, fault):
        """Set (or clear with None) the fault mode in-process."""
        if fault is not None and fault.get("mode") not in FAULTS:
            raise ValueError(f"unknown fault mode {fault.get('mode')!r}; one of {FAULTS}")
        with self.lock:
            self._fault, self._fault_used = fault, 0

    def _file_fault(self):
        try:
            stat = os.stat(self.fault_path)
        except FileNotFoundError:
            if self._fault_stamp is not None:
                self._fault_stamp = None
                self.set_fault(None)
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._fault_stamp:
            with open(self.fault_path, encoding="utf-8") as handle:
                fault = json.load(handle)
            self.set_fault(fault or None)
            self._fault_stamp = stamp

    def fault_for(self, path):
        """The fault that applies to this request (counting ``times``), or None."""
        if self.fault_path:
            self._file_fault()
        with self.lock:
            fault = self._fault
            default = COLLECTION.pattern if fault and fault.get("mode") in ("401", "expire") \
                else ""
            if fault is None or not re.search(fault.get("path", default), path):
                return None
            if fault.get("times") is not None:
                if self._fault_used >= fault["times"]:
                    return None
                self._fault_used += 1
            return fault

    def issue(self, body):
        """A new token for valid credentials, else None."""
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
    """Keystone and Nailgun routes, with the current fault applied first."""

    state = None  # set per server class
    server_version = "nginx"

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)

    def _send_bytes(self, code, body, ctype="application/json", fault=None):
        mode = (fault or {}).get("mode")
        if mode == "slow":
            time.sleep(float(fault.get("delay", 2)))
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if mode == "oversized" and not fault.get("announce", True):
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncated":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "drip":
            step = int(fault.get("chunk", 16))
            try:
                for start in range(0, len(body), step):
                    self.wfile.write(body[start:start + step])
                    self.wfile.flush()
                    time.sleep(float(fault.get("delay", 0.2)))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up: that is the point
            return
        self.wfile.write(body)

    def _send(self, code, payload, fault=None):
        self._send_bytes(code, json.dumps(payload).encode(), fault=fault)

    def _unauthorized(self, message):
        self._send(401, {"error": {"code": 401, "title": "Unauthorized", "message": message}})

    def _fault(self, path):
        """Apply a fault that replaces the answer; return the fault (or None) otherwise."""
        fault = self.state.fault_for(path)
        mode = (fault or {}).get("mode")
        if mode is None:
            return None, False
        if mode == "down":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return fault, True
        if mode in ("500", "502", "503", "504"):
            self._send(int(mode), {"message": "Internal Server Error" if mode == "500"
                                   else "Bad Gateway"})
            return fault, True
        if mode == "html":
            self._send_bytes(200, HTML, ctype="text/html")
            return fault, True
        if mode == "oversized":
            size = int(fault.get("size", 80 * 1024 * 1024))
            self._send_bytes(200, b"[" + b" " * (size - 2) + b"]", fault=fault)
            return fault, True
        if mode == "malformed":
            self._send_bytes(200, b'{"release": "8.0", "auth_required": tru')
            return fault, True
        if mode == "nested":
            depth = int(fault.get("depth", 100000))
            self._send_bytes(200, b"[" * depth + b"]" * depth)
            return fault, True
        return fault, False

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length <= 1 << 20 else b""
        fault, done = self._fault(path)
        if done:
            return
        if not TOKENS.match(path):
            self._send(404, {"message": f"{path} not found"})
            return
        try:
            body = json.loads(raw or b"{}")
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
            "metadata": {"is_admin": 0, "roles": ["admin"]}}}, fault=fault)

    def do_GET(self):
        url = urlsplit(self.path)
        fault, done = self._fault(url.path)
        if done:
            return
        mode = (fault or {}).get("mode")
        inv = self.state.inventory
        if VERSION.match(url.path):
            self._send(200, [inv["version"]] if mode == "types" else inv["version"], fault)
            return
        match = COLLECTION.match(url.path)
        if not match:
            self._send(404, {"message": f"{url.path} not found"})
            return
        if inv["version"].get("auth_required", True) is not False:
            if mode == "expire":
                with self.state.lock:
                    self.state.tokens.clear()
            if mode == "401" or self.headers.get("X-Auth-Token") not in self.state.tokens:
                self._unauthorized("The request you have made requires authentication.")
                return
        name, item = match.group(1), match.group(2)
        objects = inv[name]
        if item is not None:
            found = [o for o in objects if o.get("id") == int(item)]
            if found:
                self._send(200, found[0], fault)
            else:
                self._send(404, {"message": f"{name[:-1].capitalize()} with id {item} "
                                            "not found"})
            return
        query = parse_qs(url.query, keep_blank_values=True)
        if name == "nodes" and "cluster_id" in query:
            wanted = query["cluster_id"][0]
            objects = [o for o in objects
                       if (o.get("cluster") is None if wanted == "" else
                           str(o.get("cluster")) == wanted)]
        if name == "releases":
            objects = sorted(objects, key=lambda r: str(r.get("id")), reverse=True)
        if mode == "types":
            self._send(200, {name: objects}, fault)
            return
        # A whole collection is encoded once per inventory version: a real Nailgun answers a
        # 10,000-node list in a moment, and the benchmarks must not measure this stand-in.
        with self.state.lock:
            version = self.state._stamp  # pylint: disable=protected-access
            key = (name, url.query, version)
            body = self.state.encoded.get(key)
            if body is None:
                body = json.dumps(objects).encode()
                self.state.encoded = {k: v for k, v in self.state.encoded.items()
                                      if k[2] == version}
                self.state.encoded[key] = body
        self._send_bytes(200, body, fault=fault)


def serve(inventory, credentials, keystone_port, nailgun_port, inventory_path=None,
          fault_path=None, fault=None):
    """Start both listeners on 127.0.0.1; return the two servers (already serving).

    :param inventory: inventory dict, or None with ``inventory_path``
    :param inventory_path: inventory JSON file, re-read when it changes
    :param fault_path: fault JSON file re-read per request (default: ``fault.json`` beside
        ``inventory_path``, when that is given)
    :param fault: initial fault dict, or None
    Each server has ``fuel_state`` (the shared :class:`FuelState`).
    """
    if fault_path is None and inventory_path is not None:
        fault_path = os.path.join(os.path.dirname(os.path.abspath(inventory_path)),
                                  "fault.json")
    state = FuelState(inventory, credentials, inventory_path, fault_path)
    state.set_fault(fault)
    handler = type("BoundHandler", (Handler,), {"state": state})
    servers = [ThreadingHTTPServer(("127.0.0.1", port), handler)
               for port in (keystone_port, nailgun_port)]
    for server in servers:
        server.daemon_threads = True
        server.fuel_state = state
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers


def main(argv=None):
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--keystone-port", type=int, required=True)
    parser.add_argument("--nailgun-port", type=int, required=True)
    parser.add_argument("--fault", help="initial fault mode as JSON, e.g. '{\"mode\": \"502\", "
                                        "\"times\": 2}'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with open(args.credentials, encoding="utf-8") as handle:
        credentials = json.load(handle)
    servers = serve(None, credentials, args.keystone_port, args.nailgun_port,
                    inventory_path=args.inventory,
                    fault=json.loads(args.fault) if args.fault else None)
    log.info("Keystone on 127.0.0.1:%s, Nailgun on 127.0.0.1:%s", *(s.server_port for s in servers))
    threading.Event().wait()


if __name__ == "__main__":
    main()
