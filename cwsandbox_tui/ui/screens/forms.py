"""The forms of the dashboard: what they ask and how each field is checked locally."""

from __future__ import annotations

import shlex
from pathlib import Path

from ... import naming
from ...client.errors import ConfigError
from ...client.models import SandboxSpec, SnapshotStatus
from ...client.selection import PruneRule, parse_age
from ...client.usage import PRUNE_AGE_DAYS
from .dialogs import FormDialog, FormField


def _required(value: str) -> str | None:
    return None if value else "is required"


def _optional_size(value: str) -> str | None:
    return naming.size_problem(value) if value else None


def _optional_mount(value: str) -> str | None:
    return naming.mount_path_problem(value) if value else None


def _command(value: str) -> str | None:
    if not value:
        return "is required"
    try:
        shlex.split(value)
    except ValueError as exc:
        return f"cannot be split into words: {exc}"
    return None


def _tags(value: str) -> str | None:
    bad = [t for t in (p.strip() for p in value.split(",")) if t and " " in t]
    return f"tags are separated by commas and hold no spaces ({bad[0]!r})" if bad else None


def _optional_cpu(value: str) -> str | None:
    return naming.cpu_problem(value) if value else None


def _optional_memory(value: str) -> str | None:
    return naming.memory_problem(value) if value else None


def _grace(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return f"{value!r} is not a number of seconds"
    return naming.grace_problem(number)


def _age(value: str) -> str | None:
    if not value:
        return None
    try:
        parse_age(value, "Older than")
    except ConfigError as error:
        return str(error)
    return None


def _bucket(value: str) -> str | None:
    return naming.bucket_name_problem(value) if value else None


def _region(value: str) -> str | None:
    return naming.region_problem(value) if value else None


def new_sandbox_form(restore_from: str = "", errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, mount_path: str = "",
                     refused: str = "") -> FormDialog:
    v = values or {}
    e = errors or {}
    fields = [
        FormField("image", "Image", v.get("image", "python:3.11"), validate=_required,
                  help="not pulled locally: python:X gets python, pip"),
        FormField("command", "Command", v.get("command", "sleep infinity"), validate=_command,
                  help="run with /bin/sh -c"),
        FormField("tags", "Tags", v.get("tags", ""), placeholder="team-a, experiment-7",
                  validate=_tags),
        FormField("mount_path", "Mount path",
                  v.get("mount_path", mount_path or ("/workspace" if restore_from else "")),
                  placeholder="/workspace (empty: no file-system mount)",
                  validate=_optional_mount),
        FormField("size", "Size", v.get("size", ""), placeholder="10Gi", validate=_optional_size),
        FormField("restore_from", "Restore from snapshot", v.get("restore_from", restore_from),
                  placeholder="fss-... (empty: start with an empty mount)"),
        FormField("profile", "Profile", v.get("profile", ""),
                  placeholder="default (empty: any; see 4 Runners)"),
        FormField("runner", "Runner", v.get("runner", ""),
                  placeholder="local-runner (empty: any)"),
        FormField("cpu", "CPU request", v.get("cpu", ""), placeholder="500m or 2",
                  validate=_optional_cpu),
        FormField("memory", "Memory request", v.get("memory", ""), placeholder="512Mi or 2Gi",
                  validate=_optional_memory),
    ]
    for f in fields:
        f.error = e.get(f.name, "")
    title = f"Restore {restore_from} into a new sandbox" if restore_from else "New sandbox"
    note = f"The server did not start it: {refused}" if refused else ""
    return FormDialog(title, fields, submit="Start", note=note, relation=_restore_needs_mount)


def _restore_needs_mount(values: dict[str, str]) -> dict[str, str]:
    if values.get("restore_from") and not values.get("mount_path"):
        return {"mount_path": "is required to restore a snapshot (its files are unpacked "
                              "there); clear the snapshot to start without one"}
    return {}


def spec_from(values: dict[str, str]) -> SandboxSpec:
    tags = tuple(t.strip() for t in values.get("tags", "").split(",") if t.strip())
    return SandboxSpec(
        image=values["image"], command="/bin/sh", args=("-c", values["command"]), tags=tags,
        mount_path=values.get("mount_path", ""), size=values.get("size", ""),
        restore_from=values.get("restore_from", ""), profile_name=values.get("profile", ""),
        runner_id=values.get("runner", ""), cpu=values.get("cpu", ""),
        memory=values.get("memory", ""))


def stop_snapshot_form(sandbox_id: str) -> FormDialog:
    return FormDialog(
        f"Stop {sandbox_id} with a snapshot", [
            FormField("grace", "Grace (seconds, 0-300)", "10", validate=_grace,
                      help="between SIGTERM and SIGKILL, after the archive is written"),
        ], submit="Stop", note="Its mount is archived first (trigger STOP), then it stops.")


def exec_form(sandbox_id: str) -> FormDialog:
    return FormDialog(f"Exec in {sandbox_id}", [
        FormField("command", "Command", "", placeholder="ls -la /workspace", validate=_command,
                  help="run with /bin/sh -c inside the sandbox"),
    ], submit="Run")


def prune_form() -> FormDialog:
    return FormDialog("Prune snapshots", [
        FormField("older_than", "Older than", f"{PRUNE_AGE_DAYS}d", validate=_age,
                  help="an age like 7d, 12h, 30m (empty: any age)"),
        FormField("ready", "READY", "false", kind="check"),
        FormField("failed", "FAILED", "false", kind="check"),
        FormField("creating", "CREATING", "false", kind="check"),
        FormField("source", "Source sandbox", "", placeholder="sb-... (empty: any)"),
    ], submit="Preview", note="Matching snapshots are shown and marked; nothing is deleted "
                               "until you confirm.")


PRUNE_STATUSES = ("ready", "failed", "creating")  # the form's checkboxes


def prune_rule(values: dict[str, str]) -> PruneRule:
    """The prune form's answers as the rule `snapshots prune` applies."""
    statuses = ",".join(s for s in PRUNE_STATUSES if values.get(s) == "true")
    return PruneRule.parse(values.get("older_than", ""), statuses, values.get("source", ""),
                           age_field="Older than", status_field="Status")


def prune_filter(rule: PruneRule) -> str:
    """The filter expression that shows what `rule` selects: the view of a prune, whose marks
    are the rule's own selection (`selection.select`)."""
    terms = []
    if rule.older_than is not None:
        terms.append(f"age>={_age_text(rule.older_than)}")
    chosen = sorted(s.value for s in rule.statuses)
    if len(chosen) == 1:
        terms.append(f"status={chosen[0]}")
    else:  # the filter has no "or": the other statuses are left out, deleting always
        shown = set(chosen) or {s.value for s in SnapshotStatus}
        shown.discard(SnapshotStatus.DELETING.value)
        terms += [f"!status={s.value}" for s in SnapshotStatus
                  if s.value not in shown and s is not SnapshotStatus.UNSPECIFIED]
    if rule.source_sandbox:
        terms.append(f"source={shlex.quote(rule.source_sandbox)}")
    return " ".join(terms)


def _age_text(seconds: float) -> str:
    """Seconds as the largest whole unit the filter reads (604800 -> 7d)."""
    for suffix, unit in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= unit and seconds % unit == 0:
            return f"{int(seconds // unit)}{suffix}"
    return f"{seconds:g}s"


def bucket_form(bucket_name: str, region: str, errors: dict[str, str] | None = None) -> FormDialog:
    e = errors or {}
    return FormDialog("Snapshot bucket", [
        FormField("bucket_name", "Bucket name", bucket_name,
                  placeholder="my-bucket (empty: managed)",
                  validate=_bucket, error=e.get("bucket_name", "")),
        FormField("region", "Region", region, placeholder="us-east-1", validate=_region,
                  error=e.get("region", "")),
    ], submit="Save", note="New snapshots go to this bucket; existing ones stay where they are.")


def _export_path(value: str) -> str | None:
    if not value:
        return "is required"
    if not value.lower().endswith((".csv", ".json")):
        return "must end in .csv or .json (that chooses the format)"
    folder = Path(value).expanduser().parent
    if not folder.is_dir():
        return f"no directory {folder} (it is not created: make it first, or choose another)"
    return None


def export_form(default_name: str, count: int, kind: str) -> FormDialog:
    return FormDialog(f"Export {count} shown {kind}", [
        FormField("path", "File", default_name, validate=_export_path,
                  help=".csv or .json; relative to the directory the dashboard started in"),
    ], submit="Write", note="The rows as filtered and sorted on screen, every field of each.")
