"""Keystone v2.0 + Nailgun client: the inventory of a Fuel master.

Plain ``requests`` with one session; no Salt. Every request has connect/read timeouts and an
overall deadline (the body is streamed and the clock checked, so a slowly dripped answer
cannot hold a run), a size limit and a nesting-depth limit. Collections are decoded while
they arrive, one object at a time (:class:`_Collection`), and the node list drops the bulky
fields mosmu never reads (``meta``, ``network_data``: nine tenths of the bytes) as each node
is decoded, so a 10,000-node inventory never exists whole in memory. Connection errors and HTTP
502/503/504 are retried a bounded number of times with backoff; a 401 on Nailgun triggers one
re-authentication. Each failure is one distinct line naming the cause and the config key that
fixes it. The password is used for the token POST only, never logged, never in a message.
"""

import codecs
import json
import logging
import os
import re
import socket
import time
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions

import mosmu_text
from mosmu_errors import FuelError

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32
RETRY_STATUSES = (502, 503, 504)
CHUNK = 64 * 1024
# Node fields mosmu never reads, nine tenths of a node's bytes (hardware inventory, network
# config): their values are dropped while the node list is decoded; the keys stay, as None.
TRIMMED_NODE_FIELDS = ("meta", "network_data")
_WS = re.compile(r"[ \t\n\r]*")


def default_keystone_url(fuel_url):
    """Keystone on the same host as Nailgun, port 5000, ``/v2.0`` (as Fuel 5.1-9.x run it)."""
    parts = urlsplit(fuel_url)
    return urlunsplit((parts.scheme, f"{parts.hostname}:5000", "/v2.0", "", ""))


def _depth_ok(data, limit):
    """True when ``data`` nests at most ``limit`` containers deep (iterative walk)."""
    level, depth = [data] if isinstance(data, (dict, list)) else [], 1
    while level:            # one level at a time: no per-value tuples
        if depth > limit:
            return False
        deeper = []
        for value in level:
            deeper += [v for v in (value.values() if isinstance(value, dict) else value)
                       if isinstance(v, (dict, list))]
        level, depth = deeper, depth + 1
    return True


def _cause_chain(err):
    seen = []
    while err is not None and err not in seen:
        seen.append(err)
        err = err.__cause__ or err.__context__ or (
            err.args[0] if err.args and isinstance(err.args[0], BaseException) else None)
        reason = getattr(err, "reason", None)
        if isinstance(reason, BaseException) and reason not in seen:
            seen.append(reason)
    return seen


def _connection_kind(err):
    """``"dns"``, ``"refused"`` or ``"other"`` for a requests ConnectionError."""
    chain = _cause_chain(err)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, (socket.gaierror, urllib3.exceptions.NameResolutionError))
           for e in chain) or "Name or service not known" in text \
            or "Failed to resolve" in text:
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return "refused"
    return "other"


class _BadJSON(Exception):
    """A streamed collection is not what :meth:`FuelClient._json` would accept.

    ``kind``: ``malformed`` (``detail`` the decoder's message), ``recursion``, ``depth`` or
    ``shape`` (``detail`` the type name of the top-level value)."""

    def __init__(self, kind, detail=None):
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


class _Collection:
    """Incremental decoder of one JSON array of objects (a Nailgun collection).

    Chunks of bytes are fed as they arrive; each element is decoded with the C decoder as soon
    as it is complete, the ``trim`` fields of an object are replaced by None, and only the
    trimmed objects are kept, so memory holds one element and one chunk at a time beside the
    result. The checks of the whole-body path hold: malformed JSON, nesting past ``max_depth``
    (of what is kept; dropped values are bounded by the decoder's recursion guard), a value
    that is not a list of objects. A body that does not start with ``[`` in UTF-8 is kept
    whole (``raw``) for the whole-body path, which names what it is (HTML, an object...).
    """

    def __init__(self, trim=(), max_depth=MAX_DEPTH):
        self.items = []
        self.raw = None             # bytearray: the whole-body fallback
        self._head = bytearray()    # bytes before the streaming decision
        self._trim = tuple(trim)
        self._max_depth = max_depth
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._offset = 0            # characters consumed before self._buf
        self._state = None          # None: before "[", then "first", "value", "next", "end"
        self._need = 0              # decode again once this many characters wait
        self._shape = None

    def feed(self, chunk):
        """Take the next bytes of the body."""
        if self.raw is not None:
            self.raw += chunk
            return
        if self._state is None:
            self._head += chunk
            stripped = self._head.lstrip(b" \t\n\r")
            if len(self._head) < 2 or not stripped:
                return              # detect_encoding needs two bytes; skip leading blanks
            # a byte-order mark is not "[" either; a 0 byte: UTF-16/32 without one
            if 0 in self._head[:2] or not stripped.startswith(b"["):
                self.raw, self._head = self._head, None
                return
            chunk, self._head = bytes(self._head), None
        try:
            self._buf += self._utf8.decode(chunk)
        except UnicodeDecodeError as err:
            raise _BadJSON("malformed", str(err)) from err
        if len(self._buf) >= self._need:
            self._parse(final=False)

    def close(self):
        """End of body: the decoded list, or None when the body is to be read whole."""
        if self._state is None and self.raw is None:
            self.raw, self._head = self._head, None     # empty or blank body
        if self.raw is not None:
            return None
        try:
            self._buf += self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise _BadJSON("malformed", str(err)) from err
        self._parse(final=True)
        if self._state != "end":
            raise _BadJSON("malformed", f"Expecting ',' or ']': unexpected end at char "
                                        f"{self._offset + len(self._buf)}")
        if self._shape:
            raise _BadJSON("shape", self._shape)
        return self.items

    def _fail(self, message, pos):
        raise _BadJSON("malformed", f"{message}: char {self._offset + pos}")

    def _parse(self, final):
        buf, pos = self._buf, 0
        try:
            while True:
                pos = _WS.match(buf, pos).end()
                if pos >= len(buf):
                    break
                char = buf[pos]
                if self._state is None:     # the first non-blank character is "["
                    self._state, pos = "first", pos + 1
                elif self._state == "end":
                    self._fail("Extra data", pos)
                elif self._state == "next":
                    if char not in ",]":
                        self._fail("Expecting ',' delimiter", pos)
                    self._state, pos = ("value" if char == "," else "end"), pos + 1
                elif self._state == "first" and char == "]":
                    self._state, pos = "end", pos + 1
                else:
                    end = self._element(buf, pos, final)
                    if end is None:
                        break
                    self._state, pos = "next", end
        finally:
            self._buf, self._offset = buf[pos:], self._offset + pos

    def _element(self, buf, pos, final):
        """Decode the element at ``pos``; its end, or None when more data is needed."""
        try:
            value, end = self._decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as err:
            if final:
                raise _BadJSON("malformed", f"{err.msg}: char {self._offset + err.pos}") \
                    from err
            self._need = 2 * (len(buf) - pos)   # again when twice as much waits (buf[pos:])
            return None
        except RecursionError as err:
            raise _BadJSON("recursion") from err
        if not final and not isinstance(value, (dict, list, str)):
            after = _WS.match(buf, end).end()   # "12" or "0." may go on in the next chunk
            if after == len(buf) or buf[after] not in ",]":
                self._need = 2 * (len(buf) - pos)
                return None
        self._need = 0
        if isinstance(value, dict):
            for key in self._trim:
                if key in value:
                    value[key] = None
            self.items.append(value)
        elif self._shape is None:
            self._shape = "list"    # what the whole-body path names: the outer list
        if not _depth_ok(value, self._max_depth - 1):
            raise _BadJSON("depth")
        return end


class _Answer:  # pylint: disable=too-few-public-methods
    """Status, headers and the complete body of one HTTP exchange (or, for a streamed
    collection, ``data``: its decoded objects, and an empty body)."""

    def __init__(self, status, headers, body, data=None):
        self.status, self.headers, self.body, self.data = status, headers, body, data


class FuelClient:
    """Read-only client for the parts of Nailgun that mosmu needs.

    :param fuel_url: Nailgun base URL, e.g. ``http://10.20.0.2:8000``
    :param username, password, tenant: Keystone v2.0 credentials
    :param keystone_url: Keystone v2.0 URL; default :func:`default_keystone_url`
    :param verify_tls: True (default), False, or a CA bundle path
    :param timeout: overall deadline in seconds for one request (all tries, whole body)
    :param connect_timeout: seconds to establish a connection (default ``min(10, timeout)``)
    :param max_bytes: largest accepted response body
    :param max_depth: deepest accepted JSON nesting
    :param tries: attempts per request on connection errors and HTTP 502/503/504
    :param backoff: seconds before the second try, doubled for each further one
    """

    def __init__(self, fuel_url, username, password, tenant="admin", keystone_url=None,
                 verify_tls=True, timeout=30, connect_timeout=None, max_bytes=MAX_BYTES,
                 max_depth=MAX_DEPTH, tries=3, backoff=0.5):
        self.fuel_url = fuel_url.rstrip("/")
        self.keystone_url = (keystone_url or default_keystone_url(fuel_url)).rstrip("/")
        self._username = username
        self._password = password
        self._tenant = tenant
        self._token = None
        if isinstance(verify_tls, str) and not os.path.exists(verify_tls):
            raise FuelError(f"mosmu:verify_tls names CA bundle {verify_tls}, which does not "
                            "exist; fix mosmu:verify_tls in the master config")
        self._session = requests.Session()
        self._session.verify = verify_tls
        self._session.trust_env = False  # no proxy or netrc from the environment
        self._timeout = float(timeout)
        self._connect_timeout = float(connect_timeout or min(10.0, self._timeout))
        self._max_bytes = max_bytes
        self._max_depth = max_depth
        self._tries = max(1, int(tries))
        self._backoff = backoff
        self.requests_made = 0

    def close(self):
        """Close the session's connections."""
        self._session.close()

    # -- transport ---------------------------------------------------------------------------

    def _read_body(self, resp, what, url, deadline, sink=None):
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self._max_bytes:
            raise FuelError(f"{what} at {url} announced a {int(length)}-byte answer, over the "
                            f"{self._max_bytes}-byte limit; is mosmu:fuel_url the Fuel master?")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise FuelError(f"{what} at {url} did not finish answering within "
                                f"{self._timeout:g} s (body too slow); check the Fuel master's "
                                "load, or raise mosmu:timeout")
            chunk = resp.raw.read1(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > self._max_bytes:
                raise FuelError(f"{what} at {url} sent more than {self._max_bytes} bytes; "
                                "is mosmu:fuel_url the Fuel master?")
            if sink is None:
                chunks.append(chunk)
            else:
                sink.feed(chunk)
        return b"".join(chunks)

    def _once(self, method, url, what, deadline, collection=None, **kwargs):
        """One exchange. With ``collection`` (:class:`_Collection` arguments), a 200 answer
        that is not HTML is decoded while it arrives (a fresh decoder per try)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.exceptions.ReadTimeout("deadline passed")
        self.requests_made += 1
        resp = self._session.request(
            method, url, stream=True,
            timeout=(min(self._connect_timeout, remaining), remaining), **kwargs)
        sink = None
        if collection is not None and resp.status_code == 200 \
                and "html" not in resp.headers.get("Content-Type", ""):
            sink = _Collection(max_depth=self._max_depth, **collection)
        try:
            body = self._read_body(resp, what, url, deadline, sink)
            data = None if sink is None else sink.close()
        finally:
            resp.close()
        if sink is not None and data is None:
            body = bytes(sink.raw)
        return _Answer(resp.status_code, resp.headers, body, data)

    def _request(self, method, url, what, **kwargs):
        """One request with retries; returns an :class:`_Answer` or raises FuelError."""
        deadline = time.monotonic() + self._timeout
        failure = None
        for attempt in range(1, self._tries + 1):
            if attempt > 1:
                pause = self._backoff * 2 ** (attempt - 2)
                if time.monotonic() + pause >= deadline:
                    break
                log.debug("%s at %s: retry %d after %s", what, url, attempt,
                          mosmu_text.safe(failure, newlines="space"))
                time.sleep(pause)
            try:
                answer = self._once(method, url, what, deadline, **kwargs)
            except requests.exceptions.SSLError as err:
                raise FuelError(
                    f"TLS verification failed for {what} at {url} ({err.__class__.__name__}); "
                    "set mosmu:verify_tls to the master's CA bundle (or False) in the master "
                    "config") from err
            except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as err:
                raise FuelError(
                    f"{what} at {url} did not answer within {self._timeout:g} s; check that the "
                    "Fuel master is up, or raise mosmu:timeout") from err
            except requests.exceptions.ConnectionError as err:
                kind = _connection_kind(err)
                if kind == "dns":
                    raise FuelError(
                        f"cannot resolve the host name of {what} in {url}; fix "
                        f"mosmu:{'keystone_url' if what == 'Keystone' else 'fuel_url'} in the "
                        "master config (or the master's DNS)") from err
                failure = ("refused", err) if kind == "refused" else ("unreachable", err)
                continue
            except (requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError) as err:
                failure = ("truncated", err)
                continue
            if answer.status in RETRY_STATUSES:
                failure = ("server", answer.status)
                continue
            return answer
        # Every try that does not return or raise sets failure, and the first always runs.
        key = "keystone_url" if what == "Keystone" else "fuel_url"
        kind, detail = failure
        if kind == "refused":
            raise FuelError(
                f"cannot connect to {what} at {url}: connection refused ({self._tries} tries); "
                f"check mosmu:{key} in the master config and that the Fuel master's services "
                "are running") from detail
        if kind == "unreachable":
            raise FuelError(
                f"cannot connect to {what} at {url} (host unreachable or connection reset, "
                f"{self._tries} tries); check mosmu:{key} and the network to the Fuel "
                "master") from detail
        if kind == "truncated":
            raise FuelError(
                f"{what} at {url} cut its answer off before the end ({self._tries} tries); "
                "check the Fuel master's nginx and load") from detail
        raise FuelError(    # "server"
            f"{what} at {url} answered HTTP {detail} (server error) after {self._tries} "
            "tries; check the Fuel master's services (nailgun, keystone, nginx)")

    def _json(self, answer, what, url):
        ctype = answer.headers.get("Content-Type", "")
        head = answer.body[:256].lstrip()     # <!doctype, <html, any markup
        if "html" in ctype or head.startswith(b"<"):
            raise FuelError(
                f"{what} at {url} answered HTTP {answer.status} with an HTML page, not JSON; "
                f"mosmu:{'keystone_url' if what == 'Keystone' else 'fuel_url'} points at a "
                "web page, not the API (Nailgun is on port 8000, Keystone on 5000)")
        try:
            data = json.loads(answer.body)
        except RecursionError as err:
            raise self._bad_json(what, url, _BadJSON("recursion")) from err
        except (ValueError, UnicodeDecodeError) as err:
            raise self._bad_json(what, url, _BadJSON("malformed", str(err))) from err
        if not _depth_ok(data, self._max_depth):
            raise self._bad_json(what, url, _BadJSON("depth"))
        return data

    def _bad_json(self, what, url, bad):
        """The FuelError for JSON that cannot be used (whole-body or streamed)."""
        if bad.kind == "recursion":
            return FuelError(f"{what} at {url} returned JSON nested too deeply to read; the "
                             "API is not Nailgun's")
        if bad.kind == "depth":
            return FuelError(f"{what} at {url} returned JSON nested deeper than "
                             f"{self._max_depth} levels; the API is not Nailgun's")
        if bad.kind == "shape":
            return FuelError(f"{what} at {url} returned JSON of the wrong shape "
                             f"({bad.detail}, not a list of objects); the API is not "
                             "Nailgun's")
        return FuelError(f"{what} at {url} returned malformed JSON ({str(bad.detail)[:80]}); "
                         "check the Fuel master's API")

    @staticmethod
    def _wrong_url(what, url, status):
        key = "keystone_url" if what == "Keystone" else "fuel_url"
        return FuelError(f"{what} at {url} answered HTTP {status} (not found); "
                         f"mosmu:{key} does not point at the {what} API, fix it in the "
                         "master config")

    # -- API ---------------------------------------------------------------------------------

    def version(self):
        """``GET /api/v1/version`` (public): release and whether auth is required."""
        url = f"{self.fuel_url}/api/v1/version"
        answer = self._request("GET", url, "Nailgun")
        if answer.status == 404:
            raise self._wrong_url("Nailgun", url, 404)
        if answer.status != 200:
            self._json_error_or_html(answer, "Nailgun", url)
            raise FuelError(f"Nailgun at {url} answered HTTP {answer.status}; "
                            "check mosmu:fuel_url")
        data = self._json(answer, "Nailgun", url)
        if not isinstance(data, dict):
            raise FuelError(f"Nailgun at {url} returned JSON of the wrong shape "
                            f"({type(data).__name__}, not an object); the API is not Nailgun's")
        if not isinstance(data.get("auth_required", True), bool):
            raise FuelError(f"Nailgun at {url} returned JSON of the wrong shape "
                            "(auth_required is not a boolean); the API is not Nailgun's")
        return data

    def _json_error_or_html(self, answer, what, url):
        """Raise the HTML error when an error status came with a web page."""
        head = answer.body[:256].lstrip()
        if "html" in answer.headers.get("Content-Type", "") or head.startswith(b"<"):
            self._json(answer, what, url)

    def token(self, renew=False):
        """Keystone v2.0 token; obtained once per client (again with ``renew``)."""
        if self._token and not renew:
            return self._token
        self._token = None
        url = f"{self.keystone_url}/tokens"
        body = {"auth": {"tenantName": self._tenant,
                         "passwordCredentials": {"username": self._username,
                                                 "password": self._password}}}
        answer = self._request("POST", url, "Keystone", json=body)
        if answer.status in (401, 403):
            raise FuelError(
                f"Keystone at {url} rejected the credentials of user '{self._username}' in "
                f"tenant '{self._tenant}' (HTTP {answer.status}); fix mosmu:username, "
                "mosmu:password and mosmu:tenant in the master config")
        if answer.status == 404:
            raise self._wrong_url("Keystone", url, 404)
        if answer.status != 200:
            self._json_error_or_html(answer, "Keystone", url)
            raise FuelError(f"Keystone at {url} answered HTTP {answer.status}; "
                            "check mosmu:keystone_url")
        data = self._json(answer, "Keystone", url)
        try:
            token = data["access"]["token"]["id"]
        except (KeyError, TypeError) as err:
            raise FuelError(f"Keystone at {url} returned JSON of the wrong shape (no "
                            "access.token.id); is mosmu:keystone_url a Keystone v2.0 "
                            "endpoint?") from err
        if not isinstance(token, str) or not token or len(token) > 4096 \
                or not token.isascii() or not token.isprintable():
            raise FuelError(f"Keystone at {url} returned a token that is not a plain string; "
                            "is mosmu:keystone_url a Keystone v2.0 endpoint?")
        self._token = token
        return token

    def get(self, path, params=None, auth=True, trim=()):
        """GET a Nailgun collection and return the decoded list of objects.

        The list is decoded while it arrives, one object at a time. A 401 with a token is
        answered by one re-authentication, then the request is retried.

        :param trim: fields whose values are dropped (set to None) from every object as it
            is decoded, e.g. :data:`TRIMMED_NODE_FIELDS`
        """
        url = f"{self.fuel_url}{path}"
        for renewed in (False, True):
            headers = {"X-Auth-Token": self.token(renew=renewed)} if auth else {}
            try:
                answer = self._request("GET", url, "Nailgun", params=params, headers=headers,
                                       collection={"trim": trim})
            except _BadJSON as bad:
                raise self._bad_json("Nailgun", url, bad) from bad
            if answer.status != 401 or not auth:
                break
            log.info("Nailgun at %s refused the token (HTTP 401)%s", url,
                     "" if renewed else "; authenticating again")
        if answer.status == 401:
            if not auth:
                raise FuelError(f"Nailgun at {url} demands a token although /api/v1/version "
                                "said auth_required is false; check mosmu:fuel_url")
            raise FuelError(f"Nailgun at {url} refused a fresh Keystone token (HTTP 401); "
                            "check that mosmu:keystone_url belongs to this Fuel master")
        if answer.status == 404:
            raise self._wrong_url("Nailgun", url, 404)
        if answer.status != 200:
            self._json_error_or_html(answer, "Nailgun", url)
            raise FuelError(f"Nailgun at {url} answered HTTP {answer.status}")
        if answer.data is not None:
            return answer.data
        data = self._json(answer, "Nailgun", url)
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise self._bad_json("Nailgun", url, _BadJSON("shape", type(data).__name__))
        for item in data:
            for key in trim:
                if key in item:
                    item[key] = None
        return data

    def inventory(self):
        """Version first, then nodes, clusters and releases with one token.

        :return: ``{"version": {...}, "nodes": [...], "clusters": [...], "releases": [...]}``;
            nodes carry every field Nailgun sends, those of :data:`TRIMMED_NODE_FIELDS` as None
        """
        version = self.version()
        auth = version.get("auth_required", True) is not False
        log.debug("Nailgun %s, release %s, auth_required=%s",
                  self.fuel_url, mosmu_text.safe(version.get("release"), 60), auth)
        return {
            "version": version,
            "nodes": self.get("/api/v1/nodes/", auth=auth, trim=TRIMMED_NODE_FIELDS),
            "clusters": self.get("/api/v1/clusters/", auth=auth),
            "releases": self.get("/api/v1/releases/", auth=auth),
        }
