"""What keeps running after the dashboard quits: sandboxes live on (on the service until
stopped or their lifetime ends; on the embedded backend, which stays while they do)."""

from __future__ import annotations

from collections.abc import Sequence

from ..client.client import EndpointInfo
from ..client.models import Sandbox, SandboxStatus


def keeps_running(sandboxes: Sequence[Sandbox], info: EndpointInfo) -> str:
    running = sum(1 for s in sandboxes if s.status is SandboxStatus.RUNNING)
    paused = sum(1 for s in sandboxes if s.status is SandboxStatus.PAUSED)
    if not running + paused:
        return ""
    count = running + paused
    what = (f"{count} sandbox{'es' if count != 1 else ''} ({running} running, {paused} paused) "
            f"keep{'s' if count == 1 else ''} running after you quit")
    if info.embedded:
        return (f"{what}: the local backend stays until they end. `cwsandbox-tui backend "
                "status` shows it; stop them, or `cwsandbox-tui backend stop --force` ends "
                "it and them.")
    return f"{what} on {info.url or 'the endpoint'}, until stopped or their lifetime ends."
