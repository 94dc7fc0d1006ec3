"""One class per name across the package: two `Profile`s (a connection's and a runner's), two
`Runtime`s and two `BucketConfig`s made every reader check which one an import meant. A
generation's module says its generation in its class's name (`V1Adapter`, `V1beta2Adapter`), and
a backend record is named apart from the client's model it mirrors (`StoredSpec`, `SandboxSpec`)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cwsandbox_tui"
GENERATED = PACKAGE / "proto"


def class_definitions() -> dict[str, list[str]]:
    where: defaultdict[str, list[str]] = defaultdict(list)
    for source in sorted(PACKAGE.rglob("*.py")):
        if source.is_relative_to(GENERATED):
            continue
        # a module's own classes (a widget's nested messages, `Changed`, share names by design)
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(source.relative_to(PACKAGE.parent)))
    return where


def test_each_class_name_is_defined_once() -> None:
    twice = {name: files for name, files in class_definitions().items()
             if len(files) > 1}
    assert not twice, f"class names defined more than once: {twice}"

