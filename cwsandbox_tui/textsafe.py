"""Text from a server or a sandbox made inert before it reaches a terminal.

A tag, a command, a log line or a failure reason can hold terminal control sequences (OSC 52
writes the clipboard, OSC 0 retitles the window, CSI 2J clears the screen) and bidirectional
overrides that make text read differently from what it is. Every view applies one of these
functions as its last step before the terminal: each such character is shown as its Python
escape (`\\x1b`, `\\u202e`), so it is visible and does nothing.

Imports nothing of the project: the CLI, the client and the dashboard all use it.
"""

from __future__ import annotations

import codecs
import re

# Unicode's bidirectional controls: embeddings and overrides, isolates, and the marks.
BIDI = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Line and paragraph separators: some terminals and editors break lines at them.
SEPARATORS = frozenset([0x2028, 0x2029])


_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape(code: int) -> str:
    if code in _NAMED:
        return _NAMED[code]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _table(keep: str) -> dict[int, str]:
    codes = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *BIDI, *SEPARATORS,
             *range(0xD800, 0xE000)]  # lone surrogates (bytes decoded with surrogateescape)
    return {code: _escape(code) for code in codes if chr(code) not in keep}


_CELL = _table("")  # one line of a table or a field: newlines and tabs shown too
_LINES = _table("\n\t")  # text of several lines: they stay lines, tabs stay tabs


def inert(text: str) -> str:
    """`text` for one line of a terminal: every control, escape and bidirectional override
    shown as its escape, newlines and tabs too."""
    if text.isprintable():  # no control, format or separator character: the common case
        return text
    return text.translate(_CELL)


def inert_lines(text: str) -> str:
    """`text` of several lines (a message, an error, a listing): newlines and tabs are kept,
    a carriage return before a newline is dropped, everything else is escaped as by `inert`."""
    if text.isprintable():
        return text
    return text.replace("\r\n", "\n").translate(_LINES)


# Select Graphic Rendition: colours and bold, italic, underline; and what may be the start of
# one (or of a CRLF) at the end of a chunk, held until the next.
_SGR = re.compile(r"\x1b\[[0-9;]{0,64}m")
_HELD = re.compile(r"(\x1b(\[[0-9;]{0,64})?|\r)\Z")


class OutputText:
    """A program's output, chunk by chunk, as inert text for a viewer of lines (logs, exec).

    UTF-8 is decoded across chunk boundaries. SGR sequences (colours) are the only
    sequences admitted, and the viewer shows no colours: they are dropped, also when a chunk
    ends inside one. Everything else is made inert as by `inert_lines`.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def feed(self, data: bytes) -> str:
        text = self._held + self._decoder.decode(data)
        tail = _HELD.search(text)
        self._held = tail.group() if tail else ""
        if tail:
            text = text[:tail.start()]
        # dropped before the rest is made inert: a sequence cut out cannot join an ESC
        # before it to another sequence that then acts
        return inert_lines(_SGR.sub("", text))
