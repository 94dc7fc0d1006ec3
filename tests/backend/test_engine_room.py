"""The import-linter contract that keeps the engine free of gRPC and generated modules names
every engine module: one added beside the engine is in the contract, or this fails."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cwsandbox_tui.backend

BACKEND = Path(cwsandbox_tui.backend.__file__).parent
PYPROJECT = BACKEND.parents[1] / "pyproject.toml"
WIRE_SIDE = {"__init__", "server"}  # server.py assembles both generations' servicers


def test_every_engine_module_is_in_the_no_wire_contract() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (room,) = [c for c in contracts if c["name"].startswith("the engine knows no wire")]
    assert {"cwsandbox_tui.proto", "grpc", "google"} <= set(room["forbidden_modules"])
    flat = {p.stem for p in BACKEND.glob("*.py")} - WIRE_SIDE
    assert set(room["source_modules"]) == {f"cwsandbox_tui.backend.{name}" for name in flat}
    generations = {p.name for p in BACKEND.iterdir() if (p / "__init__.py").is_file()}
    assert generations == {"v1", "v1beta2", "wire"}, "a new package: engine side or wire side?"
