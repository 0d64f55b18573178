"""Old-style ``salt.loader`` entry points: each returns the list of dirs for one loader.

Salt 3008 ignores ``utils_dirs`` entry points, which is why setup.py also installs the
``_utils/mosmu_*.py`` helpers as top-level modules: loader modules import them plainly.
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def module_dirs():
    return [os.path.join(_HERE, "_modules")]


def runner_dirs():
    return [os.path.join(_HERE, "_runners")]


def states_dirs():
    return [os.path.join(_HERE, "_states")]


def outputter_dirs():
    return [os.path.join(_HERE, "_output")]
