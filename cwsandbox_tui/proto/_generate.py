"""Regenerate the committed protobuf/gRPC modules from ``<repo>/protos``.

Usage::

    python -m cwsandbox_tui.proto._generate

This runs ``grpc_tools.protoc`` on the hand-written ``.proto`` files, flattens
the output into :mod:`cwsandbox_tui.proto.v1beta2` and rewrites the generated
``coreweave.sandbox.v1beta2`` module references to point at that package. The
output is a pure function of the ``.proto`` files and the grpcio-tools version,
so regenerating is byte-identical (``tests/test_protos.py`` checks this).
"""

from __future__ import annotations

import importlib.resources
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
PROTO_ROOT: Path = REPO_ROOT / "protos"
PROTO_PACKAGE_DIR: str = "coreweave/sandbox/v1beta2"
PROTO_FILES: tuple[str, ...] = ("gateway.proto", "streaming.proto", "secrets.proto")
DEFAULT_OUT_DIR: Path = Path(__file__).resolve().parent / "v1beta2"

SOURCE_PACKAGE: str = "coreweave.sandbox.v1beta2"
TARGET_PACKAGE: str = "cwsandbox_tui.proto.v1beta2"

# Suffixes of every file protoc produces per .proto (python, pyi, grpc).
GENERATED_SUFFIXES: tuple[str, ...] = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

INIT_TEXT: str = (
    '"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1beta2``.\n'
    "\n"
    "Do not edit: regenerate with ``python -m cwsandbox_tui.proto._generate``.\n"
    '"""\n'
)

# `from coreweave.sandbox.v1beta2 import x_pb2` and dotted module names such as
# 'coreweave.sandbox.v1beta2.gateway_pb2' (passed to the descriptor builder).
# Proto full names (e.g. coreweave.sandbox.v1beta2.GatewayService) never end
# in `_pb2`, so they are left untouched.
_IMPORT_RE = re.compile(rf"\bfrom {re.escape(SOURCE_PACKAGE)} import ")
_MODULE_RE = re.compile(rf"\b{re.escape(SOURCE_PACKAGE)}\.(\w+_pb2(?:_grpc)?)\b")


def generated_names() -> list[str]:
    """Names of all files :func:`generate` writes, sorted."""
    names = [Path(p).stem + suffix for p in PROTO_FILES for suffix in GENERATED_SUFFIXES]
    return sorted([*names, "__init__.py"])


def rewrite_imports(text: str) -> str:
    """Point generated module references at :data:`TARGET_PACKAGE`."""
    text = _IMPORT_RE.sub(f"from {TARGET_PACKAGE} import ", text)
    return _MODULE_RE.sub(rf"{TARGET_PACKAGE}.\1", text)


def _run_protoc(proto_root: Path, out_dir: Path) -> None:
    include = importlib.resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(f"{PROTO_PACKAGE_DIR}/{name}" for name in PROTO_FILES),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with exit status {status}")


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT) -> None:
    """Compile the protos and write the flattened modules into ``out_dir``.

    Stale generated files in ``out_dir`` (``*_pb2*.py[i]`` that protoc no
    longer produces) are removed; other files are left alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(generated_names())
    with tempfile.TemporaryDirectory(prefix="cwsandbox-protoc-") as tmp:
        tmp_path = Path(tmp)
        _run_protoc(proto_root, tmp_path)
        produced = sorted((tmp_path / PROTO_PACKAGE_DIR).iterdir())
        if {p.name for p in produced} | {"__init__.py"} != wanted:
            raise RuntimeError(f"unexpected protoc output: {[p.name for p in produced]}")
        for src in produced:
            text = rewrite_imports(src.read_text(encoding="utf-8"))
            (out_dir / src.name).write_bytes(text.encode("utf-8"))
    (out_dir / "__init__.py").write_bytes(INIT_TEXT.encode("utf-8"))
    for stale in out_dir.iterdir():
        if stale.name.endswith(GENERATED_SUFFIXES) and stale.name not in wanted:
            stale.unlink()


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT_DIR
    generate(out_dir)
    print(f"generated {len(generated_names())} files into {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
