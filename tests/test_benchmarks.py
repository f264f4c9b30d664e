"""The benchmark harness: statistics, table, JSON, skip/failure handling, and a smoke run of the cheap part.

No timed assertions: figures are reported by `python -m benchmarks`, never checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import __main__ as bench_main
from benchmarks import fixtures
from benchmarks.harness import (
    BenchError,
    Context,
    Measurement,
    Skip,
    Timed,
    failed,
    measurement_from_json,
    ratio,
    render_table,
    run_timed,
    skipped,
)
from testkit.paths import ROOT


def test_measurement_statistics_and_json() -> None:
    m = Measurement("x", [3.0, 1.0, 2.0, 10.0])
    assert (m.runs, m.median, m.minimum, m.maximum) == (4, 2.5, 1.0, 10.0)
    data = m.to_json()
    assert data["median"] == 2.5 and data["min"] == 1.0 and data["max"] == 10.0 and data["status"] == "ok"
    assert data["samples"] == [3.0, 1.0, 2.0, 10.0]
    empty = Measurement("y")
    assert (empty.runs, empty.median, empty.minimum, empty.maximum) == (0, None, None, None)


def test_json_round_trip_keeps_the_table() -> None:
    rows = [
        Measurement("a", [1.0, 2.0], ratio=0.5, ratio_label="ours/theirs", notes="n", extra={"k": [1]}),
        Measurement("b", [3.0], unit="MiB"),
        skipped("c", "why"),
    ]
    again = [measurement_from_json(json.loads(json.dumps(m.to_json()))) for m in rows]
    assert render_table(again) == render_table(rows)
    assert again[0].extra == {"k": [1]} and again[2].status == "skipped"


def test_ratio_of_medians() -> None:
    assert ratio(Measurement("a", [2.0, 4.0, 6.0]), Measurement("b", [1.0, 2.0, 3.0])) == 2.0
    assert ratio(Measurement("a", [1.0]), Measurement("b", [])) is None
    assert ratio(Measurement("a", [1.0]), 0.0) is None
    assert ratio(3.0, 1.5) == 2.0


def test_table_has_one_row_per_measurement_with_ratio_and_skip_reason() -> None:
    rows = [
        Measurement("handoff.small.ours.total", [1.0, 2.0, 3.0], ratio=0.5, ratio_label="ours/theirs", notes="n1"),
        Measurement("handoff.small.ours.archive", [1.5], unit="MiB"),
        skipped("pipeline", "images not built"),
        failed("rebuild", "buildah exited 1"),
    ]
    text = render_table(rows).splitlines()
    assert text[0].split() == ["name", "runs", "median", "min", "max", "ratio", "notes"]
    assert len(text) == 2 + len(rows)
    assert "2.000 s" in text[2] and "1.000 s" in text[2] and "3.000 s" in text[2] and "0.50 ours/theirs" in text[2]
    assert "1.5 MiB" in text[3]
    assert text[4].startswith("pipeline") and text[4].endswith("skipped: images not built")
    assert "FAILED: buildah exited 1" in text[5]
    markdown = render_table(rows, markdown=True).splitlines()
    assert markdown[0] == "| name | runs | median | min | max | ratio | notes |"
    assert len(markdown) == 2 + len(rows)


def _ctx(tmp_path: Path, stack: ExitStack) -> Context:
    return Context(quick=True, runs=1, workdir=tmp_path, stack=stack, progress=lambda message: None)


def test_run_one_turns_skip_and_errors_into_rows(tmp_path: Path) -> None:
    def skip(ctx: Context) -> list[Measurement]:
        raise Skip("podman not installed")

    def bench_error(ctx: Context) -> list[Measurement]:
        raise BenchError("buildah exited 1:\nline a\nline b")

    def crash(ctx: Context) -> list[Measurement]:
        raise ValueError("boom")

    with ExitStack() as stack:
        ctx = _ctx(tmp_path, stack)
        rows = bench_main.run_one(ctx, "b", SimpleNamespace(run=skip))  # type: ignore[arg-type]
        assert [(r.name, r.status, r.notes) for r in rows] == [("b", "skipped", "skipped: podman not installed")]
        rows = bench_main.run_one(ctx, "b", SimpleNamespace(run=bench_error))  # type: ignore[arg-type]
        assert rows[0].status == "failed" and rows[0].notes == "FAILED: buildah exited 1:"
        assert [r.notes for r in rows[1:]] == ["line a", "line b"]
        rows = bench_main.run_one(ctx, "b", SimpleNamespace(run=crash))  # type: ignore[arg-type]
        assert rows[0].notes == "FAILED: ValueError: boom"


def test_run_timed_records_lines_and_fails_on_nonzero_exit() -> None:
    timed = run_timed([sys.executable, "-c", "print('building'); print('built x in 1.0s')"])
    assert timed.returncode == 0 and [line for _, line in timed.lines] == ["building", "built x in 1.0s"]
    first, second = timed.first("building"), timed.first("built ")
    assert first is not None and second is not None and first <= second <= timed.seconds
    with pytest.raises(BenchError, match="exited 3"):
        run_timed([sys.executable, "-c", "import sys; print('bad'); sys.exit(3)"])


def test_remove_store_removes_plain_directories(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "root" / "overlay").mkdir(parents=True)
    (store / "root" / "overlay" / "file").write_text("x")
    fixtures.remove_store(store)
    assert not store.exists() and not fixtures.runroot(store).exists()


def test_parse_args_rejects_unknown_benchmark_and_bad_runs() -> None:
    with pytest.raises(SystemExit):
        bench_main.parse_args(["--only", "nope"])
    with pytest.raises(SystemExit):
        bench_main.parse_args(["--runs", "0"])
    args = bench_main.parse_args(["--quick", "--runs", "1", "--only", "pack-cli", "handoff"])
    assert args.quick and args.runs == 1 and args.only == ["pack-cli", "handoff"]


@pytest.mark.slow
def test_quick_smoke_of_the_cheap_benchmark(tmp_path: Path) -> None:
    """`python -m benchmarks --quick --runs 1 --only pack-cli`: exits 0, prints the table, writes the JSON."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--runs", "1", "--only", "pack-cli", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("name "))
    assert header.split() == ["name", "runs", "median", "min", "max", "ratio", "notes"]
    document = json.loads(out.read_text())
    assert document["quick"] is True and document["runs"] == 1
    assert document["machine"]["cpus"] >= 1
    names = {m["name"]: m for m in document["measurements"]}
    assert {"pack-cli.render", "pack-cli.render.in-process", "pack-cli.python-floor"} <= set(names)
    render = names["pack-cli.render"]
    assert render["status"] == "ok" and render["runs"] == 1 and render["median"] > 0
    assert any(line.startswith("pack-cli.render ") for line in lines)
    assert document["benchmarks"]["pack-cli"]["status"] == "ok"
    shown = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--show", str(out), "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "| name | runs | median | min | max | ratio | notes |" in shown.stdout
    assert "| pack-cli.render |" in shown.stdout


def test_build_phases_split_the_steps_wall_time_from_its_log_lines(tmp_path: Path) -> None:
    lines = [
        (0.10, "[build-image] building bench/x:v1-r1 from Dockerfile (context ., cache r/c)"),
        (0.15, "[build-image] STEP 1/4: FROM base"),
        (0.40, "[build-image] STEP 2/4: COPY a /a"),
        (0.70, "[build-image] --> Cache pulled from remote r/c:k1"),
        (0.71, "[build-image] --> Using cache 0123"),
        (0.80, "[build-image] STEP 3/4: RUN make"),
        (1.80, "[build-image] --> Pushing cache r/c:k2"),
        (2.05, "[build-image] --> 4567"),
        (2.10, "[build-image] STEP 4/4: CMD x"),
        (2.20, "[build-image] COMMIT localhost/bench/x:v1-r1"),
        (2.50, "[build-image] built bench/x:v1-r1 in 2.4s"),
        (3.00, "[build-image] wrote app-image.tar"),
    ]
    result = fixtures.BuildResult(Timed(3.25, 0, lines), bud_seconds=2.4, archive=tmp_path / "a.tar")
    phases = {name: round(value, 3) for name, value in result.phases().items()}
    assert phases == {
        "start-up": 0.1,
        "base": 0.3,
        "steps": 1.8,
        "cache-pull": 0.3,
        "cache-push": 0.25,
        "commit": 0.3,
        "archive": 0.75,
    }
    assert result.cache_hits == 1 and result.build_steps == 4
    assert fixtures.BuildResult(Timed(1.0, 0, []), 0.0, tmp_path).phases() == {}


@pytest.mark.docker
@pytest.mark.slow
def test_quick_handoff_and_rebuild_rows_with_both_compressions(tmp_path: Path) -> None:
    """`--quick --runs 1 --only handoff rebuild` with the real buildah, podman, skopeo and registry: every row ok,
    the zstd hand-off rows and the rebuild phase split present (figures are never checked)."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--runs", "1", "--only", "handoff", "rebuild", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = {m["name"]: m for m in json.loads(out.read_text())["measurements"]}
    assert all(row["status"] == "ok" for row in rows.values()), [n for n, r in rows.items() if r["status"] != "ok"]
    for case in ("small", "100mb"):
        for path in ("ours", "theirs", "ours-zstd", "ours-archive"):
            assert {f"handoff.{case}.{path}.{what}" for what in ("total", "handoff", "archive")} <= set(rows)
        assert rows[f"handoff.{case}.ours-zstd.handoff"]["ratio_label"] == "ours/theirs"
        assert "x faster than theirs" in rows[f"handoff.{case}.ours-zstd.handoff"]["notes"]
    for case in ("cold", "cache.unchanged", "cache.changed", "cache.unchanged.zstd", "cache.changed.zstd"):
        phases = rows[f"rebuild.{case}"]["extra"]["phases"]
        assert set(phases) == {"start-up", "base", "steps", "cache-pull", "cache-push", "commit", "archive"}
    assert rows["rebuild.cache.unchanged"]["extra"]["cache_hits"] == ["6/6"]
