"""`python -m bench`: the download-script and presigning benchmark (see bench/download.py)."""

from __future__ import annotations

import sys

from bench.download import main

if __name__ == "__main__":
    sys.exit(main())
