"""Checks for the hand-written .proto files and their committed generated modules.

1. The committed modules in ``cwsandbox_tui/proto/v1beta2`` are exactly what
   ``python protos/generate.py`` produces from ``protos/``.
2. The compiled descriptors agree with the wire facts in the shared fact sheet
   (``../shared/reference/api-v1beta2.md``): field numbers, types, labels,
   oneofs, reserved numbers/names, enum values and service methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from cwsandbox_tui.proto.v1beta2 import discovery_pb2, gateway_pb2, secrets_pb2, streaming_pb2
from protos import generate as _generate

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATED_DIR = REPO_ROOT / "cwsandbox_tui" / "proto" / "v1beta2"
# The sheets sit beside the repository (or beside the worktrees' parent for a worktree).
FACT_SHEET = next(
    (p for p in (REPO_ROOT.parent / "shared" / "reference" / "api-v1beta2.md",
                 REPO_ROOT.parents[1] / "shared" / "reference" / "api-v1beta2.md") if p.exists()),
    REPO_ROOT.parent / "shared" / "reference" / "api-v1beta2.md",
)
DISCOVERY_SHEET = FACT_SHEET.with_name("api-v1beta2-discovery.md")
PACKAGE = "coreweave.sandbox.v1beta2"
# Our documented local extensions: fields numbered from 1001 and the messages they carry.
# They are left out of the comparison with the fact sheet (and checked on their own below).
LOCAL_EXTENSION_FIRST_NUMBER = 1001
LOCAL_EXTENSION_MESSAGES = {"LocalSandboxDetails", "LocalEnforcedLimits"}
REGENERATE_HINT = "run `python protos/generate.py` and commit the result"

# proto file (as named in the fact sheet) -> our generated module
MODULES = {
    f"{PACKAGE.replace('.', '/')}/gateway.proto": gateway_pb2,
    f"{PACKAGE.replace('.', '/')}/streaming.proto": streaming_pb2,
    f"{PACKAGE.replace('.', '/')}/secrets.proto": secrets_pb2,
}


# ---------------------------------------------------------------------------
# 1. Generated code is up to date
# ---------------------------------------------------------------------------


def _committed_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    _generate.generate(tmp_path)
    fresh = _committed_files(tmp_path)
    committed = _committed_files(GENERATED_DIR)

    assert sorted(fresh) == _generate.generated_names()
    missing = sorted(set(fresh) - set(committed))
    extra = sorted(set(committed) - set(fresh))
    stale = sorted(name for name in set(fresh) & set(committed) if fresh[name] != committed[name])
    assert not (missing or extra or stale), (
        f"cwsandbox_tui/proto/v1beta2 is out of date (missing={missing}, extra={extra}, "
        f"differing={stale}); {REGENERATE_HINT}"
    )


def test_rewritten_imports_point_at_our_package() -> None:
    for name, data in _committed_files(GENERATED_DIR).items():
        text = data.decode("utf-8")
        assert "from coreweave" not in text, f"{name} still imports coreweave.*; {REGENERATE_HINT}"
        assert not re.search(r"coreweave\.sandbox\.v1beta2\.\w+_pb2", text), name


# ---------------------------------------------------------------------------
# 2. Wire facts: fact-sheet tables vs. compiled descriptors
# ---------------------------------------------------------------------------


@dataclass
class Block:
    """One `#### message|enum|service` section of the fact sheet."""

    kind: str
    name: str
    rows: list[dict[str, str]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


@dataclass
class FileFacts:
    """One `### File` section of the fact sheet."""

    bullets: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


_FILE_RE = re.compile(r"^### File `([^`]+)`")
_BLOCK_RE = re.compile(r"^#### (message|enum|service) `([^`]+)`")


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]


def parse_fact_sheet(text: str) -> dict[str, FileFacts]:
    """Split the sheet into files -> blocks -> table rows (as dicts) and bullets."""
    files: dict[str, FileFacts] = {}
    current_file: FileFacts | None = None
    block: Block | None = None
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            match = _FILE_RE.match(line)
            current_file = files.setdefault(match.group(1), FileFacts()) if match else None
            block, header = None, None
        elif current_file is None:
            continue
        elif match := _BLOCK_RE.match(line):
            block, header = Block(match.group(1), match.group(2)), None
            current_file.blocks.append(block)
        elif line.startswith("|"):
            if block is None:
                continue
            cells = _cells(line)
            if header is None:
                header = cells
            elif not set(line) <= set("|-: "):  # skip the |---|---| separator
                assert len(cells) == len(header), f"bad table row in {block.name}: {line}"
                block.rows.append(dict(zip(header, cells, strict=True)))
        elif line.startswith("- "):
            (block.bullets if block else current_file.bullets).append(line[2:].replace("`", ""))
    return files


def _bullet(bullets: list[str], key: str) -> str | None:
    for bullet in bullets:
        if bullet.startswith(f"{key}:"):
            return bullet.split(":", 1)[1].strip()
    return None


def _reserved_from_sheet(bullets: list[str]) -> tuple[list[tuple[int, int]], list[str]]:
    """Reserved numbers as inclusive (start, end) ranges, and reserved names."""
    ranges: list[tuple[int, int]] = []
    for part in (_bullet(bullets, "reserved numbers") or "").split(","):
        if part.strip():
            start, _, end = part.strip().partition("-")
            ranges.append((int(start), int(end or start)))
    names = [n.strip() for n in (_bullet(bullets, "reserved names") or "").split(",") if n.strip()]
    return sorted(ranges), sorted(names)


def _options(cell: str) -> str:
    return "deprecated" if "deprecated" in [o.strip() for o in cell.split(",")] else ""


def expected_facts(facts: FileFacts) -> dict[str, object]:
    """Flatten a fact-sheet file section into comparable key -> value pairs."""
    out: dict[str, object] = {
        "package": _bullet(facts.bullets, "package"),
        "syntax": _bullet(facts.bullets, "syntax"),
        "go_package": _bullet(facts.bullets, "option go_package"),
    }
    for block in facts.blocks:
        prefix = f"{block.kind} {block.name}"
        out[prefix] = "defined"
        if block.kind == "message":
            for row in block.rows:
                label = row["label"] if row["label"] in ("repeated", "map", "optional") else ""
                out[f"{prefix}.{row['field']}"] = (
                    int(row["#"]), row["type"], label, row["oneof"], _options(row["options"])
                )
            out[f"{prefix} reserved"] = _reserved_from_sheet(block.bullets)
        elif block.kind == "enum":
            for row in block.rows:
                out[f"{prefix}.{row['value']}"] = (int(row["number"]), _options(row["options"]))
            out[f"{prefix} reserved"] = _reserved_from_sheet(block.bullets)
        else:
            for row in block.rows:
                out[f"{prefix}.{row['method']}"] = (row["request"], row["response"], row["kind"])
    return out


_SCALARS = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
}


_OWN_PACKAGE_RE = re.compile(r"^coreweave\.sandbox\.\w+\.")


def _short(type_name: str) -> str:
    """'.coreweave.sandbox.<gen>.X.Y' -> 'X.Y'; other packages keep their full name."""
    return _OWN_PACKAGE_RE.sub("", type_name.lstrip("."))


def file_proto(module: ModuleType) -> descriptor_pb2.FileDescriptorProto:
    """The compiled descriptor of a generated ``*_pb2`` module, as a proto."""
    fdp = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fdp)
    return fdp


def actual_facts(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, object]:
    """Flatten a compiled file descriptor into the same key -> value shape."""
    out: dict[str, object] = {
        "package": fdp.package,
        "syntax": fdp.syntax,
        "go_package": fdp.options.go_package,
    }

    def map_entries(
        msg: descriptor_pb2.DescriptorProto,
    ) -> dict[str, descriptor_pb2.DescriptorProto]:
        return {nested.name: nested for nested in msg.nested_type if nested.options.map_entry}

    def field_type(fld: descriptor_pb2.FieldDescriptorProto) -> str:
        if fld.type_name:
            return _short(fld.type_name)
        return _SCALARS[fld.type]

    def add_enum(enum: descriptor_pb2.EnumDescriptorProto, scope: str) -> None:
        prefix = f"enum {scope}{enum.name}"
        out[prefix] = "defined"
        for value in enum.value:
            out[f"{prefix}.{value.name}"] = (
                value.number, "deprecated" if value.options.deprecated else ""
            )
        ranges = sorted((r.start, r.end) for r in enum.reserved_range)  # enum ends are inclusive
        out[f"{prefix} reserved"] = (ranges, sorted(enum.reserved_name))

    def add_message(msg: descriptor_pb2.DescriptorProto, scope: str) -> None:
        if msg.name in LOCAL_EXTENSION_MESSAGES:
            return
        name = f"{scope}{msg.name}"
        prefix = f"message {name}"
        out[prefix] = "defined"
        entries = map_entries(msg)
        for fld in msg.field:
            if fld.number >= LOCAL_EXTENSION_FIRST_NUMBER:
                continue
            entry = entries.get(_short(fld.type_name).rpartition(".")[2]) if fld.type_name else None
            if entry is not None and fld.label == fld.LABEL_REPEATED:
                key, value = entry.field
                type_, label = f"map<{field_type(key)}, {field_type(value)}>", "map"
            elif fld.label == fld.LABEL_REPEATED:
                type_, label = field_type(fld), "repeated"
            else:
                type_, label = field_type(fld), "optional" if fld.proto3_optional else ""
            real_oneof = fld.HasField("oneof_index") and not fld.proto3_optional
            oneof = msg.oneof_decl[fld.oneof_index].name if real_oneof else ""
            deprecated = "deprecated" if fld.options.deprecated else ""
            out[f"{prefix}.{fld.name}"] = (fld.number, type_, label, oneof, deprecated)
        # message ends are exclusive
        ranges = sorted((r.start, r.end - 1) for r in msg.reserved_range)
        out[f"{prefix} reserved"] = (ranges, sorted(msg.reserved_name))
        for nested in msg.nested_type:
            if not nested.options.map_entry:
                add_message(nested, f"{name}.")
        for enum in msg.enum_type:
            add_enum(enum, f"{name}.")

    for enum in fdp.enum_type:
        add_enum(enum, "")
    for msg in fdp.message_type:
        add_message(msg, "")
    for service in fdp.service:
        out[f"service {service.name}"] = "defined"
        for method in service.method:
            kind = {
                (False, False): "unary",
                (False, True): "server-streaming",
                (True, False): "client-streaming",
                (True, True): "bidi-streaming",
            }[(method.client_streaming, method.server_streaming)]
            out[f"service {service.name}.{method.name}"] = (
                _short(method.input_type), _short(method.output_type), kind
            )
    return out


@pytest.fixture(scope="module")
def fact_sheet() -> dict[str, FileFacts]:
    if not FACT_SHEET.exists():
        pytest.skip(f"fact sheet not found at {FACT_SHEET}")
    return parse_fact_sheet(FACT_SHEET.read_text(encoding="utf-8"))


def test_fact_sheet_parser_sees_every_block(fact_sheet: dict[str, FileFacts]) -> None:
    """Guard against a silently broken parser: match the sheet's own 'counts' line."""
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


def compare(expected: dict[str, object], actual: dict[str, object]) -> list[str]:
    """Human-readable differences between fact-sheet and descriptor facts."""
    absent = "<absent>"
    return [
        f"{key}: fact sheet={expected.get(key, absent)!r} ours={actual.get(key, absent)!r}"
        for key in sorted(set(expected) | set(actual))
        if expected.get(key, absent) != actual.get(key, absent)
    ]


@pytest.mark.parametrize("proto_file", sorted(MODULES), ids=lambda p: Path(p).stem)
def test_descriptors_match_fact_sheet(fact_sheet: dict[str, FileFacts], proto_file: str) -> None:
    problems = compare(expected_facts(fact_sheet[proto_file]),
                       actual_facts(file_proto(MODULES[proto_file])))
    assert not problems, f"{proto_file} differs from the fact sheet:\n" + "\n".join(problems)


# Each mutation breaks one wire fact in a scratch copy of the protos; the
# comparison above must report exactly the key that was broken.
MUTATIONS = [
    ("gateway", "optional bool wait_for_ready = 6;", "optional bool wait_for_ready = 7;",
     "message StopSandboxRequest.wait_for_ready"),
    ("gateway", "int64 size_bytes = 4;", "int32 size_bytes = 4;",
     "message FileSystemSnapshot.size_bytes"),
    ("gateway", "optional int32 max_timeout_seconds = 4;", "int32 max_timeout_seconds = 4;",
     "message CreateFileSystemSnapshotRequest.max_timeout_seconds"),
    ("gateway", "SANDBOX_STATUS_TERMINATING = 9;", "SANDBOX_STATUS_TERMINATING = 8;",
     "enum SandboxStatus.SANDBOX_STATUS_TERMINATING"),
    ("gateway", "SANDBOX_STATUS_TERMINATED = 5 [deprecated = true];",
     "SANDBOX_STATUS_TERMINATED = 5;",
     "enum SandboxStatus.SANDBOX_STATUS_TERMINATED"),
    ("gateway", "reserved 2 to 9;", "reserved 2 to 8;",
     "message RunnerClusterSecretReference reserved"),
    ("streaming", "rpc StreamLogs(stream LogStreamRequest)", "rpc StreamLogs(LogStreamRequest)",
     "service GatewayStreamingService.StreamLogs"),
    ("streaming", "map<string, string> env = 6;", "map<string, bytes> env = 6;",
     "message ExecStreamInit.env"),
]


@pytest.mark.parametrize(("stem", "old", "new", "key"), MUTATIONS, ids=[m[3] for m in MUTATIONS])
def test_comparison_catches_mutation(
    fact_sheet: dict[str, FileFacts], tmp_path: Path, stem: str, old: str, new: str, key: str
) -> None:
    proto_dir = tmp_path / "protos" / _generate.PROTO_PACKAGE_DIR
    proto_dir.mkdir(parents=True)
    for name in _generate.PROTO_FILES:
        source = _generate.PROTO_ROOT / _generate.PROTO_PACKAGE_DIR / name
        text = source.read_text(encoding="utf-8")
        if name == f"{stem}.proto":
            assert text.count(old) == 1, f"mutation anchor {old!r} not found once in {name}"
            text = text.replace(old, new)
        (proto_dir / name).write_text(text, encoding="utf-8")

    target = f"{_generate.PROTO_PACKAGE_DIR}/{stem}.proto"
    descriptor_set = tmp_path / "set.binpb"
    include = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        ["protoc", f"-I{tmp_path / 'protos'}", f"-I{include}",
         f"--descriptor_set_out={descriptor_set}", target]
    )
    assert status == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())

    problems = compare(expected_facts(fact_sheet[target]), actual_facts(fds.file[0]))
    assert [p.split(":", 1)[0] for p in problems] == [key]


def test_local_extensions_stay_clear_of_api_numbers() -> None:
    fdp = file_proto(gateway_pb2)
    carriers = {}
    for msg in fdp.message_type:
        for fld in msg.field:
            if fld.number >= LOCAL_EXTENSION_FIRST_NUMBER:
                carriers[msg.name] = (fld.name, fld.number, fld.type_name.rpartition(".")[2])
    assert carriers == {
        "GetSandboxResponse": ("local_details", 1001, "LocalSandboxDetails"),
        "SandboxInfo": ("local_details", 1001, "LocalSandboxDetails"),
    }


# ---------------------------------------------------------------------------
# 3. DiscoveryService: its fact sheet is a descriptor dump rather than tables
# ---------------------------------------------------------------------------

DISCOVERY_PROTO = f"{PACKAGE.replace('.', '/')}/discovery.proto"
_DUMP_FILE = re.compile(r"^file (\S+) package (\S+) ")
_DUMP_FIELD = re.compile(r"^\s+(\d+) (\w+):\s+(repeated )?\s*(\S+)$")
_DUMP_ENUM = re.compile(r"^enum (\S+): (.*)$")
_DUMP_RPC = re.compile(r"^\s+rpc (\w+)\((stream )?(\S+)\) returns \((stream )?(\S+)\)$")


def parse_descriptor_dump(text: str) -> tuple[str, dict[str, object]]:
    """The fenced dump of the discovery sheet as (file name, facts like actual_facts())."""
    block = text.split("```", 2)[1]
    facts: dict[str, object] = {}
    file_name = ""
    scope = ""
    for line in block.splitlines():
        if match := _DUMP_FILE.match(line):
            file_name = match.group(1)
            facts["package"] = match.group(2)
        elif line.startswith("message "):
            scope = f"message {_short(line.split()[1])}"
            facts[scope] = "defined"
            facts[f"{scope} reserved"] = ([], [])
        elif match := _DUMP_ENUM.match(line):
            scope = f"enum {_short(match.group(1))}"
            facts[scope] = "defined"
            facts[f"{scope} reserved"] = ([], [])
            for value in match.group(2).split(","):
                name, number = value.strip().split("=")
                facts[f"{scope}.{name}"] = (int(number), "")
        elif line.startswith("service "):
            scope = f"service {_short(line.split()[1])}"
            facts[scope] = "defined"
        elif match := _DUMP_RPC.match(line):
            kind = {(False, False): "unary", (False, True): "server-streaming",
                    (True, False): "client-streaming", (True, True): "bidi-streaming"}[
                (bool(match.group(2)), bool(match.group(4)))]
            facts[f"{scope}.{match.group(1)}"] = (
                _short(match.group(3)), _short(match.group(5)), kind)
        elif match := _DUMP_FIELD.match(line):
            number, name, repeated, type_ = match.groups()
            facts[f"{scope}.{name}"] = (int(number), _short(type_),
                                        "repeated" if repeated else "", "", "")
    return file_name, facts


@pytest.fixture(scope="module")
def discovery_sheet() -> tuple[str, dict[str, object]]:
    if not DISCOVERY_SHEET.exists():
        pytest.skip(f"fact sheet not found at {DISCOVERY_SHEET}")
    return parse_descriptor_dump(DISCOVERY_SHEET.read_text(encoding="utf-8"))


def _discovery_actual(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, object]:
    facts = actual_facts(fdp)
    for key in ("syntax", "go_package"):  # the dump does not record them
        facts.pop(key)
    return facts


def test_discovery_dump_parser_sees_every_block(
    discovery_sheet: tuple[str, dict[str, object]],
) -> None:
    text = DISCOVERY_SHEET.read_text(encoding="utf-8").split("```", 2)[1]
    name, facts = discovery_sheet
    assert name == DISCOVERY_PROTO
    kinds = [key.split()[0] for key, value in facts.items() if value == "defined"]
    assert kinds.count("message") == text.count("\nmessage ") == 12
    assert kinds.count("enum") == text.count("\nenum ") == 1
    assert kinds.count("service") == 1
    fields = [k for k, v in facts.items() if isinstance(v, tuple) and len(v) == 5]
    assert len(fields) == len(re.findall(r"^\s+\d+ \w+:", text, re.M))
    assert sum(1 for k in facts if k.startswith("service DiscoveryService.")) == 4


def test_discovery_descriptors_match_fact_sheet(
    discovery_sheet: tuple[str, dict[str, object]],
) -> None:
    _, expected = discovery_sheet
    problems = compare(expected, _discovery_actual(file_proto(discovery_pb2)))
    assert not problems, "discovery.proto differs from the fact sheet:\n" + "\n".join(problems)


DISCOVERY_MUTATIONS = [
    ("int32 running_sandboxes = 4;", "int64 running_sandboxes = 4;",
     "message RunnerResourceSummary.running_sandboxes"),
    ("RunnerView view = 9;", "RunnerView view = 10;", "message ListAvailableRunnersRequest.view"),
    ("repeated string profile_names = 7;", "string profile_names = 7;",
     "message AvailableRunner.profile_names"),
    ("RUNNER_VIEW_FULL = 2;", "RUNNER_VIEW_FULL = 3;", "enum RunnerView.RUNNER_VIEW_FULL"),
    ("rpc GetProfile(GetProfileRequest) returns (ProfileSummary);",
     "rpc GetProfile(GetProfileRequest) returns (stream ProfileSummary);",
     "service DiscoveryService.GetProfile"),
]


@pytest.mark.parametrize(("old", "new", "key"), DISCOVERY_MUTATIONS,
                         ids=[m[2] for m in DISCOVERY_MUTATIONS])
def test_discovery_comparison_catches_mutation(
    discovery_sheet: tuple[str, dict[str, object]], tmp_path: Path, old: str, new: str, key: str
) -> None:
    proto_dir = tmp_path / "protos" / _generate.PROTO_PACKAGE_DIR
    proto_dir.mkdir(parents=True)
    source = _generate.PROTO_ROOT / _generate.PROTO_PACKAGE_DIR / "discovery.proto"
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"mutation anchor {old!r} not found once"
    (proto_dir / "discovery.proto").write_text(text.replace(old, new), encoding="utf-8")
    descriptor_set = tmp_path / "set.binpb"
    include = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(["protoc", f"-I{tmp_path / 'protos'}", f"-I{include}",
                          f"--descriptor_set_out={descriptor_set}", DISCOVERY_PROTO])
    assert status == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    _, expected = discovery_sheet
    problems = compare(expected, _discovery_actual(fds.file[0]))
    assert [p.split(":", 1)[0] for p in problems] == [key]
