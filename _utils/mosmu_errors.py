"""Exception classes shared by the mosmu helpers.

Helpers raise these; the loader modules (runner, module, state) translate them once,
at their boundary, into Salt's conventions. Every message names the cause and the fix.
"""


class MosmuError(Exception):
    """Base class: a failure with a message fit to show an operator as it is."""


class ConfigError(MosmuError):
    """The master config (``mosmu:``) or a runner argument is wrong."""


class FuelError(MosmuError):
    """The Fuel API (Keystone or Nailgun) failed, refused us, or returned nonsense."""


class MirrorError(MosmuError):
    """Syncing or verifying the local MOS mirror failed; nothing was published."""


class NodeError(MosmuError):
    """A command on a node (apt, dpkg, yum) failed."""
