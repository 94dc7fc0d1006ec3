"""The step recorder the SDK scenarios share (each runs as a script in the SDK's own venv, so
this module is imported from beside it, not as part of the test package)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

steps: dict[str, Any] = {}


def step(name: str) -> Callable[[Callable[[], Any]], None]:
    """Run the decorated body now and record what it returned, or what it raised."""
    def run(body: Callable[[], Any]) -> None:
        try:
            steps[name] = body()
        except BaseException as exc:  # noqa: BLE001 - recorded for the pytest side
            steps[name] = {"error": type(exc).__name__, "message": str(exc),
                           "mro": [k.__name__ for k in type(exc).__mro__],
                           "traceback": traceback.format_exc()[-3000:]}
    return run


def raised(call: Callable[[], Any]) -> dict[str, Any]:
    """What the SDK raised for `call`: class chain, reason, filepath, metadata and message;
    or the value it returned."""
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001
        return {"raised": type(exc).__name__, "mro": [k.__name__ for k in type(exc).__mro__],
                "reason": getattr(exc, "reason", None),
                "filepath": getattr(exc, "filepath", None),
                "metadata": dict(getattr(exc, "metadata", None) or {}),
                "message": str(exc)}
    return {"raised": None, "value": repr(value)[:300]}
