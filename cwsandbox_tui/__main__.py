"""`cwsandbox-tui` and `python -m cwsandbox_tui`."""

from __future__ import annotations

import sys

from .cli.main import main as run


def main() -> int:
    return run(process=True)


if __name__ == "__main__":
    sys.exit(main())
