"""The `[keys]` table of config.toml checked before the dashboard starts: an id no binding
has, a key another binding of the same view already uses (`"table.mark" = "q"` silently
took Quit away), or a key no terminal sends apart from another (ctrl+m is enter) is refused,
naming the entry, instead of being ignored or never firing."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from textual.binding import Binding
from textual.dom import DOMNode

from .textual_private import merged_bindings

# Keys a terminal sends as the same byte as another key: bound, they would never fire.
INDISTINCT = {"ctrl+m": "enter", "ctrl+j": "enter", "ctrl+i": "tab", "ctrl+h": "backspace",
              "ctrl+left_square_bracket": "escape"}


def _bindings(node: type[DOMNode]) -> list[Binding]:
    return [b for bs in merged_bindings(node).key_to_bindings.values() for b in bs]


def keymap_problems(keymap: Mapping[str, str], app: type[DOMNode],
                    views: Iterable[type[DOMNode]]) -> list[str]:
    """What is wrong with `keymap` (binding id -> keys, comma-separated) for an app whose
    own bindings hold in every one of `views`; empty when nothing is."""
    app_bindings = _bindings(app)
    scopes = [app_bindings + _bindings(view) for view in views]
    known = sorted({b.id for scope in scopes for b in scope if b.id})
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        entry = f'"{binding_id}" = "{keys}"'
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"ids: {', '.join(known)}"
            problems.append(f"{entry}: no binding has this id ({hint})")
        for key in (k.strip() for k in keys.split(",")):
            if not key:
                problems.append(f"{entry}: an empty key")
            elif key in INDISTINCT:
                problems.append(f"{entry}: terminals send {key} as {INDISTINCT[key]}, so it "
                                "would never reach the binding")
    for scope in scopes:
        by_key: dict[str, list[Binding]] = {}
        for binding in scope:
            keys = keymap.get(binding.id or "", binding.key)
            for key in (k.strip() for k in keys.split(",")):
                if key and binding not in by_key.setdefault(key, []):
                    by_key[key].append(binding)
        for key, bound in by_key.items():
            remapped = [b for b in bound if b.id in keymap]
            others = [b for b in bound if b.action != remapped[0].action] if remapped else []
            if others:
                mine, other = remapped[0], others[0]
                name = other.description or other.action
                problems.append(f'"{mine.id}" = "{keymap[mine.id or ""]}": {key} is already '
                                f"{name}" + (f" ({other.id})" if other.id else ""))
    return list(dict.fromkeys(problems))
