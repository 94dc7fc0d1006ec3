"""The v1 protos (``coreweave.sandbox.v1``) against their generated modules and the fact sheet.

Same checks as ``test_protos.py`` does for v1beta2, over the 7 files of
``../shared/reference/api-v1.md``: the committed modules in ``cwsandbox_tui/proto/v1`` are
what ``python protos/generate.py`` produces, and every field number, type,
label, oneof, reserved range, enum value and method agrees with the sheet's tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc
from test_protos import FACT_SHEET as FACT_SHEET_V1BETA2
from test_protos import (
    REGENERATE_HINT,
    FileFacts,
    _bullet,
    actual_facts,
    compare,
    expected_facts,
    file_proto,
    parse_fact_sheet,
)

from cwsandbox_tui.proto.v1 import (
    discovery_pb2,
    runtime_class_pb2,
    sandbox_data_plane_pb2,
    sandbox_pb2,
    sandbox_template_pb2,
    settings_pb2,
    volume_pb2,
)
from protos import generate as _generate

REPO_ROOT = Path(__file__).resolve().parents[1]
GEN = _generate.V1
GENERATED_DIR = REPO_ROOT / "cwsandbox_tui" / "proto" / "v1"
FACT_SHEET = FACT_SHEET_V1BETA2.with_name("api-v1.md")

MODULES: dict[str, ModuleType] = {
    f"{GEN.proto_package_dir}/{Path(m.__file__ or '').name.removesuffix('_pb2.py')}.proto": m
    for m in (sandbox_pb2, sandbox_data_plane_pb2, settings_pb2, volume_pb2, discovery_pb2,
              sandbox_template_pb2, runtime_class_pb2)
}


def _committed_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_generated_v1_modules_are_up_to_date(tmp_path: Path) -> None:
    _generate.generate(tmp_path, gen=GEN)
    fresh = _committed_files(tmp_path)
    committed = _committed_files(GENERATED_DIR)
    assert sorted(fresh) == _generate.generated_names(GEN)
    differing = sorted(n for n in set(fresh) | set(committed) if fresh.get(n) != committed.get(n))
    assert not differing, f"cwsandbox_tui/proto/v1 is out of date ({differing}); {REGENERATE_HINT}"


def test_v1_imports_point_at_our_package() -> None:
    for name, data in _committed_files(GENERATED_DIR).items():
        text = data.decode("utf-8")
        assert "from coreweave" not in text, f"{name} still imports coreweave.*; {REGENERATE_HINT}"
        assert not re.search(r"coreweave\.sandbox\.v1\.\w+_pb2", text), name


def test_both_generations_live_in_one_process() -> None:
    """v1 and v1beta2 share the default descriptor pool: full names must not collide."""
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2

    assert sandbox_pb2.FileSystemSnapshot.DESCRIPTOR.full_name == (
        "coreweave.sandbox.v1.FileSystemSnapshot")
    assert gateway_pb2.FileSystemSnapshot.DESCRIPTOR.full_name == (
        "coreweave.sandbox.v1beta2.FileSystemSnapshot")
    # the snapshot trigger changed meaning between generations (4.2 of the sheet)
    assert sandbox_pb2.SNAPSHOT_TRIGGER_MANUAL == 1
    assert gateway_pb2.FILE_SYSTEM_SNAPSHOT_TRIGGER_STOP == 1


@pytest.fixture(scope="module")
def fact_sheet() -> dict[str, FileFacts]:
    if not FACT_SHEET.exists():
        pytest.skip(f"fact sheet not found at {FACT_SHEET}")
    return parse_fact_sheet(FACT_SHEET.read_text(encoding="utf-8"))


def test_v1_fact_sheet_parser_sees_every_block(fact_sheet: dict[str, FileFacts]) -> None:
    assert sorted(fact_sheet) == sorted(MODULES)
    for proto_file in MODULES:
        facts = fact_sheet[proto_file]
        counts = _bullet(facts.bullets, "counts") or ""
        numbers = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) ([\w -]+?)\(s\)", counts))
        top_level = [b for b in facts.blocks if "." not in b.name]
        methods = sum(len(b.rows) for b in facts.blocks if b.kind == "service")
        assert numbers["top-level message"] == sum(b.kind == "message" for b in top_level)
        assert numbers["top-level enum"] == sum(b.kind == "enum" for b in top_level)
        assert numbers["service"] == sum(b.kind == "service" for b in facts.blocks)
        assert numbers["method"] == methods


@pytest.mark.parametrize("proto_file", sorted(MODULES), ids=lambda p: Path(p).stem)
def test_v1_descriptors_match_fact_sheet(fact_sheet: dict[str, FileFacts],
                                         proto_file: str) -> None:
    problems = compare(expected_facts(fact_sheet[proto_file]),
                       actual_facts(file_proto(MODULES[proto_file])))
    assert not problems, f"{proto_file} differs from the fact sheet:\n" + "\n".join(problems)


# Each mutation breaks one wire fact in a scratch copy of the v1 protos; the comparison
# must report exactly the key that was broken.
MUTATIONS = [
    ("sandbox", "STATE_TERMINATING = 5;", "STATE_TERMINATING = 10;",
     "enum State.STATE_TERMINATING"),
    ("sandbox", "SNAPSHOT_TRIGGER_ON_DELETE = 2;", "SNAPSHOT_TRIGGER_ON_DELETE = 3;",
     "enum SnapshotTrigger.SNAPSHOT_TRIGGER_ON_DELETE"),
    ("sandbox", "string source_sandbox_id = 5;", "string source_sandbox_id = 13;",
     "message FileSystemSnapshot.source_sandbox_id"),
    ("sandbox", "optional int32 exit_code = 9;", "int32 exit_code = 9;",
     "message SandboxStatus.exit_code"),
    ("sandbox", "repeated string snapshot_volumes = 3;", "string snapshot_volumes = 3;",
     "message DeleteSandboxRequest.snapshot_volumes"),
    ("sandbox", "rpc StreamLogs(StreamLogsRequest) returns (stream LogEntry);",
     "rpc StreamLogs(stream StreamLogsRequest) returns (stream LogEntry);",
     "service SandboxService.StreamLogs"),
    ("sandbox", "bytes stdin = 2;", "string stdin = 2;", "message ExecStreamRequest.stdin"),
    ("sandbox", "reserved 2, 12;", "reserved 2;", "message SandboxSpec reserved"),
    ("settings", "FileSystemSnapshotBucketConfig file_system_snapshot_bucket_config = 1;",
     "FileSystemSnapshotBucketConfig file_system_snapshot_bucket_config = 3;",
     "message UpdateFileSystemSnapshotBucketConfigRequest.file_system_snapshot_bucket_config"),
    ("discovery", "string organization_id = 3;", "string organization_id = 4;",
     "message GetAvailableRunnerRequest.organization_id"),
    ("volume", "map", "map", None),  # an unchanged copy: no difference at all
]


@pytest.mark.parametrize(("stem", "old", "new", "key"), MUTATIONS,
                         ids=[m[3] or f"{m[0]} unchanged" for m in MUTATIONS])
def test_v1_comparison_catches_mutation(fact_sheet: dict[str, FileFacts], tmp_path: Path,
                                        stem: str, old: str, new: str, key: str | None) -> None:
    proto_dir = tmp_path / "protos" / GEN.proto_package_dir
    proto_dir.mkdir(parents=True)
    for name in GEN.proto_files:
        text = (_generate.PROTO_ROOT / GEN.proto_package_dir / name).read_text(encoding="utf-8")
        if name == f"{stem}.proto" and key is not None:
            # the first occurrence is the one meant (`reserved 2, 12;` is also in
            # PartialSandboxSpec, declared later)
            assert old in text, f"mutation anchor {old!r} not found in {name}"
            text = text.replace(old, new, 1)
        (proto_dir / name).write_text(text, encoding="utf-8")

    target = f"{GEN.proto_package_dir}/{stem}.proto"
    descriptor_set = tmp_path / "set.binpb"
    include = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(["protoc", f"-I{tmp_path / 'protos'}", f"-I{include}",
                          f"--descriptor_set_out={descriptor_set}", target])
    assert status == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    problems = compare(expected_facts(fact_sheet[target]), actual_facts(fds.file[0]))
    assert [p.split(":", 1)[0] for p in problems] == ([key] if key else [])
