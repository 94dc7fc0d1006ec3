"""The client never imports Textual: scripts and the CLI stay light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import cwsandbox_tui.client


def test_importing_every_client_module_leaves_textual_out() -> None:
    modules = sorted(f"cwsandbox_tui.client.{m.name}"
                     for m in pkgutil.iter_modules(cwsandbox_tui.client.__path__))
    assert "cwsandbox_tui.client.client" in modules and len(modules) >= 15
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""



def test_only_the_generation_adapters_touch_generated_classes() -> None:
    """One adapter per API generation; everything else in the client speaks our models."""
    import ast
    from pathlib import Path

    folder = Path(cwsandbox_tui.client.__file__).parent
    touching = set()
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and "proto" in (node.module or "").split("."):
                touching.add(path.name)
    assert touching == {"adapter_v1.py", "adapter_v1beta2.py"}
