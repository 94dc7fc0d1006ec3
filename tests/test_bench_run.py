"""`bench/run.py` keeps figures that do not reproduce out of the results and the README: it
samples the 1-minute load average between runs and records its peak with the core count on
every figure; each benchmark begins only once the load has fallen to the threshold it prints
(waiting for it a while), and a benchmark that had to begin above it (other work running)
makes it write nothing; its own load while it runs is recorded, not held against it. It
refuses to write the README's table from loud or mixed results, and runs one at a time.

The load average is the machine's, not this project's: it is replaced here by a script of
values, and the wait for a quiet start by a fake clock, so that a busy and a quiet machine
can both be shown on any machine, at once."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import common, run
from bench.common import Context, Figure, figure, log

CORES = os.cpu_count() or 1


class Loads:
    """The 1-minute load average, as the test says it is, on a fake clock: `falls` says
    what it becomes after each wait for a quiet start."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0
        self.now = 0.0
        self.waits: list[float] = []
        self.falls: list[float] = []

    def __call__(self) -> tuple[float, float, float]:
        self.calls += 1
        return (self.value, self.value, self.value)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if self.falls:
            self.value = self.falls.pop(0)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    fake = Loads(0.0)
    monkeypatch.setattr(common.os, "getloadavg", fake)
    monkeypatch.setattr(run.os, "getloadavg", fake)
    log_ = common.LoadLog()
    log_.sleep, log_.clock = fake.sleep, lambda: fake.now
    monkeypatch.setattr(common, "LOAD", log_)
    monkeypatch.setattr(run, "LOAD", log_)
    return fake


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(run, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(run, "RESULTS_MD", tmp_path / "results.md")
    monkeypatch.setattr(run, "README", tmp_path / "README.md")
    monkeypatch.setattr(run, "LOCK", tmp_path / "bench.lock")
    monkeypatch.setattr(run, "code_version", lambda: "abc1234567")
    (tmp_path / "README.md").write_text(f"intro\n{run.README_BEGIN}\nold table\n{run.README_END}\n")
    yield tmp_path


def bench_with(loads: Loads, during: list[float]) -> run.Benchmark:
    """A benchmark of two runs that logs between them, the load taking each value in turn."""

    def measure(ctx: Context) -> list[Figure]:
        samples = []
        for n, value in enumerate(during):
            loads.value = value
            log(f"fake #{n}")
            samples.append(0.1 + n / 100)
        return [figure("fake", "a measure", samples, "s")]

    return measure


def use(monkeypatch: pytest.MonkeyPatch, benchmark: run.Benchmark) -> None:
    monkeypatch.setattr(run, "BENCHMARKS", {"fake": benchmark})


def test_a_quiet_run_records_load_and_cores_with_every_figure(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, bench_with(loads, [0.2, 0.4]))
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 0
    stored = json.loads((files / "results.json").read_text())
    section = stored["fake"]
    assert section["load_peak"] == 0.4 and section["load_limit"] == 1
    assert section["cores"] == CORES
    [fig] = section["figures"]
    assert fig["load"] == 0.4 and fig["cores"] == CORES
    assert f"0.40/{CORES}" in (files / "results.md").read_text()
    printed = capsys.readouterr()
    assert "threshold: 1-minute load average <= 1" in printed.err  # the threshold is printed
    assert f"0.40/{CORES}" in printed.out


def test_a_benchmarks_own_load_is_recorded_not_held_against_it(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, bench_with(loads, [0.2, 5.0, 0.3]))  # quiet when it began
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 0
    section = json.loads((files / "results.json").read_text())["fake"]
    assert (section["load_before"], section["load_peak"]) == (0.0, 5.0)
    assert json.loads((files / "results.json").read_text())["fake"]["figures"][0]["load"] == 5.0
    assert "LOUD" not in capsys.readouterr().out
    assert not loads.waits


def test_a_benchmark_waits_for_a_quiet_start(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, bench_with(loads, [0.2]))
    loads.value, loads.falls = 1.8, [1.4, 0.9]  # the previous benchmark's load fading
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 0
    assert loads.waits == [5.0, 5.0]
    assert json.loads((files / "results.json").read_text())["fake"]["load_before"] == 0.9


def test_a_benchmark_begun_while_other_work_ran_writes_nothing(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, bench_with(loads, [5.0]))
    loads.value = 5.0  # and it never falls
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 3
    assert sum(loads.waits) >= 180  # it waited its while first
    assert not (files / "results.json").exists() and not (files / "results.md").exists()
    printed = capsys.readouterr()
    assert "LOUD fake: 1-minute load 5.00 > 1.00 when it began" in printed.out
    assert "refusing to write the results" in printed.err
    assert "a measure" in printed.out  # the figures are still shown


def test_ignore_load_writes_results_marked_loud_and_never_the_readme(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, bench_with(loads, [3.0]))
    loads.value = 3.0
    assert run.main(["--allow-dirty", "--max-load", "1", "--ignore-load"]) == 0
    stored = json.loads((files / "results.json").read_text())
    assert stored["fake"]["load_before"] == 3.0 and stored["fake"]["ignored_load"] is True
    with pytest.raises(SystemExit, match="fake: 1-minute load 3.00 > 1.00 when it began"):
        run.main(["--write-readme"])
    assert "old table" in (files / "README.md").read_text()


def test_the_readme_takes_only_quiet_results_at_one_commit(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, bench_with(loads, [0.1]))
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 0
    assert run.main(["--write-readme"]) == 0
    readme = (files / "README.md").read_text()
    assert "old table" not in readme and f"0.10/{CORES}" in readme

    stored = json.loads((files / "results.json").read_text())
    stored["other"] = {**stored["fake"], "code": "def7654321"}
    (files / "results.json").write_text(json.dumps(stored))
    with pytest.raises(SystemExit, match="different commits"):
        run.main(["--write-readme"])
    del stored["other"]["load_peak"], stored["other"]["load_before"]  # before load was recorded
    stored["other"]["code"] = "abc1234567"
    (files / "results.json").write_text(json.dumps(stored))
    with pytest.raises(SystemExit, match="other: no load samples recorded"):
        run.main(["--write-readme"])


def test_a_second_run_refuses_while_one_measures(
        loads: Loads, files: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, bench_with(loads, [0.1]))
    with run.only_run(files / "bench.lock"):
        assert run.main(["--allow-dirty"]) == 2
    assert f"pid {os.getpid()}" in capsys.readouterr().err
    assert not (files / "results.json").exists()
    assert run.main(["--allow-dirty", "--max-load", "1"]) == 0  # released
