"""What this machine offers as a runner, free of protobuf (any API generation serves it).

The local machine is one runner: its capacity is what it really has (the cores this process
may use, its memory, its GPUs), its availability is that capacity less what running sandboxes
asked for, and its profiles are the sandbox kinds it really provides, each with the network
modes it enforces and the architecture it runs.
"""

from __future__ import annotations

import glob
import os
import platform
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import naming
from . import network
from .errors import ApiError, Code, invalid

RUNNER_ID = "local-runner"
RUNNER_GROUP_ID = "local"
DEFAULT_PROFILE = "default"
# What a sandbox that asks for nothing holds (as a Kubernetes BestEffort pod: nothing).
DEFAULT_CPU_MILLICORES = 0
DEFAULT_MEMORY_BYTES = 0


_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                  "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class Resources:
    """An amount of CPU, memory and GPUs (requests, limits, capacity or what is left)."""

    cpu_millicores: int = 0
    memory_bytes: int = 0
    gpu_count: int = 0

    def minus(self, other: Resources) -> Resources:
        return Resources(max(self.cpu_millicores - other.cpu_millicores, 0),
                         max(self.memory_bytes - other.memory_bytes, 0),
                         max(self.gpu_count - other.gpu_count, 0))

    def plus(self, other: Resources) -> Resources:
        return Resources(self.cpu_millicores + other.cpu_millicores,
                         self.memory_bytes + other.memory_bytes,
                         self.gpu_count + other.gpu_count)

    def fits_in(self, other: Resources) -> bool:
        return (self.cpu_millicores <= other.cpu_millicores
                and self.memory_bytes <= other.memory_bytes and self.gpu_count <= other.gpu_count)


@dataclass(frozen=True)
class ResourceAsk:
    """Resources as a request names them (Kubernetes quantities), parsed and checked."""

    cpu: str = ""
    memory: str = ""
    gpu_count: int = 0
    gpu_type: str = ""

    @property
    def empty(self) -> bool:
        return not (self.cpu or self.memory or self.gpu_count or self.gpu_type)

    def amounts(self, field_name: str) -> Resources:
        return Resources(cpu_millicores(self.cpu, f"{field_name}.cpu") if self.cpu else 0,
                         memory_bytes(self.memory, f"{field_name}.memory") if self.memory else 0,
                         self.gpu_count)


@dataclass(frozen=True)
class CatalogueProfile:
    """A profile a runner of the catalogue offers (what discovery advertises)."""

    name: str
    runner_id: str
    architectures: tuple[str, ...]
    gpu_types: tuple[str, ...] = ()
    # the network modes offered (for this machine: network.py's, those the isolation enforces)
    ingress_modes: tuple[str, ...] = network.ISOLATED.ingress_modes
    egress_modes: tuple[str, ...] = network.ISOLATED.egress_modes

    @property
    def profile_id(self) -> str:
        """The id a sandbox placed on it reports: the name discovery advertises."""
        return self.name

    def pinned_by(self, pin: str) -> bool:
        return pins_profile(pin, self.runner_id, self.name)


def pins_profile(pin: str, runner_id: str, profile_name: str) -> bool:
    """Whether a `profile_ids` pin names a profile: by its name, or qualified by its runner."""
    return pin in (profile_name, f"{runner_id}/{profile_name}")


@dataclass(frozen=True)
class CatalogueRunner:
    """A runner of the catalogue: what it has and the profiles it offers."""

    runner_id: str
    group_id: str
    capacity: Resources
    architectures: tuple[str, ...]
    profiles: tuple[CatalogueProfile, ...]
    connected_at: float
    tags: tuple[str, ...] = ()
    gpu_types: tuple[str, ...] = ()
    healthy: bool = True
    shared: bool = False

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)


@dataclass(frozen=True)
class Availability:
    free: Resources
    running: int


@dataclass(frozen=True)
class Placement:
    """Where a sandbox landed and what was applied to it."""

    runner_id: str
    runner_group_id: str
    profile_id: str
    profile_name: str
    requests: ResourceAsk
    limits: ResourceAsk
    reserved: Resources
    ingress_mode: str
    egress_mode: str


@dataclass(frozen=True)
class PlacementAsk:
    runner_ids: tuple[str, ...] = ()
    profile_ids: tuple[str, ...] = ()
    profile_names: tuple[str, ...] = ()
    requests: ResourceAsk = field(default_factory=ResourceAsk)
    limits: ResourceAsk = field(default_factory=ResourceAsk)
    ingress_mode: str = ""
    egress_mode: str = ""


# Quantities -----------------------------------------------------------------------------


def cpu_millicores(value: str, field_name: str) -> int:
    problem = naming.cpu_problem(value)
    if problem:
        raise invalid(field_name, problem)
    return naming.cpu_millicores(value) or 0


def memory_bytes(value: str, field_name: str) -> int:
    problem = naming.memory_problem(value)
    if problem:
        raise invalid(field_name, problem)
    return naming.quantity_bytes(value) or 0


# The machine ----------------------------------------------------------------------------


def machine_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine)


def machine_capacity() -> Resources:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus = len(glob.glob("/dev/nvidia[0-9]*"))
    return Resources((cores or 1) * 1000, memory, gpus)


def local_runner(connected_at: float | None = None, *,
                 ingress_modes: tuple[str, ...] = network.ISOLATED.ingress_modes,
                 egress_modes: tuple[str, ...] = network.ISOLATED.egress_modes) -> CatalogueRunner:
    """This machine as a runner; its one profile offers the network modes given (those the
    isolation enforces)."""
    arch = machine_architecture()
    profile = CatalogueProfile(DEFAULT_PROFILE, RUNNER_ID, (arch,), ingress_modes=ingress_modes,
                               egress_modes=egress_modes)
    return CatalogueRunner(runner_id=RUNNER_ID, group_id=RUNNER_GROUP_ID,
                           capacity=machine_capacity(), architectures=(arch,), profiles=(profile,),
                           connected_at=connected_at if connected_at is not None else time.time(),
                           tags=("local", f"host={socket.gethostname()}"))


# Errors (the SDK's reasons) -------------------------------------------------------------


def runner_not_found(runner_id: str) -> ApiError:
    return ApiError(Code.NOT_FOUND, f"runner {runner_id!r} not found",
                    reason="CWSANDBOX_RUNNER_NOT_FOUND", metadata={"runner_id": runner_id})


def profile_not_found(name: str, runner_id: str = "") -> ApiError:
    where = f" on runner {runner_id!r}" if runner_id else ""
    metadata = {"profile_name": name, **({"runner_id": runner_id} if runner_id else {})}
    return ApiError(Code.NOT_FOUND, f"profile {name!r} not found{where}",
                    reason="CWSANDBOX_PROFILE_NOT_FOUND", metadata=metadata)


def runner_unavailable(message: str) -> ApiError:
    return ApiError(Code.RESOURCE_EXHAUSTED, message,
                    reason="CWSANDBOX_RUNNER_UNAVAILABLE")


# The catalogue --------------------------------------------------------------------------


class Catalogue:
    """The runners and profiles, their live availability, and placement of new sandboxes."""

    def __init__(self, runners: Iterable[CatalogueRunner]) -> None:
        self.runners = {r.runner_id: r for r in runners}

    def runner(self, runner_id: str) -> CatalogueRunner:
        found = self.runners.get(runner_id)
        if found is None:
            raise runner_not_found(runner_id)
        return found

    def list_runners(self, *, group_id: str = "", profile_name: str = "", gpu_type: str = "",
                     architecture: str = "", exclude_shared: bool = False,
                     healthy_only: bool = False) -> list[CatalogueRunner]:
        found = []
        for runner in self.runners.values():
            if group_id and runner.group_id != group_id:
                continue
            if profile_name and profile_name not in runner.profile_names:
                continue
            if gpu_type and gpu_type not in runner.gpu_types:
                continue
            if architecture and architecture not in runner.architectures:
                continue
            if (exclude_shared and runner.shared) or (healthy_only and not runner.healthy):
                continue
            found.append(runner)
        return found

    def profiles(self, *, runner_id: str = "", gpu_type: str = "", architecture: str = "",
                 exclude_shared: bool = False) -> list[CatalogueProfile]:
        found = []
        for runner in self.runners.values():
            if (runner_id and runner.runner_id != runner_id) or (exclude_shared and runner.shared):
                continue
            for profile in runner.profiles:
                if gpu_type and gpu_type not in profile.gpu_types:
                    continue
                if architecture and architecture not in profile.architectures:
                    continue
                found.append(profile)
        return found

    def profile(self, name: str, runner_id: str = "") -> CatalogueProfile:
        if runner_id:
            self.runner(runner_id)
        for profile in self.profiles(runner_id=runner_id):
            if profile.name == name:
                return profile
        raise profile_not_found(name, runner_id)

    @staticmethod
    def availability(runner: CatalogueRunner, reserved: Iterable[Resources]) -> Availability:
        taken = Resources()
        count = 0
        for amount in reserved:
            taken = taken.plus(amount)
            count += 1
        return Availability(runner.capacity.minus(taken), count)

    def place(self, ask: PlacementAsk, reserved: dict[str, list[Resources]]) -> Placement:
        """A runner and profile matching the pins, with room for the requests.

        Unknown runners or profiles are NOT_FOUND; known ones without room (or without the
        network mode asked for) are RESOURCE_EXHAUSTED / FAILED_PRECONDITION.
        """
        for runner_id in ask.runner_ids:
            self.runner(runner_id)
        known_names = {p.name for p in self.profiles()}
        for profile_id in ask.profile_ids:
            if not any(p.pinned_by(profile_id) for p in self.profiles()):
                raise ApiError(Code.NOT_FOUND, f"profile {profile_id!r} not found",
                               reason="CWSANDBOX_PROFILE_NOT_FOUND",
                               metadata={"profile_id": profile_id})
        for name in ask.profile_names:
            if name not in known_names:
                raise profile_not_found(name)
        requests = ask.requests.amounts("resource_requests")
        limits = ask.limits.amounts("resource_limits")
        for kind in ("cpu_millicores", "memory_bytes", "gpu_count"):
            low, high = getattr(requests, kind), getattr(limits, kind)
            if low and high and low > high:
                name = {"cpu_millicores": "cpu", "memory_bytes": "memory",
                        "gpu_count": "gpu.gpu_count"}[kind]
                raise invalid(f"resource_requests.{name}",
                              "must not be larger than the matching resource_limits value")
        # What the sandbox holds while it runs: its request, else its limit, else a default.
        hold = Resources(
            requests.cpu_millicores or limits.cpu_millicores or DEFAULT_CPU_MILLICORES,
            requests.memory_bytes or limits.memory_bytes or DEFAULT_MEMORY_BYTES,
            requests.gpu_count or limits.gpu_count)
        gpu_type = ask.requests.gpu_type or ask.limits.gpu_type
        problems: list[str] = []
        for runner in self.runners.values():
            if ask.runner_ids and runner.runner_id not in ask.runner_ids:
                continue
            for profile in runner.profiles:
                if ask.profile_ids and not any(map(profile.pinned_by, ask.profile_ids)):
                    continue
                if ask.profile_names and profile.name not in ask.profile_names:
                    continue
                if ask.egress_mode and ask.egress_mode not in profile.egress_modes:
                    problems.append(f"{profile.profile_id} offers egress "
                                    f"{', '.join(profile.egress_modes)}, not {ask.egress_mode!r}")
                    continue
                if ask.ingress_mode and ask.ingress_mode not in profile.ingress_modes:
                    problems.append(f"{profile.profile_id} offers ingress "
                                    f"{', '.join(profile.ingress_modes)}, not {ask.ingress_mode!r}")
                    continue
                if gpu_type and gpu_type not in profile.gpu_types:
                    problems.append(f"{profile.profile_id} has no GPU of type {gpu_type!r}")
                    continue
                if not hold.fits_in(runner.capacity):
                    problems.append(f"{runner.runner_id} has {_describe(runner.capacity)} in "
                                    f"all, less than the {_describe(hold)} asked for")
                    continue
                free = self.availability(runner, reserved.get(runner.runner_id, [])).free
                if not hold.fits_in(free):
                    problems.append(f"{runner.runner_id} has {_describe(free)} free, less than "
                                    f"the {_describe(hold)} asked for")
                    continue
                return Placement(
                    runner_id=runner.runner_id, runner_group_id=runner.group_id,
                    profile_id=profile.profile_id, profile_name=profile.name,
                    requests=ask.requests, limits=ask.limits, reserved=hold,
                    ingress_mode=ask.ingress_mode or profile.ingress_modes[0],
                    egress_mode=ask.egress_mode or profile.egress_modes[0])
        raise runner_unavailable("no runner can take this sandbox: " + "; ".join(problems)
                                 if problems else "no runner matches the pins given")


def _describe(amount: Resources) -> str:
    parts = [f"{amount.cpu_millicores}m CPU", f"{amount.memory_bytes // 2**20}Mi memory"]
    if amount.gpu_count:
        parts.append(f"{amount.gpu_count} GPU(s)")
    return ", ".join(parts)
