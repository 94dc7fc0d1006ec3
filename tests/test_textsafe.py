"""textsafe: every control, escape and bidirectional override shown as its escape, nothing
else changed; program output keeps its lines and loses its SGR, also split between chunks."""

from __future__ import annotations

import json
import unicodedata

from cwsandbox_tui.cli.render import to_json
from cwsandbox_tui.textsafe import BIDI, OutputText, inert, inert_lines
from tests.hostile_text import HOSTILE, controls

DANGEROUS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *BIDI, 0x2028, 0x2029]


def test_every_dangerous_character_is_shown_as_an_escape() -> None:
    for code in DANGEROUS:
        shown = inert(f"a{chr(code)}b")
        assert shown.isascii() and shown.isprintable(), (hex(code), shown)
        assert shown.startswith("a\\") and shown.endswith("b")
    assert inert("\x1b]52;c;eA==\x07") == "\\x1b]52;c;eA==\\x07"
    assert inert("\x9b2J\u202e") == "\\x9b2J\\u202e"
    assert inert("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\r"


def test_other_text_is_unchanged() -> None:
    kept = ["plain ascii [b]markup[/b] \\x1b", "naïve café 日本語 emoji \U0001F600",
            "zero\u200bwidth joiner \u200d and nbsp\u00a0", "עברית العربية"]
    for text in kept:
        assert inert(text) == text
        assert inert_lines(text) == text
    # every printable character outside the dangerous ones passes
    for code in range(0x20, 0x3000):
        char = chr(code)
        if code not in DANGEROUS and unicodedata.category(char) != "Cs":
            assert inert(char) == char, hex(code)


def test_lines_keep_newlines_and_tabs_only() -> None:
    assert inert_lines("a\r\nb\tc\n\x1b[2Jd\re") == "a\nb\tc\n\\x1b[2Jd\\re"
    assert not controls(inert_lines(HOSTILE).encode())


def test_output_keeps_lines_and_drops_sgr_even_split_between_chunks() -> None:
    output = "\x1b[1;31mred\x1b[0m line\r\n" + HOSTILE + "\nnaïve\n"
    whole = OutputText().feed(output.encode())
    assert whole.startswith("red line\n")
    assert "\\x1b]52;c;" in whole and "\\u202e" in whole
    data = output.encode()
    for size in (1, 2, 3, 5, 7):
        out = OutputText()
        pieces = [out.feed(data[i:i + size]) for i in range(0, len(data), size)]
        assert "".join(pieces) == whole, size  # chunk boundaries change nothing
        assert not any(controls(p.encode()) for p in pieces)


def test_a_dropped_sgr_cannot_join_an_escape_to_a_sequence() -> None:
    assert OutputText().feed(b"\x1b\x1b[31m]0;title\x07") == "\\x1b]0;title\\x07"


def test_json_is_ascii_and_gives_the_text_back() -> None:
    text = to_json({"tag": HOSTILE})
    assert text.isascii() and not controls(text.encode())
    assert json.loads(text) == {"tag": HOSTILE}
