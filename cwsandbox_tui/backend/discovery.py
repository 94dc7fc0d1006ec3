"""What this machine offers as a runner, free of protobuf (any API generation serves it).

A minimal generation-neutral model: the machine is one runner, its capacity is what it
really has (the cores this process may use, its memory, its GPUs), and its availability is
that capacity with the count of sandboxes that have not ended. The names follow the fuller
model of the SDK-parity work (runners, profiles and placement), so either can stand here.
"""

from __future__ import annotations

import glob
import os
import platform
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from .errors import ApiError

RUNNER_ID = "local-runner"
RUNNER_GROUP_ID = "local"

_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                  "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class Resources:
    """An amount of CPU, memory and GPUs (capacity, reservation or what is left)."""

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


@dataclass(frozen=True)
class Runner:
    runner_id: str
    group_id: str
    capacity: Resources
    architectures: tuple[str, ...]
    connected_at: float
    tags: tuple[str, ...] = ()
    gpu_types: tuple[str, ...] = ()
    healthy: bool = True
    shared: bool = False


@dataclass(frozen=True)
class Availability:
    free: Resources
    running: int


def machine_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine or "unknown")


def machine_capacity() -> Resources:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus = len(glob.glob("/dev/nvidia[0-9]*"))
    return Resources((cores or 1) * 1000, memory, gpus)


def local_runner(connected_at: float | None = None) -> Runner:
    return Runner(runner_id=RUNNER_ID, group_id=RUNNER_GROUP_ID, capacity=machine_capacity(),
                  architectures=(machine_architecture(),),
                  connected_at=connected_at if connected_at is not None else time.time(),
                  tags=("local", f"host={socket.gethostname()}"))


def runner_not_found(runner_id: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, f"runner {runner_id!r} not found",
                    reason="CWSANDBOX_RUNNER_NOT_FOUND", metadata={"runner_id": runner_id})


class Catalogue:
    """The runners, and their live availability."""

    def __init__(self, runners: Iterable[Runner]) -> None:
        self.runners = {r.runner_id: r for r in runners}

    def runner(self, runner_id: str) -> Runner:
        found = self.runners.get(runner_id)
        if found is None:
            raise runner_not_found(runner_id)
        return found

    def list_runners(self, *, group_id: str = "", gpu_type: str = "", architecture: str = "",
                     healthy_only: bool = False) -> list[Runner]:
        return [r for r in self.runners.values()
                if (not group_id or r.group_id == group_id)
                and (not gpu_type or gpu_type in r.gpu_types)
                and (not architecture or architecture in r.architectures)
                and (not healthy_only or r.healthy)]

    @staticmethod
    def availability(runner: Runner, reserved: Iterable[Resources]) -> Availability:
        held = list(reserved)
        total = Resources()
        for amount in held:
            total = total.plus(amount)
        return Availability(free=runner.capacity.minus(total), running=len(held))
