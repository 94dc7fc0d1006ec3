"""Run inside an SDK venv (`sdk_venv.SdkVenv`, which also holds this project): the UNMODIFIED
official SDK starts one sandbox tagged argv[1] against CWSANDBOX_BASE_URL, with its default
credentials, or with its W&B ones (`WandbAuth()`, 1.x) when argv[2] is "wandb". Prints one
JSON object: the sandbox's id and status, or the error."""

from __future__ import annotations

import json
import sys
from typing import Any

import cwsandbox
from cwsandbox import Sandbox


def main() -> None:
    tag, auth = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    kwargs: dict[str, Any] = {}
    if auth == "wandb":
        kwargs["auth"] = cwsandbox.WandbAuth()
    try:
        sandbox = Sandbox.run("sleep", "600", tags=[tag], **kwargs)
        sandbox.wait()
        print(json.dumps({"id": sandbox.sandbox_id, "status": str(getattr(sandbox, "status", "")),
                          "sdk": cwsandbox.__version__}))
    except Exception as exc:  # reported, not raised: the test shows it
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "sdk": cwsandbox.__version__}))


if __name__ == "__main__":
    main()
