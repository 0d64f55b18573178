"""Exception classes shared by the mosmu helpers.

Helpers raise these; the loader modules (runner, module, state) translate them once,
at their boundary, into Salt's conventions. Every message names the cause and the fix.
"""

import errno
import os


class MosmuError(Exception):
    """Base class: a failure with a message fit to show an operator as it is."""


class ConfigError(MosmuError):
    """The master config (``mosmu:``) or a runner argument is wrong."""


class FuelError(MosmuError):
    """The Fuel API (Keystone or Nailgun) failed, refused us, or returned nonsense."""


class MirrorError(MosmuError):
    """Syncing or verifying the local MOS mirror failed; nothing was published."""


class MissingDependency(MirrorError):
    """A Python package the mirror code needs (python-debian) is not installed on the
    master; the runner's functions that read no apt index still work."""


class NodeError(MosmuError):
    """A command on a node (apt, dpkg, yum) failed."""


def os_error_message(err):
    """One line for an ``OSError`` of the master: the cause, the path and the fix.

    :param err: an ``OSError`` (``strerror``, ``errno``, ``filename``)
    :return: e.g. ``No space left on device (ENOSPC): /var/www/nailgun/x; free space on the
        filesystem of /var/www/nailgun/x (df -h), then rerun``
    """
    path = err.filename
    cause = " ".join(str(err.strerror or err).split())
    name = errno.errorcode.get(err.errno)
    where = f" ({name})" if name else ""
    if path is None:
        return (f"{type(err).__name__}{where}{': ' + cause if cause else ''}; check the "
                "master's filesystems and network, then rerun")
    path = " ".join(str(os.fsdecode(path)).split()) if isinstance(path, (str, bytes)) \
        else str(path)
    fixes = {
        (errno.ENOSPC, errno.EDQUOT): f"free space on the filesystem of {path} (df -h), then "
                                      "rerun",
        (errno.EROFS,): f"remount the filesystem of {path} read-write, then rerun",
        (errno.EACCES, errno.EPERM): f"check permissions of {path} and its parents (the "
                                     "salt-master's user must be able to write there)",
        (errno.ENOTDIR, errno.EEXIST, errno.EISDIR): f"{path} or a parent of it is a file "
                                                     "where a directory is expected (or the "
                                                     "reverse); move it away or fix the "
                                                     "mosmu: setting that names it",
        (errno.ENOENT,): f"create the directory of {path} or fix the mosmu: setting that "
                         "names it",
        (errno.ELOOP,): f"{path} is a symbolic link where mosmu refuses one; remove it",
        (errno.EIO,): f"the disk under {path} reports I/O errors; check dmesg and the disk",
        (errno.EMFILE, errno.ENFILE): "raise the salt-master's open file limit (ulimit -n)",
    }
    fix = next((text for codes, text in fixes.items() if err.errno in codes),
               f"check {path} and the master's filesystem, then rerun")
    return f"{cause or type(err).__name__}{where}: {path}; {fix}"
