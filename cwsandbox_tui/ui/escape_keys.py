"""Esc followed at once by a key (one read: ssh and tmux deliver keys in bursts) is Esc and
then that key: a person who presses Esc and then `2` means "back, then Snapshots".

Textual's parser reads ESC plus a character as alt+character (the key lost: the dashboard
binds no alt+ keys), as the bare character when it has a name (ESC / as `/`: the Esc lost),
and a few pairs as something else altogether (ESC 2 as "™", ESC b as ctrl+left: what macOS
option keys send). `EscapeThenKeyParser` reads every such pair as the two keys, and is the
one the terminal driver makes once `install` has run.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events

from .textual_private import XTermParser, use_key_parser

ESC = "\x1b"
# What follows ESC in the terminal's own sequences (CSI, SS3, DCS, OSC, APC, ST): never a key.
_INTRODUCERS = frozenset("[OP]_\\")


class EscapeThenKeyParser(XTermParser):
    # Overrides a private method (pinned in tests/ui/test_textual_private.py).
    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if alt:
            # An ESC the parser could not join to any sequence, before this character.
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence)
            return
        if len(sequence) == 2 and sequence[0] == ESC and sequence[1] not in _INTRODUCERS \
                and sequence[1].isprintable():
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence[1])
            return
        yield from super()._sequence_to_key_events(sequence)


def install() -> None:
    """Make the terminal driver read keys with `EscapeThenKeyParser` (it names the class at
    the moment its input thread starts)."""
    use_key_parser(EscapeThenKeyParser)
