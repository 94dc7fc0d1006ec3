"""How many colours the terminal shows, for styles that must stay readable on 8/16 colours.

Textual downgrades every colour at output to the terminal's palette: the theme's orange
accent (#ffa62b) becomes ANSI bright red on a 16-colour terminal (TERM=screen, plain xterm),
so a cursor drawn as an accent background read as an error. Such terminals get reverse
video instead (see app.tcss, `App.-few-colours`).
"""

from __future__ import annotations

from typing import Any

from textual import constants

FEW_COLOURS = frozenset({"standard", "windows"})  # Rich's names for 16 and 8 colours


def output_colour_system(app: Any) -> str | None:
    """The palette the screen is written in. A headless run (tests, screenshots) writes
    nothing to a terminal and is exported in truecolor, unless a colour system is forced
    with TEXTUAL_COLOR_SYSTEM."""
    if app.is_headless and constants.COLOR_SYSTEM == "auto":
        return "truecolor"
    system: str | None = app.console.color_system
    return system


def few_colours(app: Any) -> bool:
    return output_colour_system(app) in FEW_COLOURS
