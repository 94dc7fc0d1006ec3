"""What an isolated sandbox's root holds: an allow-list of the host, never the host itself.

The root is an empty tmpfs holding read-only binds of what programs need (`/usr` and the
merged-/usr links or directories `/bin`, `/sbin`, `/lib*`), a curated `/etc` (a few host
files every program may read, and `passwd`, `group`, `hosts`, `hostname` and
`nsswitch.conf` written for the sandbox), the runtime's links, and, made per launch by
isolation.py, a private `/tmp`, `/proc`, a minimal `/dev` and the sandbox's mount. Nothing
else of the host is there: not `/home`, `/root`, `/run` (runtime directories, sockets),
`/var`, `/srv`, `/opt`, `/mnt`, `/media`, `/boot`, `/sys`, the data or working directory.

bubblewrap builds it from `entries` (isolation.py) and the file calls walk the same entries
(sandboxfs.py), so what the API serves is what the sandbox's processes see.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

# Top-level host entries shown (each a directory bound read-only, or a link recreated).
SYSTEM_TOP = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Host files and directories of /etc that programs read and that hold no secrets (globs).
HOST_ETC = (
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "debian_version",
    "gai.conf", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "locale.alias", "localtime", "magic", "magic.mime", "mime.types", "mtab", "os-release",
    "profile", "protocols", "python3", "python3.*", "rpc", "services", "shells",
    "ssl/certs", "ssl/openssl.cnf", "terminfo", "timezone",
)
# Written for each sandbox (see `etc_files`) rather than taken from the host.
MADE_ETC = ("group", "hostname", "hosts", "nsswitch.conf", "passwd")
ETC_DIR_NAME = "etc"  # beside the sandbox's tmp and mount on the host


@dataclass(frozen=True)
class Entry:
    """One thing in the sandbox's root: a read-only bind of `source`, a link to `link`, or
    (neither) an empty directory."""

    path: str
    source: str = ""
    link: str = ""

    @property
    def is_dir(self) -> bool:
        return not self.link and (not self.source or os.path.isdir(self.source))


def etc_files(hostname: str) -> dict[str, str]:
    """The /etc files written for a sandbox: its uid 0 is root, and nobody is nobody."""
    return {
        "passwd": "root:x:0:0:root:/tmp:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "hostname": f"{hostname}\n",
        "hosts": f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
                         "networks: files\nprotocols: files\nservices: files\n",
    }


def write_etc(etc_dir: Path, hostname: str) -> None:
    """Write a sandbox's own /etc files (readable by its uid through a root backend's stage)."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    etc_dir.chmod(0o755)
    for name, text in etc_files(hostname).items():
        path = etc_dir / name
        path.write_text(text)
        path.chmod(0o644)


def _host_entry(host_path: str) -> Entry | None:
    if os.path.islink(host_path):
        return Entry(host_path, link=os.readlink(host_path))
    if os.path.exists(host_path):
        return Entry(host_path, source=host_path)
    return None


def _host_etc() -> list[str]:
    found: set[str] = set()
    for pattern in HOST_ETC:
        found.update(glob.glob(os.path.join("/etc", pattern)))
    return sorted(found)


def entries(etc_source: str, mount_path: str = "", extra: tuple[Entry, ...] = ()) -> list[Entry]:
    """The sandbox's root, parents before children.

    `etc_source` is where the sandbox's own /etc files are on the host (or, for a root
    backend, where its launcher staged them). A system directory that would hold the mount
    is left out (the mount path's validation keeps mounts out of the usual ones).
    """
    made: list[Entry] = [Entry("/etc")]
    found = [_host_entry(f"/{name}") for name in SYSTEM_TOP
             if not _under(mount_path, f"/{name}")]
    found += [_host_entry(path) for path in _host_etc()]
    shown = [e for e in found if e is not None]
    for path in sorted({os.path.dirname(e.path) for e in shown} - {"/", "/etc"}):
        made.append(Entry(path))  # /etc/ssl, for the certificates in it
    if etc_source:
        shown += [Entry(f"/etc/{name}", source=os.path.join(etc_source, name))
                  for name in MADE_ETC]
    everything = made + shown + list(extra)
    return sorted(everything, key=lambda e: (e.path.count("/"), e.path))


def visible(host_path: str) -> bool:
    """Whether a host file is seen at the same path inside a sandbox (after its links): the
    runtime's interpreters must be."""
    real = os.path.realpath(host_path)
    return any(_under(real, os.path.realpath(f"/{name}")) for name in SYSTEM_TOP
               if os.path.isdir(f"/{name}"))


def _under(path: str, root: str) -> bool:
    return bool(path) and (path == root or path.startswith(root.rstrip("/") + "/"))
