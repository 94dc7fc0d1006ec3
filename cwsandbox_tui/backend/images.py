"""What a container image becomes on this machine, which runs no containers.

Every sandbox runs on the machine's own system directories (rootfs.py). For a Python image
(`python:3.11` is the SDK's default) the sandbox also gets `python`, `python3`, `pythonX.Y`
and `pip` on its PATH, from a per-sandbox directory of links placed first on the PATH: a
real Python of the image's version where the machine has one that sandboxes see, else the
machine's own Python 3, and the record says which.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import rootfs
from .isolation import BASE_PATH

# Where the links appear inside an isolated sandbox (a directory the host root does not have).
SANDBOX_BIN = "/.cwsandbox/bin"
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?")
_PYTHON_REPOS = {"python", "library/python"}


@dataclass(frozen=True)
class ImageTools:
    """Executables to link into the sandbox (name -> host path) and what to say about it."""

    links: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)
    note: str = ""


def parse_image(image: str) -> tuple[str, str]:
    """`docker.io/library/python:3.11-slim` -> ("library/python", "3.11-slim")."""
    name, _, digestless = image.partition("@")
    name = name or digestless
    repo, tag = name, ""
    last_slash = name.rfind("/")
    if ":" in name[last_slash + 1:]:
        repo, tag = name.rsplit(":", 1)
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    return "/".join(parts).lower(), tag


def _find(name: str, search_path: str) -> str | None:
    """The first `name` on the path that a sandbox sees too (not a link into /opt, say)."""
    for directory in search_path.split(":"):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and \
                rootfs.visible(candidate):
            return candidate
    return None


_PROBE = ("import importlib.util, sys; "
          "print('%d.%d' % sys.version_info[:2], importlib.util.find_spec('pip') is not None)")


def _probe(executable: str) -> tuple[str, bool]:
    """The major.minor of a Python, and whether it has pip (one short run of it)."""
    try:
        probe = subprocess.run([executable, "-I", "-c", _PROBE], capture_output=True,
                               text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "", False
    words = probe.stdout.split()
    if probe.returncode != 0 or len(words) != 2:
        return "", False
    return words[0], words[1] == "True"


_cache: dict[tuple[str, str], ImageTools] = {}


def provide(image: str, search_path: str = BASE_PATH) -> ImageTools:
    """How `image` is provided here (memoised: probing a Python runs it once; callers on the
    event loop warm the memo in a thread first, see `provide_soon`)."""
    key = (image, search_path)
    if key not in _cache:
        _cache[key] = _provide(image, search_path)
    return _cache[key]


def _provide(image: str, search_path: str) -> ImageTools:
    if not image:
        return ImageTools(note="no image: the machine's root file system")
    repo, tag = parse_image(image)
    if repo not in _PYTHON_REPOS:
        return ImageTools(note=f"image {image} is not available here: "
                            "it runs on the machine's root file system")
    match = _VERSION.match(tag)
    wanted = ".".join(g for g in match.groups() if g) if match else ""
    exact = _find(f"python{wanted}", search_path) if wanted else None
    chosen = exact or _find("python3", search_path)
    if chosen is None:
        return ImageTools(note=f"image {image}: this machine has no python3; it runs on the "
                            "machine's root file system without Python")
    version, has_pip = _probe(chosen)
    version = version or "3"
    if exact is not None and (not wanted or version.startswith(wanted)):
        note = f"image {image}: python {version} from {chosen}, on the machine's root file system"
    else:
        asked = f"python {wanted}" if wanted else "that python"
        note = (f"image {image}: {asked} is not on this machine; python is the machine's own "
                f"python {version} ({chosen}), on the machine's root file system")
    links = {"python": chosen, "python3": chosen, f"python{version}": chosen}
    scripts = {}
    if has_pip:
        pip = f'#!/bin/sh\nexec {chosen} -m pip "$@"\n'
        scripts = {"pip": pip, "pip3": pip, f"pip{version}": pip}
    return ImageTools(links=links, scripts=scripts, note=note)


def install(runtime: ImageTools, bin_dir: Path) -> bool:
    """Write the runtime's links and scripts into `bin_dir`; False when there are none."""
    if not runtime.links and not runtime.scripts:
        return False
    bin_dir.mkdir(parents=True, exist_ok=True)
    bin_dir.chmod(0o755)  # a root backend's sandboxes (uid 65534) read it through the stage
    for name, target in runtime.links.items():
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    for name, text in runtime.scripts.items():
        script = bin_dir / name
        script.write_text(text)
        script.chmod(0o555)
    return True


async def provide_soon(image: str) -> ImageTools:
    """`provide`, run in a thread the first time an image is seen."""
    cached = _cache.get((image, BASE_PATH))
    return cached if cached is not None else await asyncio.to_thread(provide, image)
