"""Map Nailgun nodes to Salt minion ids from the master's minion data cache, cheaply.

``cache.grains tgt='*'`` loads every grain (and pillar) of every minion into one dict; at
10,000 minions that is seconds and hundreds of MB. Here only what the match needs is kept:
``match: ip`` reads each minion's cached grains one at a time and keeps its ``ipv4`` list;
``fqdn`` and ``hostname`` need the minion ids only (the cache bank listing). Everything goes
through Salt's cache API (``salt.cache.factory(opts)``), so every cache backend works.
Salt 3007+ keeps grains in bank ``grains`` keyed by minion id; older masters kept
``{"grains": ..., "pillar": ...}`` under bank ``minions/<id>``, key ``data``: both are read.

Reading 10,000 grain blobs is the cost of ``match: ip``, so the ``ipv4`` lists are also kept
in a persistent index, ``<cachedir>/mosmu/minion-index.p``, each with the cache entry's
``updated`` stamp (``Cache.updated``: the localfs file's mtime in whole seconds). A later run
asks each minion's stamp and decodes only the minions whose stamp changed. An entry is kept
only when its stamp was at least :data:`SETTLE` seconds old when it was read, so a grains
update within the same second cannot hide behind an equal stamp; a backend without
``updated`` (or a stamp that is not a number), an unreadable or foreign index file: every
minion is read whole, as without the index.
"""

import logging
import math
import os
import tempfile
import time

import salt.cache
import salt.utils.msgpack
import salt.utils.verify

log = logging.getLogger(__name__)

MATCHES = ("ip", "fqdn", "hostname")
INDEX_FORMAT = 1
SETTLE = 2      # seconds: a stamp this recent may hide a second write in the same second
_SEPARATORS = ("/", "\\", "\0")


def _ids(cache):
    """Minion ids known to the cache, and whether they come from the old layout."""
    ids = cache.list("grains") or []
    if ids:
        return ids, False
    return cache.list("minions") or [], True


def _location(minion, legacy):
    return (f"minions/{minion}", "data") if legacy else ("grains", minion)


def _ipv4(cache, minion, legacy):
    if legacy:
        data = cache.fetch(f"minions/{minion}", "data")
        grains = data.get("grains") if isinstance(data, dict) else None
    else:
        grains = cache.fetch("grains", minion)
    if not isinstance(grains, dict):
        return []
    addrs = grains.get("ipv4")
    return [a for a in addrs if isinstance(a, str)] if isinstance(addrs, list) else []


def _valid_ids(opts, ids):
    """The ids :func:`salt.utils.verify.valid_id` accepts, in order.

    ``valid_id`` resolves ``<pki_dir>/<id>`` with ``realpath`` (several syscalls per id). An
    id without a separator, other than ``.``/``..``, that names nothing in the resolved
    ``pki_dir`` resolves to ``<pki_dir>/<id>`` and is valid: only the others (and all of them
    when ``pki_dir`` cannot be listed) go through ``valid_id`` itself.
    """
    names = None
    try:
        root = opts["pki_dir"]
        if not os.path.isabs(root):
            root = os.path.join(os.getcwd(), root)
        names = set(os.listdir(salt.utils.verify._realpath(  # pylint: disable=protected-access
            os.path.normpath(root))))
    except (FileNotFoundError, NotADirectoryError):
        names = set()       # nothing under pki_dir: no id resolves elsewhere
    except (KeyError, TypeError, ValueError, OSError):
        pass
    out = []
    for minion in ids:
        if not isinstance(minion, str):
            ok = False
        elif names is None or minion in names or minion in ("", ".", "..") \
                or any(sep in minion for sep in _SEPARATORS):
            ok = salt.utils.verify.valid_id(opts, minion)
        else:
            ok = True
        if ok:
            out.append(minion)
        else:
            log.debug("minion cache: ignoring invalid id %r", minion)
    return out


class _Stored:
    """The persistent ipv4 index: ``{minion: (stamp, [ipv4...])}`` for one cache + layout."""

    def __init__(self, opts, driver, legacy):
        self.path = os.path.join(opts["cachedir"], "mosmu", "minion-index.p")
        self.owner = [str(driver), "minions" if legacy else "grains"]
        self.entries = self._load()
        self.changed = False

    def _load(self):
        try:
            with open(self.path, "rb") as handle:
                data = salt.utils.msgpack.unpackb(handle.read(), raw=False, use_list=True)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as err:   # msgpack's errors are ValueErrors
            log.info("minion index %s unreadable (%s: %s); reading every minion", self.path,
                     err.__class__.__name__, err)
            return {}
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT \
                or data.get("owner") != self.owner or not isinstance(data.get("entries"), dict):
            log.info("minion index %s is not this cache's; reading every minion", self.path)
            return {}
        return data["entries"]

    def get(self, minion, stamp):
        """The stored ipv4 list of ``minion`` when stored with this ``stamp``, else None."""
        entry = self.entries.get(minion)
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or entry[0] != stamp \
                or not isinstance(entry[1], list) \
                or not all(isinstance(a, str) for a in entry[1]):
            return None
        return entry[1]

    def put(self, minion, stamp, addrs):
        """Remember ``addrs`` under ``stamp``, or forget the minion (``stamp`` None)."""
        if stamp is None:
            self.changed |= self.entries.pop(minion, None) is not None
        elif self.entries.get(minion) != [stamp, addrs]:
            self.entries[minion] = [stamp, addrs]
            self.changed = True

    def save(self, keep):
        """Write the entries of the minions in ``keep`` (atomically), if anything changed."""
        gone = set(self.entries) - set(keep)
        if not self.changed and not gone:
            return
        entries = {m: e for m, e in self.entries.items() if m not in gone}
        directory = os.path.dirname(self.path)
        data = salt.utils.msgpack.packb({"format": INDEX_FORMAT, "owner": self.owner,
                                         "entries": entries}, use_bin_type=True)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".minion-index.")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, self.path)      # readers see the old or the new index
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as err:
            log.info("minion index %s not written (%s); the next run reads every minion",
                     self.path, err)


def _stamper(opts, cache, legacy):
    """A function ``minion -> stamp`` (a number, or None when unknown).

    It is ``cache.updated`` of the minion's grains entry. For Salt's ``localfs`` backend the
    same value (the entry file's mtime, whole seconds) is read with one ``os.stat`` instead:
    ``cache.updated`` costs some 30 microseconds of path handling per call, a third of a
    second at 10,000 minions (a test holds the two equal).
    """
    cachedir = getattr(cache, "cachedir", None) or opts.get("cachedir")
    if getattr(cache, "driver", None) == "localfs" and isinstance(cachedir, str):
        # <cachedir>/grains/<id>.p, or <cachedir>/minions/<id>/data.p: a valid id (the only
        # ones asked) has no separator and is not "." or "..", so joining is concatenating
        head = os.path.join(cachedir, "minions" if legacy else "grains", "")
        tail = f"{os.sep}data.p" if legacy else ".p"

        def localfs(minion):
            try:
                return int(os.stat(f"{head}{minion}{tail}").st_mtime)
            except OSError:
                return None
        return localfs

    def updated(minion):
        try:
            stamp = cache.updated(*_location(minion, legacy))
        except (KeyError, AttributeError, NotImplementedError, TypeError):
            return None     # a backend without updated(): read the minion whole
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) \
                or not math.isfinite(stamp):
            return None
        return stamp
    return updated


def _ip_index(opts, cache, ids, legacy):
    """``{minion: [ipv4...]}``, decoding only the minions whose cache stamp changed."""
    stored = _Stored(opts, getattr(cache, "driver", opts.get("cache")), legacy) \
        if opts.get("cachedir") else None
    stamp_of = _stamper(opts, cache, legacy)
    settled = math.floor(time.time()) - SETTLE
    out, read = {}, 0
    for minion in ids:
        stamp = stamp_of(minion) if stored is not None else None
        addrs = stored.get(minion, stamp) if stamp is not None else None
        if addrs is None:
            addrs = _ipv4(cache, minion, legacy)
            read += 1
            if stored is not None:
                stored.put(minion, stamp if stamp is not None and stamp < settled else None,
                           addrs)
        out[minion] = addrs
    if stored is not None:
        stored.save(out)
    log.debug("minion index: %d minion(s), %d read from the cache", len(out), read)
    return out


def _key(value, match):
    if match == "hostname":
        return value.split(".")[0].lower()
    return value.lower() if match == "fqdn" else value


def minion_index(opts, match="ip", cache=None):
    """Index of node keys to the minion ids that carry them.

    :param opts: the master's opts (``__opts__``): ``cache``, ``cachedir``, ``id``...
    :param match: ``ip`` (the ``ipv4`` grain), ``fqdn`` (minion id = node fqdn) or
        ``hostname`` (first label of the minion id = node hostname)
    :param cache: a ``salt.cache.Cache`` to use instead of ``salt.cache.factory(opts)``
    :return: ``{key: tuple(sorted minion ids)}``; keys are IPs, lower-case fqdns or
        lower-case hostnames
    """
    if match not in MATCHES:
        raise ValueError(f"match {match!r} is not one of {', '.join(MATCHES)}")
    cache = cache or salt.cache.factory(opts)
    ids, legacy = _ids(cache)
    ids = _valid_ids(opts, ids)
    if match == "ip":
        pairs = ((key, minion) for minion, addrs in _ip_index(opts, cache, ids, legacy).items()
                 for key in addrs)
    else:
        pairs = ((_key(minion, match), minion) for minion in ids)
    return _grouped(pairs)


def _grouped(pairs):
    """``{key: tuple(sorted minions)}`` from ``(key, minion)`` pairs; a key of one minion (by
    far the most) costs no set."""
    index, shared = {}, {}
    for key, minion in pairs:
        first = index.setdefault(key, minion)
        if first != minion:
            shared.setdefault(key, {first}).add(minion)
    for key, minions in shared.items():
        index[key] = tuple(sorted(minions))
    return {key: (value,) if type(value) is str else value for key, value in index.items()}


def minion_of(node, index, match="ip"):
    """The minion of one node: ``(minion_id or None, candidates)``.

    One candidate is a mapping; none (NO_MINION) or several (ambiguous: reported with the
    candidates) leave the minion None.

    :param node: a selected node (``ip``, ``fqdn``, ``hostname``)
    :param index: :func:`minion_index` result for the same ``match``
    """
    value = node.get({"ip": "ip", "fqdn": "fqdn", "hostname": "hostname"}[match])
    if match == "hostname" and not value and node.get("fqdn"):
        value = node["fqdn"]  # Fuel <= 6.1 nodes have no hostname field
    if not value:
        return None, []
    candidates = list(index.get(_key(value, match), ()))
    return (candidates[0] if len(candidates) == 1 else None), candidates


def map_nodes(nodes, index, match="ip"):
    """Selected nodes with ``minion`` (or None) and ``candidates`` added (new dicts)."""
    out = []
    for node in nodes:
        minion, candidates = minion_of(node, index, match)
        out.append(dict(node, minion=minion, candidates=candidates))
    return out
