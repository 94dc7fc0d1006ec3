"""`runners list|get` and `profiles list|get`: what the endpoint can run sandboxes on."""

from __future__ import annotations

import argparse

from ..client.client import Client
from ..client.models import Profile, Runner
from ..formatting import human_size, iso
from .render import fields as render_fields
from .render import out as _out
from .render import table, to_json

OK = 0


def add_parsers(subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
                common: object) -> None:
    """`common(parser, handler)` adds --json, the connection flags and the handler."""
    runners = subparsers.add_parser("runners", help="list or show runners and their capacity")
    rn = runners.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = rn.add_parser("list", help="list runners with what they have free")
    p.add_argument("--group", default="", help="only this runner group")
    p.add_argument("--profile-name", default="", help="only runners offering this profile")
    p.add_argument("--architecture", default="", help="e.g. amd64, arm64")
    common(p, run_runners_list)  # type: ignore[operator]
    p = rn.add_parser("get", help="show one runner")
    p.add_argument("runner_id")
    common(p, run_runners_get)  # type: ignore[operator]

    profiles = subparsers.add_parser("profiles", help="list or show sandbox profiles")
    pr = profiles.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = pr.add_parser("list", help="list profiles")
    p.add_argument("--runner", default="", help="only profiles of this runner")
    p.add_argument("--architecture", default="")
    common(p, run_profiles_list)  # type: ignore[operator]
    p = pr.add_parser("get", help="show one profile")
    p.add_argument("profile_name")
    p.add_argument("--runner", default="", help="the runner it belongs to")
    common(p, run_profiles_get)  # type: ignore[operator]


def cpu(millicores: int) -> str:
    return f"{millicores / 1000:g}"


def _free(runner: Runner) -> tuple[str, str, str, str]:
    res = runner.resources
    if res is None:
        return "-", "-", "-", "-"
    return (f"{cpu(res.available_cpu_millicores)}/{cpu(runner.max_cpu_millicores)}",
            f"{human_size(res.available_memory_bytes)}/{human_size(runner.max_memory_bytes)}",
            f"{res.available_gpu_count}/{runner.max_gpu_count}", str(res.running_sandboxes))


async def run_runners_list(client: Client, args: argparse.Namespace) -> int:
    rows = await client.list_runners(group_id=args.group, profile_name=args.profile_name,
                                     architecture=args.architecture)
    if args.json:
        _out(to_json(rows))
    elif not rows:
        _out("No runners found.")
    else:
        _out(table(["ID", "GROUP", "HEALTHY", "CPU FREE", "MEMORY FREE", "GPU FREE", "RUNNING",
                    "ARCH", "PROFILES"],
                   [[r.runner_id, r.runner_group_id or "-", "yes" if r.healthy else "no",
                     *_free(r), ",".join(r.architectures) or "-",
                     ",".join(r.profile_names) or "-"] for r in rows]))
    return OK


async def run_runners_get(client: Client, args: argparse.Namespace) -> int:
    runner = await client.get_runner(args.runner_id)
    if args.json:
        _out(to_json(runner))
        return OK
    cpu_free, memory_free, gpu_free, running = _free(runner)
    fields = [("ID", runner.runner_id), ("GROUP", runner.runner_group_id or "-"),
              ("HEALTHY", "yes" if runner.healthy else "no"),
              ("CPU", f"{cpu_free} cores free"), ("MEMORY", f"{memory_free} free"),
              ("GPUS", f"{gpu_free} free" + (f" ({', '.join(runner.gpu_types)})"
                                             if runner.gpu_types else "")),
              ("RUNNING", running), ("ARCH", ", ".join(runner.architectures) or "-"),
              ("PROFILES", ", ".join(runner.profile_names) or "-"),
              ("TAGS", ", ".join(runner.tags) or "-"), ("CONNECTED", iso(runner.connected_at)),
              ("SHARED", "yes" if runner.shared else "no")]
    _out(render_fields(fields))
    return OK


def _profile_row(p: Profile) -> list[str]:
    return [p.name, p.runner_id or "-", ",".join(p.architectures) or "-",
            ",".join(p.gpu_types) or "-", ",".join(p.exposure_modes) or "-",
            ",".join(p.egress_modes) or "-"]


PROFILE_HEADERS = ["NAME", "RUNNER", "ARCH", "GPU TYPES", "INGRESS", "EGRESS"]


async def run_profiles_list(client: Client, args: argparse.Namespace) -> int:
    rows = await client.list_profiles(runner_id=args.runner, architecture=args.architecture)
    if args.json:
        _out(to_json(rows))
    elif not rows:
        _out("No profiles found.")
    else:
        _out(table(PROFILE_HEADERS, [_profile_row(p) for p in rows]))
    return OK


async def run_profiles_get(client: Client, args: argparse.Namespace) -> int:
    profile = await client.get_profile(args.profile_name, runner_id=args.runner)
    if args.json:
        _out(to_json(profile))
    else:
        _out(render_fields(list(zip(PROFILE_HEADERS, _profile_row(profile), strict=True))))
    return OK
