"""Client leases: a backend started on a client's behalf lives while some client does."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def live_leases(directory: Path) -> int:
    """Count lease files whose process is alive, removing the stale ones."""
    alive = 0
    if not directory.exists():
        return 0
    for lease in directory.iterdir():
        try:
            pid = int(lease.name)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            with contextlib.suppress(OSError):
                lease.unlink()
            continue
        except PermissionError:
            pass
        alive += 1
    return alive
