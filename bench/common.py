"""Shared pieces of the benchmark suite: backends in their own process, a pseudo-terminal
runner, medians, figures with targets, and the results table (text and Markdown).

Every backend a benchmark uses is `python -m cwsandbox_tui serve --port 0 --data-dir DIR`
started as a separate process (the machine has 2 cores: the server must not share the
measuring process's interpreter), stopped with SIGTERM and, failing that, killed with its
whole process group. Every subprocess is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
VENV = REPO / ".venv"
PYTHON = VENV / "bin" / "python"
TUI = VENV / "bin" / "cwsandbox-tui"

LOOPBACK = " [loopback, no proxy]"  # the tag of measures made without the proxy
BACKEND_START_TIMEOUT = 120.0  # seeding 100k snapshots takes a few seconds
BACKEND_STOP_TIMEOUT = 20.0


def log(message: str) -> None:
    """Progress goes to stderr; the table goes to stdout. Every line also samples the load:
    benchmarks log between their runs, so the samples fall between the figures' runs."""
    sample = LOAD.sample()
    print(f"[bench {time.strftime('%H:%M:%S')} load {sample.load:.2f}/{sample.cores}] {message}",
          file=sys.stderr, flush=True)


# --- the machine's load ---------------------------------------------------------------------

QUIET_SHARE = 0.5  # a run is quiet while the 1-minute load stays at or below this x cores


def cores() -> int:
    return os.cpu_count() or 1


def quiet_limit(share: float = QUIET_SHARE) -> float:
    """The highest 1-minute load average a run may see and still count as quiet."""
    return share * cores()


@dataclass(frozen=True)
class LoadSample:
    at: float  # time.time()
    load: float  # the 1-minute load average
    cores: int


class LoadLog:
    """The 1-minute load average sampled through a run: at every progress line, at every
    figure, and by run.py before and after each benchmark. Other work on the machine skews
    every figure, so each figure carries the highest load seen while its benchmark ran."""

    def __init__(self) -> None:
        self.samples: list[LoadSample] = []
        self.mark = 0  # where the current benchmark's samples begin
        self.sleep: Callable[[float], None] = time.sleep  # (a test's fake clock replaces both)
        self.clock: Callable[[], float] = time.monotonic

    def sample(self) -> LoadSample:
        taken = LoadSample(time.time(), os.getloadavg()[0], cores())
        self.samples.append(taken)
        return taken

    def begin(self) -> LoadSample:
        """A benchmark begins: its figures' peak counts from this sample on."""
        self.mark = len(self.samples)
        return self.sample()

    def settle(self, limit: float, timeout: float = 180.0, every: float = 5.0) -> LoadSample:
        """Wait until the 1-minute load is at most `limit` (the previous benchmark's own
        processes linger in the average for a minute or two), or `timeout` has passed; the
        last sample says whether other work was running when the next benchmark began."""
        give_up = self.clock() + timeout
        taken = self.sample()
        while taken.load > limit and self.clock() < give_up:
            self.sleep(every)
            taken = self.sample()
        return taken

    def peak(self, since: int | None = None) -> float:
        window = self.samples[self.mark if since is None else since:] or [self.sample()]
        return max(s.load for s in window)


LOAD = LoadLog()


def _scratch_state() -> str:
    global _STATE_DIR
    if _STATE_DIR is None:
        _STATE_DIR = tempfile.mkdtemp(prefix="cws-bench-state-")
    return _STATE_DIR


_STATE_DIR: str | None = None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point a child at another endpoint."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CWSANDBOX", "PYTHONPATH", "VIRTUAL_ENV", "TEXTUAL"))}
    # the benchmarks' own processes keep their state (the operations log) out of the user's
    env.setdefault("CWSANDBOX_TUI_STATE_DIR", _scratch_state())
    env.update(extra)
    return env


# --- backends -------------------------------------------------------------------------------

@dataclass
class Backend:
    url: str
    port: int
    pid: int
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        return self.url.removeprefix("http://")


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((data_dir / "backend.json").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def backend(*, seed_snapshots: int = 0, seed_sandboxes: int = 0, faults: str = "",
            no_isolation: bool = False, data_dir: Path | None = None,
            start_timeout: float = BACKEND_START_TIMEOUT) -> Iterator[Backend]:
    """A backend process on a fresh data directory (removed afterwards unless given)."""
    root = Path(tempfile.mkdtemp(prefix="cws-bench-"))
    data = data_dir or root / "data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [str(PYTHON), "-m", "cwsandbox_tui", "serve", "--port", "0",
            "--data-dir", str(data)]
    if seed_snapshots:
        argv += ["--seed-snapshots", str(seed_snapshots)]
    if seed_sandboxes:
        argv += ["--seed-sandboxes", str(seed_sandboxes)]
    if faults:
        argv += ["--faults", faults]
    if no_isolation:
        argv.append("--no-isolation")
    env = clean_env(CWSANDBOX_TUI_CONFIG_DIR=str(root / "config"),
                    CWSANDBOX_TUI_STATE_DIR=str(root / "state"))
    log_path = root / "backend.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=log_file, start_new_session=True)
    try:
        give_up = time.monotonic() + start_timeout
        while True:
            state = _read_state(data)
            if state and state.get("pid") == process.pid:
                break
            if process.poll() is not None:
                raise RuntimeError(f"backend exited with {process.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > give_up:
                raise TimeoutError(f"backend did not serve within {start_timeout:g} s")
            time.sleep(0.02)
        yield Backend(url=str(state["url"]), port=int(state["port"]), pid=process.pid,
                      data_dir=data, process=process)
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def stop_process(process: subprocess.Popen[Any], timeout: float = BACKEND_STOP_TIMEOUT) -> None:
    """SIGTERM, wait, then SIGKILL its process group (it was started in its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"process {process.pid} ignored SIGTERM for {timeout:g} s; killing it")
    kill_group(process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Whether a process that is not our child has exited within `timeout`."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- the official SDK's virtualenv ----------------------------------------------------------

SDK_VERSION = "0.26.0"


def sdk_python() -> Path:
    """The python of the cached cwsandbox==0.26.0 venv, built by the peer tests' helper
    (`tests/peer/sdk_venv.py`, loaded by path: tests/ is not a package on our path)."""
    import importlib.util

    path = REPO / "tests" / "peer" / "sdk_venv.py"
    spec = importlib.util.spec_from_file_location("_bench_sdk_venv", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return Path(module.SdkVenv(SDK_VERSION).ensure())


def sdk_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CWSANDBOX", "PYTHON", "VIRTUAL_ENV"))}
    env["CWSANDBOX_BASE_URL"] = url
    return env


def run_json(argv: Sequence[str], *, env: dict[str, str], timeout: float,
             cwd: Path = REPO) -> dict[str, Any]:
    """Run a helper that prints one JSON object as its last line of stdout."""
    proc = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{argv[-1]} printed no JSON (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}") from None


# --- pseudo-terminals -----------------------------------------------------------------------

def set_winsize(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


@dataclass
class Chunk:
    at: float  # time.perf_counter() when read
    data: bytes


class PtyProcess:
    """A process whose stdin, stdout and stderr are one pseudo-terminal; a thread drains the
    master side so the child never blocks on a full terminal buffer, timestamping every read."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], size: tuple[int, int],
                 cwd: Path = REPO) -> None:
        master, slave = os.openpty()
        set_winsize(slave, *size)
        self.master = master
        self.chunks: list[Chunk] = []
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, close_fds=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave fd is closed
                data = b""
            now = time.perf_counter()
            with self._cond:
                if not data:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self.chunks.append(Chunk(now, data))
                self._buffer += data
                self._cond.notify_all()

    @property
    def total_bytes(self) -> int:
        with self._cond:
            return len(self._buffer)

    def wait_for(self, pattern: bytes, timeout: float, start: int = 0) -> float:
        """perf_counter time of the read that completed the first `pattern` after byte
        offset `start`; raises TimeoutError."""
        give_up = time.monotonic() + timeout
        with self._cond:
            while True:
                index = self._buffer.find(pattern, start)
                if index >= 0:
                    end = index + len(pattern)
                    offset = 0
                    for chunk in self.chunks:
                        offset += len(chunk.data)
                        if offset >= end:
                            return chunk.at
                if self._closed:
                    raise EOFError(f"the terminal closed before {pattern!r} appeared")
                left = give_up - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{pattern!r} did not appear within {timeout:g} s")
                self._cond.wait(left)

    def quiet(self, gap: float, timeout: float) -> float:
        """Wait until nothing has been written for `gap` seconds; returns when that began."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            with self._cond:
                last = self.chunks[-1].at if self.chunks else self.started
            if time.perf_counter() - last >= gap:
                return last
            time.sleep(min(gap / 4, 0.05))
        raise TimeoutError(f"the terminal did not go quiet for {gap:g} s within {timeout:g} s")

    def bytes_between(self, start: float, end: float) -> int:
        with self._cond:
            return sum(len(c.data) for c in self.chunks if start <= c.at < end)

    def raw_between(self, start: float, end: float) -> bytes:
        with self._cond:
            return b"".join(c.data for c in self.chunks if start <= c.at < end)

    def text(self) -> str:
        with self._cond:
            return self._buffer.decode(errors="replace")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            if self.wait(5) is None:
                kill_group(self.process.pid)
                self.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.master)
        self._reader.join(timeout=2)


ANSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
                  rb"|\x1b\][^\x07]*\x07")


def strip_ansi(data: bytes) -> str:
    return ANSI.sub(b"", data).decode(errors="replace")


# --- statistics -----------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --- figures --------------------------------------------------------------------------------

@dataclass
class Target:
    """`op` is "<=" or ">="; `on` says whether it judges the value or the ratio. A target with
    two conditions (e.g. a time and its ratio to an anchor) has its second in `also_*`."""

    op: str
    limit: float
    on: str = "value"
    text: str = ""
    also_op: str = ""
    also_limit: float | None = None
    also_on: str = "value"

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def judge(self, value: float | None, ratio: float | None) -> bool | None:
        first = self.met(ratio if self.on == "ratio" else value)
        if not self.also_op or self.also_limit is None or first is None:
            return first
        second = ratio if self.also_on == "ratio" else value
        if second is None:
            return None
        return first and (second <= self.also_limit if self.also_op == "<="
                          else second >= self.also_limit)


@dataclass
class Figure:
    bench: str
    measure: str
    value: float | None
    unit: str
    runs: int
    target: Target | None = None
    low: float | None = None  # the spread of the runs
    high: float | None = None
    reference: str = ""  # what the ratio compares against, with its own value
    ratio: float | None = None
    note: str = ""
    load: float | None = None  # the highest 1-minute load average seen while it was measured
    cores: int = 0  # of the machine it was measured on

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.target.judge(self.value, self.ratio)


def figure(bench: str, measure: str, samples: Sequence[float | None], unit: str, *,
           target: Target | None = None, reference: Sequence[float | None] | None = None,
           reference_label: str = "", ratio: str = "", note: str = "") -> Figure:
    """A figure from per-run samples (the median is the value). `ratio` is "ref/value" (how
    many times faster we are, for times) or "value/ref" (for throughputs)."""
    good = [s for s in samples if s is not None]
    value = median(good) if good else None
    LOAD.sample()
    fig = Figure(bench, measure, value, unit, len(good), target,
                 min(good) if len(good) > 1 else None, max(good) if len(good) > 1 else None,
                 note=note, load=LOAD.peak(), cores=cores())
    if reference is not None:
        ref_good = [s for s in reference if s is not None]
        ref = median(ref_good) if ref_good else None
        fig.reference = f"{reference_label} {fmt(ref, unit)}".strip()
        if ref is not None and value:
            fig.ratio = ref / value if ratio == "ref/value" else value / ref
    return fig


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    if unit in ("rows/s", "B", "bytes", "rows"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "MB/s":
        return f"{value:,.0f} MB/s"
    return f"{value:g} {unit}".strip()


def fmt_target(target: Target | None, unit: str) -> str:
    if target is None:
        return ""
    if target.text:
        return target.text
    def one(op: str, limit: float, on: str) -> str:
        shown = f"{limit:g}x" if on == "ratio" else fmt(limit, unit)
        return f"{'≤' if op == '<=' else '≥'} {shown}"

    text = one(target.op, target.limit, target.on)
    if target.also_op and target.also_limit is not None:
        text += f" and {one(target.also_op, target.also_limit, target.also_on)}"
    return text


def _row(fig: Figure) -> list[str]:
    spread = f"{fmt(fig.low, fig.unit)} – {fmt(fig.high, fig.unit)}" if fig.low is not None \
        else ""
    met = {True: "yes", False: "**NO**", None: ""}[fig.met]
    return [fig.bench, fig.measure, fmt(fig.value, fig.unit), spread,
            fmt_target(fig.target, fig.unit), met, fig.reference,
            f"{fig.ratio:.2f}x" if fig.ratio is not None else "", str(fig.runs),
            fmt_load(fig), fig.note]


def fmt_load(fig: Figure) -> str:
    """The highest 1-minute load while it was measured, over the cores: "0.31/2"."""
    return f"{fig.load:.2f}/{fig.cores}" if fig.load is not None else "?"


HEADERS = ["Benchmark", "Measure", "Median", "Range", "Target", "Met", "Compared with",
           "Ratio", "Runs", "Load/cores", "Notes"]


def text_table(figures: Sequence[Figure]) -> str:
    rows = [HEADERS] + [[c.replace("**", "") for c in _row(f)] for f in figures]
    keep = [i for i in range(len(HEADERS)) if i != len(HEADERS) - 1]  # notes go below
    widths = [max(len(r[i]) for r in rows) for i in keep]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(row[i].ljust(w) for i, w in zip(keep, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{f.bench} / {f.measure}] {f.note}" for f in figures if f.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def markdown_table(figures: Sequence[Figure]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for fig in figures:
        lines.append("| " + " | ".join(cell(c) for c in _row(fig)) + " |")
    return "\n".join(lines)


def figures_to_json(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    return [asdict(f) for f in figures]


def figures_from_json(items: Sequence[dict[str, Any]]) -> list[Figure]:
    out = []
    for item in items:
        target = Target(**item["target"]) if item.get("target") else None
        out.append(Figure(**{**item, "target": target}))
    return out


@dataclass
class Context:
    """What run.py hands each benchmark."""

    runs: int
    quick: bool
    scratch: Path
    extra: dict[str, Any] = field(default_factory=dict)


Benchmark = Callable[[Context], list[Figure]]


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB from /proc/PID/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


# --- the latency/fault proxy ----------------------------------------------------------------

@dataclass
class Proxied:
    url: str
    port: int
    pid: int
    process: subprocess.Popen[bytes]
    spec: str  # what it injects, for the figures' notes

    @property
    def target(self) -> str:
        return self.url.removeprefix("http://")


@dataclass(frozen=True)
class Faults:
    """What `bench/proxy.py` adds to every call (faults only on methods matching `methods`)."""

    latency_ms: float = 0
    unavailable: float = 0  # share of calls answered UNAVAILABLE
    lost: float = 0  # of those, the share forwarded first (the change is made, the answer lost)
    throttle: float = 0  # share answered RESOURCE_EXHAUSTED with a RetryInfo
    retry_delay_ms: float = 100
    methods: str = ".*"
    seed: int = 1

    def args(self) -> list[str]:
        return ["--latency", f"{self.latency_ms:g}ms", "--unavailable", f"{self.unavailable:g}",
                "--throttle", f"{self.throttle:g}", "--lost", f"{self.lost:g}",
                "--retry-delay", f"{self.retry_delay_ms:g}ms", "--methods", self.methods,
                "--seed", str(self.seed)]

    def describe(self) -> str:
        parts = [f"{self.latency_ms:g} ms on every call"]
        if self.unavailable:
            parts.append(f"{self.unavailable:.0%} UNAVAILABLE ({self.lost:.0%} of them after "
                         "the change)")
        if self.throttle:
            parts.append(f"{self.throttle:.0%} RESOURCE_EXHAUSTED + RetryInfo "
                         f"{self.retry_delay_ms:g} ms")
        if (self.unavailable or self.throttle) and self.methods != ".*":
            parts.append(f"faults on {self.methods}")
        return ", ".join(parts)


@contextlib.contextmanager
def proxy(upstream: Backend | str, faults: Faults) -> Iterator[Proxied]:
    """`bench/proxy.py` as its own process in front of `upstream`."""
    target = upstream.target if isinstance(upstream, Backend) else upstream
    argv = [str(PYTHON), "-m", "bench.proxy", "--upstream", target, *faults.args()]
    err = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            err.seek(0)
            raise RuntimeError(f"the proxy did not start: {err.read().decode()[-2000:]}")
        info = json.loads(line)
        yield Proxied(url=f"http://127.0.0.1:{info['port']}", port=int(info["port"]),
                      pid=process.pid, process=process, spec=faults.describe())
    finally:
        stop_process(process)
        err.close()
