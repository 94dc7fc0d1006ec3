"""Regenerate the committed protobuf/gRPC modules from the ``.proto`` files beside this script.

Usage (with the ``test`` extra installed, which brings grpcio-tools)::

    python protos/generate.py

Kept out of the shipped package: an installed ``cwsandbox_tui`` never needs grpcio-tools.

This runs ``grpc_tools.protoc`` on the hand-written ``.proto`` files of each API
generation (``coreweave.sandbox.v1beta2`` and ``coreweave.sandbox.v1``), flattens
the output into :mod:`cwsandbox_tui.proto.v1beta2` / :mod:`cwsandbox_tui.proto.v1`
and rewrites the generated module references to point at that package. The
output is a pure function of the ``.proto`` files and the grpcio-tools version,
so regenerating is byte-identical (``tests/test_protos.py`` checks this).
"""

from __future__ import annotations

import importlib.resources
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT: Path = Path(__file__).resolve().parent
REPO_ROOT: Path = PROTO_ROOT.parent
PACKAGE_PROTO_DIR: Path = REPO_ROOT / "cwsandbox_tui" / "proto"
PROTO_PACKAGE_DIR: str = "coreweave/sandbox/v1beta2"
PROTO_FILES: tuple[str, ...] = (
    "gateway.proto", "streaming.proto", "secrets.proto", "discovery.proto")
DEFAULT_OUT_DIR: Path = PACKAGE_PROTO_DIR / "v1beta2"

SOURCE_PACKAGE: str = "coreweave.sandbox.v1beta2"
TARGET_PACKAGE: str = "cwsandbox_tui.proto.v1beta2"

# Suffixes of every file protoc produces per .proto (python, pyi, grpc).
GENERATED_SUFFIXES: tuple[str, ...] = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

INIT_TEXT: str = (
    '"""Generated protobuf/gRPC modules for ``coreweave.sandbox.v1beta2``.\n'
    "\n"
    "Do not edit: regenerate with ``python protos/generate.py``.\n"
    '"""\n'
)

# rewrite_imports changes `from coreweave.sandbox.<gen> import x_pb2` and dotted module
# names such as 'coreweave.sandbox.<gen>.sandbox_pb2' (passed to the descriptor builder).
# Proto full names (e.g. coreweave.sandbox.v1.SandboxService) never end in `_pb2`, so
# they are left untouched.


@dataclass(frozen=True)
class Generation:
    """One API generation: its .proto files and the package they are generated into."""

    name: str  # "v1beta2", "v1"
    proto_files: tuple[str, ...]

    @property
    def proto_package_dir(self) -> str:
        return f"coreweave/sandbox/{self.name}"

    @property
    def source_package(self) -> str:
        return f"coreweave.sandbox.{self.name}"

    @property
    def target_package(self) -> str:
        return f"cwsandbox_tui.proto.{self.name}"

    @property
    def default_out_dir(self) -> Path:
        return PACKAGE_PROTO_DIR / self.name


V1BETA2 = Generation("v1beta2", PROTO_FILES)
V1 = Generation("v1", (
    "runtime_class.proto", "sandbox.proto", "sandbox_data_plane.proto", "settings.proto",
    "volume.proto", "discovery.proto", "sandbox_template.proto",
))
GENERATIONS: tuple[Generation, ...] = (V1BETA2, V1)


def generated_names(gen: Generation = V1BETA2) -> list[str]:
    """Names of all files :func:`generate` writes for ``gen``, sorted."""
    names = [Path(p).stem + suffix for p in gen.proto_files for suffix in GENERATED_SUFFIXES]
    return sorted([*names, "__init__.py"])


def rewrite_imports(text: str, gen: Generation = V1BETA2) -> str:
    """Point generated module references at the generation's target package."""
    source = re.escape(gen.source_package)
    text = re.sub(rf"\bfrom {source} import ", f"from {gen.target_package} import ", text)
    return re.sub(rf"\b{source}\.(\w+_pb2(?:_grpc)?)\b", rf"{gen.target_package}.\1", text)


def _init_text(gen: Generation) -> str:
    return INIT_TEXT.replace(SOURCE_PACKAGE, gen.source_package)


def _run_protoc(proto_root: Path, out_dir: Path, gen: Generation = V1BETA2) -> None:
    include = importlib.resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(f"{gen.proto_package_dir}/{name}" for name in gen.proto_files),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with exit status {status}")


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT, gen: Generation = V1BETA2) -> None:
    """Compile the protos and write the flattened modules into ``out_dir``.

    Stale generated files in ``out_dir`` (``*_pb2*.py[i]`` that protoc no
    longer produces) are removed; other files are left alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(generated_names(gen))
    with tempfile.TemporaryDirectory(prefix="cwsandbox-protoc-") as tmp:
        tmp_path = Path(tmp)
        _run_protoc(proto_root, tmp_path, gen)
        produced = sorted((tmp_path / gen.proto_package_dir).iterdir())
        if {p.name for p in produced} | {"__init__.py"} != wanted:
            raise RuntimeError(f"unexpected protoc output: {[p.name for p in produced]}")
        for src in produced:
            text = rewrite_imports(src.read_text(encoding="utf-8"), gen)
            (out_dir / src.name).write_bytes(text.encode("utf-8"))
    (out_dir / "__init__.py").write_bytes(_init_text(gen).encode("utf-8"))
    for stale in out_dir.iterdir():
        if stale.name.endswith(GENERATED_SUFFIXES) and stale.name not in wanted:
            stale.unlink()


def main() -> int:
    """Regenerate every generation (or, given a directory, only v1beta2 into it)."""
    if len(sys.argv) > 1:
        targets = [(V1BETA2, Path(sys.argv[1]))]
    else:
        targets = [(gen, gen.default_out_dir) for gen in GENERATIONS]
    for gen, out_dir in targets:
        generate(out_dir, gen=gen)
        print(f"generated {len(generated_names(gen))} files into {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
