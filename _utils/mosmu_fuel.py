"""Keystone v2.0 + Nailgun client: the inventory of a Fuel master.

Plain ``requests``; no Salt. The password is used for one POST and never logged.
"""

import logging
from urllib.parse import urlsplit, urlunsplit

import requests

from mosmu_errors import FuelError

log = logging.getLogger(__name__)


def default_keystone_url(fuel_url):
    """Keystone on the same host as Nailgun, port 5000, ``/v2.0`` (as Fuel 5.1-9.x run it)."""
    parts = urlsplit(fuel_url)
    return urlunsplit((parts.scheme, f"{parts.hostname}:5000", "/v2.0", "", ""))


class FuelClient:
    """Read-only client for the parts of Nailgun that mosmu needs.

    :param fuel_url: Nailgun base URL, e.g. ``http://10.20.0.2:8000``
    :param username, password, tenant: Keystone v2.0 credentials
    :param keystone_url: Keystone v2.0 URL; default :func:`default_keystone_url`
    :param verify_tls: passed to requests (bool or CA bundle path)
    :param timeout: seconds per HTTP request
    """

    def __init__(self, fuel_url, username, password, tenant="admin", keystone_url=None,
                 verify_tls=True, timeout=30):
        self.fuel_url = fuel_url.rstrip("/")
        self.keystone_url = (keystone_url or default_keystone_url(fuel_url)).rstrip("/")
        self._username = username
        self._password = password
        self._tenant = tenant
        self._token = None
        self._session = requests.Session()
        self._session.verify = verify_tls
        self._timeout = timeout

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method, url, what, **kwargs):
        try:
            resp = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.exceptions.SSLError as err:
            raise FuelError(
                f"TLS verification failed for {what} at {url}: {err.__class__.__name__}; "
                "set mosmu:verify_tls to the master's CA bundle (or False) in the master config"
            ) from err
        except requests.exceptions.Timeout as err:
            raise FuelError(
                f"{what} at {url} did not answer within {self._timeout} s; "
                "check that the Fuel master is up, or raise mosmu:timeout"
            ) from err
        except requests.exceptions.ConnectionError as err:
            raise FuelError(
                f"cannot connect to {what} at {url} (connection refused or host unreachable); "
                "check mosmu:fuel_url / mosmu:keystone_url in the master config and that the "
                "Fuel master's services are running"
            ) from err
        return resp

    @staticmethod
    def _json(resp, what, url):
        try:
            return resp.json()
        except ValueError as err:
            raise FuelError(
                f"{what} at {url} answered HTTP {resp.status_code} with non-JSON content; "
                "is mosmu:fuel_url pointing at Nailgun (port 8000)?"
            ) from err

    def version(self):
        """``GET /api/v1/version`` (public): release and whether auth is required."""
        url = f"{self.fuel_url}/api/v1/version"
        resp = self._request("GET", url, "Nailgun")
        if resp.status_code != 200:
            raise FuelError(f"Nailgun at {url} answered HTTP {resp.status_code}; "
                            "check mosmu:fuel_url")
        data = self._json(resp, "Nailgun", url)
        if not isinstance(data, dict):
            raise FuelError(f"Nailgun at {url} returned {type(data).__name__}, not an object")
        return data

    def token(self):
        """Keystone v2.0 token; obtained once per client."""
        if self._token:
            return self._token
        url = f"{self.keystone_url}/tokens"
        body = {"auth": {"tenantName": self._tenant,
                         "passwordCredentials": {"username": self._username,
                                                 "password": self._password}}}
        resp = self._request("POST", url, "Keystone", json=body)
        if resp.status_code in (401, 403):
            raise FuelError(
                f"Keystone at {url} rejected the credentials of user '{self._username}' in "
                f"tenant '{self._tenant}' (HTTP {resp.status_code}); fix mosmu:username, "
                "mosmu:password and mosmu:tenant in the master config"
            )
        if resp.status_code != 200:
            raise FuelError(f"Keystone at {url} answered HTTP {resp.status_code}; "
                            "check mosmu:keystone_url")
        data = self._json(resp, "Keystone", url)
        try:
            self._token = data["access"]["token"]["id"]
        except (KeyError, TypeError) as err:
            raise FuelError(f"Keystone at {url} returned no access.token.id; "
                            "is mosmu:keystone_url a Keystone v2.0 endpoint?") from err
        return self._token

    def get(self, path, params=None, auth=True):
        """GET a Nailgun collection and return the decoded list."""
        url = f"{self.fuel_url}{path}"
        headers = {"X-Auth-Token": self.token()} if auth else {}
        resp = self._request("GET", url, "Nailgun", params=params, headers=headers)
        if resp.status_code == 401:
            raise FuelError(f"Nailgun at {url} refused the Keystone token (HTTP 401); "
                            "check that mosmu:keystone_url belongs to this Fuel master")
        if resp.status_code != 200:
            raise FuelError(f"Nailgun at {url} answered HTTP {resp.status_code}")
        data = self._json(resp, "Nailgun", url)
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise FuelError(f"Nailgun at {url} returned {type(data).__name__}, "
                            "not a list of objects; the API is not Nailgun's")
        return data

    def inventory(self):
        """Nodes, clusters and releases, fetched with one token.

        :return: ``{"version": {...}, "nodes": [...], "clusters": [...], "releases": [...]}``
        """
        version = self.version()
        auth = version.get("auth_required", True) is not False
        log.debug("Nailgun %s, release %s, auth_required=%s",
                  self.fuel_url, version.get("release"), auth)
        return {
            "version": version,
            "nodes": self.get("/api/v1/nodes/", auth=auth),
            "clusters": self.get("/api/v1/clusters/", auth=auth),
            "releases": self.get("/api/v1/releases/", auth=auth),
        }
