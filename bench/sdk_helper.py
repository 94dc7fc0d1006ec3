"""The official SDK's side of the comparisons. Runs in the SDK's own virtualenv
(.cache/sdk-venv-0.26.0, which holds this project too), never in ours,
and imports nothing from this repository.

    python sdk_helper.py delete   # lists the ids, then Sandbox.delete_snapshot(id) in a loop
    python sdk_helper.py delete-sandboxes  # Sandbox.list(include_stopped), Sandbox.delete loop
    python sdk_helper.py list     # Sandbox.list_snapshots()

The endpoint comes from CWSANDBOX_BASE_URL. Prints one JSON object. The clock runs only
around the SDK calls (not the interpreter's start or the import).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def delete() -> dict[str, Any]:
    from cwsandbox import Sandbox

    ids = [s.file_system_snapshot_id for s in Sandbox.list_snapshots().result()]
    errors: list[str] = []
    started = time.perf_counter()
    for snapshot_id in ids:  # as the SDK's examples do: one call after another
        try:
            Sandbox.delete_snapshot(snapshot_id).result()
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    left = len(Sandbox.list_snapshots().result())
    return {"seconds": seconds, "count": len(ids), "errors": len(errors),
            "first_error": errors[0] if errors else None, "left": left}


def delete_sandboxes() -> dict[str, Any]:
    from cwsandbox import Sandbox

    ids = [s.sandbox_id for s in Sandbox.list(include_stopped=True).result()]
    errors: list[str] = []
    started = time.perf_counter()
    for sandbox_id in ids:
        try:
            Sandbox.delete(sandbox_id).result()
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": len(ids), "errors": len(errors),
            "first_error": errors[0] if errors else None}


def list_all() -> dict[str, Any]:
    import cwsandbox._sandbox as sdk_sandbox
    from cwsandbox import Sandbox

    # Count what the SDK fetches before it gives up (its 100-page cap raises and drops the
    # rows it already has): wrap the pagination helper it calls, changing nothing else.
    fetched = {"rows": 0, "pages": 0}
    original = sdk_sandbox.paginate_async

    async def counting(rpc_method: Any, request: Any, items_field: str, *args: Any,
                       **kwargs: Any) -> Any:
        async def counted_rpc(req: Any, **kw: Any) -> Any:
            response = await rpc_method(req, **kw)
            fetched["pages"] += 1
            fetched["rows"] += len(getattr(response, items_field))
            return response
        return await original(counted_rpc, request, items_field, *args, **kwargs)

    sdk_sandbox.paginate_async = counting
    started = time.perf_counter()
    error = None
    returned = 0
    try:
        returned = len(Sandbox.list_snapshots().result())
    except Exception as exc:  # noqa: BLE001 - the cap is an expected outcome
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "returned": returned, "fetched_rows": fetched["rows"],
            "pages": fetched["pages"], "error": error}


def main() -> int:
    import cwsandbox

    if sys.argv[1] == "delete":
        result = delete()
    elif sys.argv[1] == "delete-sandboxes":
        result = delete_sandboxes()
    elif sys.argv[1] == "list":
        result = list_all()
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")
    result["sdk_version"] = cwsandbox.__version__
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
