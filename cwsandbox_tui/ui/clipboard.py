"""Copying through the terminal (OSC 52), so it works over ssh and inside tmux."""

from __future__ import annotations

import base64

OSC52_MAX = 74_994  # encoded bytes; terminals drop longer payloads (k9s uses the same cap)


class TooLong(ValueError):
    pass


def osc52(text: str, *, tmux: bool = False) -> str:
    """The escape sequence that asks the terminal to put `text` on the clipboard. Inside
    tmux it is wrapped in a DCS passthrough so tmux hands it on to the outer terminal."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(payload) > OSC52_MAX:
        raise TooLong(f"{len(payload)} encoded bytes; terminals accept at most {OSC52_MAX}")
    sequence = f"\x1b]52;c;{payload}\a"
    if tmux:
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence
