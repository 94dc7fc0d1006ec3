"""How sandbox processes are confined: bubblewrap where it works, else unisolated.

Under bubblewrap a sandbox sees the host root read-only, a private /tmp, its file-system mount
at `mount_path`, and neither the backend's data directory nor the user's home directory.
Without bubblewrap it runs as a plain child process with its mount as working directory, and
the backend says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SKIPPED_TOP = {"proc", "dev", "tmp", "sys"}


@dataclass(frozen=True)
class Layout:
    """Where a sandbox's writable areas live on the host and where the sandbox sees them."""

    tmp_dir: Path
    mount_dir: Path | None = None
    mount_path: str = ""
    hidden: tuple[Path, ...] = ()
    hostname: str = "sandbox"

    @property
    def workdir(self) -> str:
        return self.mount_path or "/tmp"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Isolation:
    kind: str  # "bubblewrap" or "none"
    detail: str
    bwrap: str | None = None
    setpriv: str | None = None  # util-linux setpriv, to tie unisolated sandboxes to the backend

    @property
    def isolated(self) -> bool:
        return self.kind == "bubblewrap"

    def launch(self, argv: list[str], layout: Layout, env: dict[str, str], cwd: str = "") -> Launch:
        environment = {"PATH": BASE_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", **env}
        target_cwd = cwd or layout.workdir
        if not self.isolated:
            # The kernel kills the workload when the backend dies. This is not done in a
            # preexec_fn: a child forked from the multi-threaded gRPC process can crash there.
            guard = [self.setpriv, "--pdeathsig", "KILL", "--"] if self.setpriv else []
            return Launch(argv=[*guard, *argv],
                          cwd=host_path_for(layout, target_cwd) or layout.tmp_dir, env=environment)
        args = [str(self.bwrap), *_root_binds(layout.mount_path)]
        for hidden in layout.hidden:
            if hidden.exists() and not _under(str(hidden), "/tmp"):
                args += ["--tmpfs", str(hidden)]
        args += ["--dev", "/dev", "--proc", "/proc", "--bind", str(layout.tmp_dir), "/tmp"]
        if layout.mount_dir is not None:
            args += ["--bind", str(layout.mount_dir), layout.mount_path]
        args += ["--remount-ro", "/", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
                 "--hostname", layout.hostname, "--die-with-parent", "--clearenv"]
        for key, value in environment.items():
            args += ["--setenv", key, value]
        args += ["--chdir", target_cwd, "--", *argv]
        return Launch(argv=args, cwd=layout.tmp_dir, env={"PATH": BASE_PATH})


def host_path_for(layout: Layout, sandbox_path: str) -> Path | None:
    """The host path behind a path inside the sandbox, or None outside its writable areas."""
    if not sandbox_path.startswith("/"):
        sandbox_path = os.path.join(layout.workdir, sandbox_path)
    normal = os.path.normpath(sandbox_path)
    if layout.mount_dir is not None and _under(normal, layout.mount_path):
        return layout.mount_dir / os.path.relpath(normal, layout.mount_path)
    if _under(normal, "/tmp"):
        return layout.tmp_dir / os.path.relpath(normal, "/tmp")
    return None


MAX_SYMLINKS = 40


def resolve_in_sandbox(layout: Layout, sandbox_path: str) -> Path | None:
    """The host path behind a sandbox path, its symlinks followed as the sandbox sees them.

    A link target is a path inside the sandbox (an absolute one starts at the sandbox's own
    root), so it can never lead to host files; None when the path ends outside the sandbox's
    writable areas or has too many links (a loop).
    """
    if not sandbox_path.startswith("/"):
        sandbox_path = os.path.join(layout.workdir, sandbox_path)
    pending = sandbox_path.split("/")
    current = "/"
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        host = host_path_for(layout, candidate)
        if host is not None and host.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                return None
            target = os.readlink(host)
            pending = target.split("/") + pending
            if target.startswith("/"):
                current = "/"
            continue
        current = candidate
    return host_path_for(layout, current)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _root_binds(mount_path: str) -> list[str]:
    """A tmpfs root holding read-only binds of the host's top-level entries.

    The directories on the way to `mount_path` are recreated rather than bound, so that the
    mount point can be made even where the host has no such directory.
    """
    args = ["--tmpfs", "/"]
    parts = [p for p in mount_path.split("/") if p]

    def expand(host_dir: str, remaining: list[str]) -> None:
        wanted = remaining[0] if remaining else None
        for entry in sorted(os.listdir(host_dir)):
            path = os.path.join(host_dir, entry)
            if host_dir == "/" and entry in _SKIPPED_TOP:
                continue
            if entry == wanted:
                if len(remaining) == 1 or os.path.islink(path) or not os.path.isdir(path):
                    continue  # the mount bind itself creates (and hides) this path
                args.extend(["--dir", path])
                expand(path, remaining[1:])
            elif os.path.islink(path):
                args.extend(["--symlink", os.readlink(path), path])
            else:
                args.extend(["--ro-bind", path, path])

    expand("/", parts)
    if os.path.isdir("/sys"):
        args += ["--ro-bind", "/sys", "/sys"]
    return args


def detect(disable: bool = False) -> Isolation:
    setpriv = shutil.which("setpriv")
    if disable:
        return Isolation("none", "isolation disabled by configuration", setpriv=setpriv)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation("none", "bubblewrap (bwrap) is not installed; sandboxes run unisolated",
                         setpriv=setpriv)
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--die-with-parent", "true"],
        capture_output=True, text=True, timeout=10,
    )
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "unknown error"
        return Isolation("none", f"bubblewrap cannot run here ({reason}); sandboxes run unisolated",
                         setpriv=setpriv)
    return Isolation("bubblewrap", "sandboxes run under bubblewrap", bwrap=bwrap)
