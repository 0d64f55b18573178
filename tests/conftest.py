"""Shared test set-up: helpers and the sandbox import from the source tree."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (REPO, os.path.join(REPO, "_utils")):
    if path not in sys.path:
        sys.path.insert(0, path)
