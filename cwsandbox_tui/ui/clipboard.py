"""Copying through the terminal (OSC 52), so it works over ssh and inside tmux."""

from __future__ import annotations

import base64
from collections.abc import Mapping

OSC52_MAX = 74_994  # encoded bytes; terminals drop longer payloads (k9s uses the same cap)


class TooLong(ValueError):
    pass


def osc52(text: str, *, screen: bool = False) -> str:
    """The escape sequence that asks the terminal to put `text` on the clipboard.

    Plain OSC 52 for every terminal and for tmux, which reads it itself (into a paste buffer,
    and on to the outer terminal) when `set-clipboard` is on; a DCS passthrough would need
    tmux's `allow-passthrough`, off by default. GNU screen knows no OSC 52, so there (`screen`)
    the sequence is wrapped in screen's DCS passthrough to reach the outer terminal."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(payload) > OSC52_MAX:
        raise TooLong(f"{len(payload)} encoded bytes; terminals accept at most {OSC52_MAX}")
    sequence = f"\x1b]52;c;{payload}\a"
    if screen:
        sequence = "\x1bP" + sequence + "\x1b\\"
    return sequence


def inside_gnu_screen(environ: Mapping[str, str]) -> bool:
    """GNU screen sets STY; tmux (TMUX) passes OSC 52 itself, even run inside screen."""
    return bool(environ.get("STY")) and not environ.get("TMUX")
