"""The wheel as people install it: built from the sources alone, installed (not editable) in a
clean venv, and run from there: the dashboard's first frame on a pty, then `q`, and a command.

What an editable install hides is caught here: a file missing from the wheel (the stylesheet,
the generated modules), a dependency not declared, the console script. `pipx install .` and
`uv tool install .` do this same build and install (with uv here when the test extra
has it, else pip). Dependencies come from the installer's cache.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peer.sdk_venv import uv_binary
from tests.pty_program import PtyProgram, after_alt_screen, demo_rows, plain

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "cwsandbox_tui"]
PIP_LIMIT = 900  # building and installing under the load of a shared machine: a bound


def run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=PIP_LIMIT, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean venv with the wheel built from a copy of the sources (a build in the tree
    itself would race another interpreter's test run in it); yields the venv."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    uv = uv_binary()  # ~4x faster than pip at both steps (13 s of CPU here), else pip
    run([uv, "build", "-q", "--wheel", "-o", work / "dist", source] if uv else
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", source])
    (wheel,) = (work / "dist").glob("cwsandbox_tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names), "the wheel has no LICENSE"
    assert "cwsandbox_tui/ui/app.tcss" in names

    venv = work / "venv"
    # Without a pip of its own, installed into by this one (ensurepip costs more than the
    # rest); no byte-compiling of every dependency either: what runs compiles as it imports.
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    run([uv, "pip", "install", "-q", "--python", venv / "bin" / "python", wheel] if uv else
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
         "--no-compile", wheel])
    yield venv


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "TERM": "xterm-256color"}


def test_the_installed_wheel_runs_the_dashboard_and_a_command(installed: Path,
                                                             tmp_path: Path) -> None:
    # Imported from the venv, not from these sources (the working directory is elsewhere).
    where = run([installed / "bin" / "python", "-c",
                 "import cwsandbox_tui; print(cwsandbox_tui.__file__)"],
                cwd=tmp_path, env=environment()).stdout.strip()
    assert Path(where).is_relative_to(installed), where

    program = PtyProgram([installed / "bin" / "cwsandbox-tui", "--demo"], env=environment(),
                         cwd=tmp_path)
    try:
        program.wait_for(demo_rows, "the demo's rows")
        program.press("q")
        assert program.wait_exit() == 0
    finally:
        program.close()
    said = plain(after_alt_screen(program.output))  # what keeps running after it, if anything
    assert "Traceback" not in said and "error" not in said.lower()

    listed = run([installed / "bin" / "cwsandbox-tui", "runners", "list"], cwd=tmp_path,
                 env=environment())
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "GROUP", "HEALTHY"], listed.stdout
    assert [row.split()[:3] for row in rows] == [["local-runner", "local", "yes"]], listed.stdout


def _imported_top_levels(package: Path) -> dict[str, str]:
    """Every top-level module the package's sources import (lazily too) -> a file that does."""
    found: dict[str, str] = {}
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], str(source.relative_to(REPO)))
    return found


def test_every_module_the_package_imports_comes_from_a_declared_dependency() -> None:
    """An undeclared import works in a dev venv and fails for someone who installs the
    wheel: `rich` was imported but not declared, `grpc_tools` (test extra only) was imported
    by a module shipped in the package."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {canonical(re.split(r"[\s;<>=!~\[]", spec, maxsplit=1)[0])
                for spec in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_top_levels(REPO / "cwsandbox_tui").items():
        if module in sys.stdlib_module_names or module in ("cwsandbox_tui", "__future__"):
            continue
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared[module] = f"{where} (from {sorted(dists) or 'nothing installed'})"
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
