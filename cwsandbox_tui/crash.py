"""Crash reports: an unhandled error's traceback, in a file under the state directory.

The terminal gets one line naming the file. The report is scrubbed of every secret the
program could have held: the values of the environment's keys, tokens and passwords (the
API key's `CWSANDBOX_API_KEY`, W&B's `WANDB_API_KEY`, a profile's `api_key_env`), the
profiles' key files, the netrc's passwords, and whatever follows an authorization header's
name in the text.
"""

from __future__ import annotations

import contextlib
import netrc
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import __version__, paths
from .textsafe import inert

REDACTED = "[redacted]"
CRASHES = "crashes"  # under the state directory

# Names of environment variables whose values are secrets.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)
# A header's value as gRPC metadata, a dict or a line shows it: `authorization: Bearer x`,
# `('x-wandb-api-key', 'x')`, `"authorization": "Bearer x"`.
_HEADER = re.compile(
    r"(?P<name>authorization|x-wandb-api-key)(?P<sep>['\"]?\s*[:=,]\s*['\"]?)"
    r"(?P<scheme>(?:bearer|basic)\s+)?(?P<value>[^\s'\",)\]}]+)",
    re.IGNORECASE)
_SHORTEST = 6  # shorter values ("1", "true", "none") would scrub ordinary words


def secrets() -> set[str]:
    """Every secret value this process could hold, as far as it can be found without failing."""
    found = {value for name, value in os.environ.items() if _SECRET_NAME.search(name)}
    with contextlib.suppress(Exception):  # a broken config file must not hide the crash
        from .client.profiles import load_settings

        for profile in load_settings(paths.config_dir() / "config.toml").profiles.values():
            if profile.api_key_env:
                found.add(os.environ.get(profile.api_key_env, ""))
            if profile.api_key_file:
                found.add(Path(profile.api_key_file).expanduser().read_text().strip())
    with contextlib.suppress(Exception):  # no netrc, or one that does not parse
        for _login, _account, password in netrc.netrc().hosts.values():
            found.add(password or "")
    return {value.strip() for value in found if len(value.strip()) >= _SHORTEST}


def scrub(text: str, values: set[str]) -> str:
    text = _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{m['scheme'] or ''}{REDACTED}", text)
    # Longest first: a secret that contains another is replaced whole.
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def report_text(error: BaseException, argv: list[str]) -> str:
    lines = [
        f"cwsandbox-tui {__version__} crashed at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"python {platform.python_version()} ({sys.executable}) on {platform.platform()}",
        f"command: {' '.join(argv)}",
        "",
        *traceback.format_exception(error),
    ]
    return scrub("\n".join(line.rstrip("\n") for line in lines) + "\n", secrets())


def write_report(error: BaseException, argv: list[str] | None = None) -> Path:
    """Write the report (readable by its owner only) and return where it is. If the state
    directory cannot be written, the report goes to the temporary directory."""
    text = report_text(error, list(sys.argv if argv is None else argv))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    for directory in (paths.state_dir() / CRASHES, Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            return path
        except OSError:
            continue
    raise OSError("no directory for the crash report could be written")


def summary(error: BaseException, limit: int = 200) -> str:
    """The error's type and the first line of its message, scrubbed, for one line of a
    terminal (whoever reads just that line, a person or the embedded backend's starter,
    learns what went wrong)."""
    first = next(iter(str(error).strip().splitlines()), "")
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return inert(scrub(text, secrets()))


def crashed(error: BaseException) -> int:
    """Report an unhandled error: the file, and one line on stderr naming it. Returns the exit
    code (1)."""
    try:
        path = write_report(error)
    except OSError as failure:
        # Nowhere to write it: the scrubbed traceback itself, rather than nothing.
        print(inert_traceback(error), file=sys.stderr)
        print(f"error: cwsandbox-tui crashed ({summary(error)}) and could not write a crash "
              f"report: {failure}", file=sys.stderr)
        return 1
    print(f"error: cwsandbox-tui crashed ({summary(error)}); the report with its traceback is "
          f"in {path}", file=sys.stderr)
    return 1


def inert_traceback(error: BaseException) -> str:
    return "\n".join(inert(line) for line in
                     scrub("".join(traceback.format_exception(error)), secrets()).splitlines())
