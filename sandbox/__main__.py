"""python -m sandbox ... (from the repo root) = mosmu-sandbox ..."""
import sys

from .cli import main

sys.exit(main())
