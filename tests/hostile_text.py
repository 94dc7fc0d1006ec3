"""Text a sandbox (or a server) uses to attack the terminal it is shown on, and the checks of
the bytes that terminal receives."""

from __future__ import annotations

import base64

from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.models import Sandbox, SandboxSpec, Snapshot

B64 = base64.b64encode(b"written-by-a-sandbox").decode()
OSC52 = f"\x1b]52;c;{B64}\x07"  # writes the clipboard
OSC0 = "\x1b]0;retitled\x07"  # retitles the window
CLEAR = "\x1b[2J"  # clears the screen
C1_CSI = "\x9b2J"  # the same, by the 8-bit C1 introducer
RLO = "\u202e"  # right-to-left override: text reads differently from what it is
MARKUP = "[link=https://evil.example/]x[/link][/]"
HOSTILE = OSC52 + OSC0 + CLEAR + C1_CSI + RLO + MARKUP

# The hostile sequences as a terminal receives them (UTF-8): none may reach it. OSC 8 would be
# markup made into a hyperlink.
SEQUENCES = [OSC52.encode(), b"\x1b]52;", OSC0.encode(), b"\x1b]0;retitled", CLEAR.encode(),
             C1_CSI.encode(), RLO.encode(), b"\x1b]8;"]


def octal(text: str) -> str:
    """`text` for a `printf` format in the sandbox: every byte an octal escape, so the command
    itself holds nothing but printable ASCII."""
    return "".join(f"\\{byte:03o}" for byte in text.encode())


def leaked(raw: bytes) -> list[bytes]:
    return [s for s in SEQUENCES if s in raw]


def controls(raw: bytes) -> list[str]:
    """Every terminal control in output that should hold none: ESC, C0 (but newline and tab),
    DEL, C1 and bidirectional controls."""
    text = raw.decode("utf-8", errors="replace")
    bidi = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    return sorted({repr(c) for c in text if (ord(c) < 0x20 and c not in "\n\t")
                   or 0x7F <= ord(c) < 0xA0 or ord(c) in bidi})


async def hostile_sandbox(client: Client, mount: str = "/workspace") -> tuple[Sandbox, Snapshot]:
    """A running sandbox whose tags and command hold HOSTILE, which writes HOSTILE to its
    output, and a snapshot of its mount whose reason names a FIFO the sandbox made, named
    HOSTILE's OSC 52 (the sandbox's code alone puts that text in the snapshot record)."""
    script = (f"printf '{octal(HOSTILE)}\\n'; mkfifo \"{mount}/$(printf '{octal(OSC52)}')\"; "
              "exec sleep infinity")
    sandbox = await client.start_sandbox(SandboxSpec(
        args=("-c", script, HOSTILE), tags=(HOSTILE, "plain"), mount_path=mount))
    await client.exec(sandbox.id, ["/bin/sh", "-c",
                                   f"until [ -p \"{mount}/$(printf '{octal(OSC52)}')\" ]; "
                                   "do sleep 0.05; done"], timeout=20)
    snapshot = await client.create_snapshot(sandbox.id)
    assert OSC52 in snapshot.status_reason, snapshot.status_reason
    return sandbox, snapshot
