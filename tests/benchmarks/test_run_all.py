"""benchmarks/run_all.py: what it writes (every figure the suite promises, each target with its
verdict, the tables and the charts) and how it treats absent, broken and misbehaving
benchmarks. The stream and scaling figures come from tiny real runs on an in-process server;
nothing is timed or compared with a bound."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import run_all
import scaling
import stream_server
import stream_throughput

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def real_figures() -> dict[str, Any]:
    """``stream.*`` and ``scaling.*`` figures of one tiny run of each benchmark."""

    async def go() -> dict[str, Any]:
        bench = stream_server.BenchServer()
        server = await asyncio.start_server(bench.handle, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            args = stream_throughput.settings(quick=True)
            args.count, args.reference_count, args.latency_count = 200, 50, 100
            args.rate, args.stall_count = 5_000.0, 200
            stream = stream_throughput.flatten(await stream_throughput.bench(port, args))
            config = {"count": 200, "latency_count": 50, "rounds": 1, "memory_subs": 20}
            return stream | scaling.flatten(await scaling.bench(port, config))
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def loader(real: dict[str, Any], rest: float = 1.02,
           extra: dict[str, run_all.Measure] | None = None) -> run_all.Loader:
    """Canned measures for the benchmarks that need their own processes; the optional
    modules absent unless ``extra`` provides them."""
    stream = {k: v for k, v in real.items() if k.startswith("stream.")}
    scaled = {k: v for k, v in real.items() if not k.startswith("stream.")}
    scaled["stream.subs100_vs_subs1"] = real["stream.subs100_vs_subs1"]
    del stream["stream.subs100_vs_subs1"]
    measures: dict[str, run_all.Measure] = {
        "rest_overhead": lambda quick: {"rest.sdk_vs_bare": rest, "rest.detail": {"q": quick}},
        "stream_throughput": lambda quick: stream,
        "scaling": lambda quick: scaled,
        "order_pipeline": lambda quick: {"orders.client_cost_us": 50.5,
                                         "orders.per_s_50_inflight": 1200},
        "pulse_rpc": lambda quick: {"pulse.calls_per_s_ws": 30000,
                                    "pulse.calls_per_s_http": 9000, "pulse.p99_rtt_us": 150.0,
                                    "pulse.notifications_per_s": 100000},
        **(extra or {}),
    }
    return measures.get


def test_a_run_writes_every_promised_figure_the_verdicts_the_tables_and_the_charts(
    tmp_path: Path, real_figures: dict[str, Any]
) -> None:
    assert run_all.main(["--quick", "--out", str(tmp_path)], loader(real_figures)) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    for key in run_all.REQUIRED_KEYS:
        assert isinstance(data[key], (int, float)), key
        assert not isinstance(data[key], bool), key
    assert "stream.detail" in data
    assert "scaling.detail" in data
    assert [t["key"] for t in data["targets"]] == [t.key for t in run_all.TARGETS]
    rest = next(t for t in data["targets"] if t["key"] == "rest.sdk_vs_bare")
    assert (rest["value"], rest["passed"]) == (1.02, True)
    assert data["run"]["mode"] == "quick"
    assert data["run"]["skipped"] == ["decode", "transports"]
    assert set(data["run"]["seconds"]) == {"rest", "stream", "scaling", "orders", "pulse"}

    text = (tmp_path / "benchmarks.md").read_text()
    assert "## Targets" in text
    assert "| REST: SDK time per request / bare aiohttp | <= 1.05 | 1.02 | pass |" in text
    for label in run_all.STREAM_LABELS.values():
        assert label in text
    assert "## Scaling" in text
    for key in run_all.REQUIRED_KEYS:
        assert f"`{key}`" in text
    for chart in ("throughput", "latency", "scaling"):
        path = tmp_path / "benchmarks" / f"{chart}.png"
        assert path.read_bytes().startswith(PNG)
        assert f"(benchmarks/{chart}.png)" in text


def test_a_missed_target_is_reported_not_a_failure_and_optional_figures_join_in(
    tmp_path: Path, real_figures: dict[str, Any]
) -> None:
    extra: dict[str, run_all.Measure] = {
        "transports": lambda quick: {"transports.picows_raw_msgs_per_s": 500000.0,
                                     "transports.detail": {}},
        "decode_costs": lambda quick: {
            "decode.orderbook_sdk_us": 12.5,
            "decode.detail": {"orderbook": {"json": 13.0, "sdk": 8.25},
                              "mix": {"json": 6.5, "sdk": 4.5}}},
    }
    code = run_all.main(["--out", str(tmp_path)], loader(real_figures, 1.5, extra))
    assert code == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["run"]["mode"] == "full"
    assert data["run"]["skipped"] == []
    assert data["decode.orderbook_sdk_us"] == 12.5
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| REST: SDK time per request / bare aiohttp | <= 1.05 | 1.5 | **FAIL** |" in text
    assert "`transports.picows_raw_msgs_per_s`" in text
    assert "| kind | json | sdk |" in text
    assert "| orderbook | 13 | 8.25 |" in text
    assert run_all.throughput_series(data)["picows raw"] == 500000.0


def test_a_detail_of_another_shape_gets_no_table() -> None:
    assert run_all.matrix({"mix": {"json": 1.0}, "note": "text"}) is None
    assert run_all.matrix([1, 2]) is None
    assert run_all.matrix({"a": {"x": 1}, "b": {"y": 2}}) == (
        ["x", "y"], [["a", 1, None], ["b", None, 2]])


def test_targets_at_the_bound_pass_past_it_fail_and_unmeasured_say_so() -> None:
    at_bounds = {t.key: t.bound for t in run_all.TARGETS}
    assert all(row["passed"] is True for row in run_all.evaluate(at_bounds))
    past = {t.key: t.bound * 0.5 if t.op == ">=" else t.bound * 2 for t in run_all.TARGETS}
    assert all(row["passed"] is False for row in run_all.evaluate(past))
    unmeasured = {t.key: float("nan") for t in run_all.TARGETS[:3]}
    assert all(row["passed"] is None for row in run_all.evaluate(unmeasured))
    assert run_all.verdict(None) == "not measured"


def test_a_required_benchmark_missing_is_a_crash(real_figures: dict[str, Any]) -> None:
    measures = loader(real_figures)

    def without_pulse(module: str) -> run_all.Measure | None:
        return None if module == "pulse_rpc" else measures(module)

    with pytest.raises(RuntimeError, match=r"pulse_rpc\.py is missing"):
        run_all.collect(["pulse"], True, without_pulse, log=lambda _: None)


def test_a_figure_that_is_not_a_number_is_a_crash_naming_it() -> None:
    with pytest.raises(TypeError, match=r"figure rest\.sdk_vs_bare must be a plain number"):
        run_all.check_figures("rest", {"rest.sdk_vs_bare": "1.02"})
    with pytest.raises(TypeError, match="must be a plain number"):
        run_all.check_figures("rest", {"rest.ok": True})
    with pytest.raises(TypeError, match=r"'<area>\.<name>'"):
        run_all.check_figures("rest", {"ratio": 1.0})
    run_all.check_figures("rest", {"rest.detail": {"anything": "goes"}, "rest.x": 1})


def test_a_full_selection_without_a_promised_figure_is_a_crash(
    tmp_path: Path, real_figures: dict[str, Any]
) -> None:
    measures = loader(real_figures)

    def short(module: str) -> run_all.Measure | None:
        if module == "order_pipeline":
            return lambda quick: {"orders.client_cost_us": 50.0}
        return measures(module)

    with pytest.raises(RuntimeError, match=r"did not produce: orders\.per_s_50_inflight"):
        run_all.main(["--quick", "--out", str(tmp_path)], short)
    # A partial selection is not held to the whole list.
    assert run_all.main(["--quick", "--only", "orders", "--out", str(tmp_path)], short) == 0


def test_load_tells_an_absent_module_from_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bench_broken_dependency.py").write_text("import no_such_package_here\n")
    (tmp_path / "bench_without_measure.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run_all.load("bench_not_in_this_checkout") is None
    with pytest.raises(ModuleNotFoundError, match="no_such_package_here"):
        run_all.load("bench_broken_dependency")
    with pytest.raises(TypeError, match="no measure"):
        run_all.load("bench_without_measure")


@pytest.mark.parametrize("module", ["rest_overhead", "stream_throughput", "scaling",
                                    "order_pipeline", "pulse_rpc"])
def test_every_required_benchmark_exposes_measure(module: str) -> None:
    assert callable(run_all.load(module))


def test_a_quick_run_never_replaces_the_committed_figures(tmp_path: Path) -> None:
    full = run_all.outputs(quick=False, out=None)
    assert full.json == run_all.HERE / "results.json"
    assert full.markdown == run_all.ROOT / "docs" / "benchmarks.md"
    quick = run_all.outputs(quick=True, out=None)
    assert run_all.HERE / "results" / "quick" in quick.json.parents
    assert quick.markdown.parent == quick.json.parent
    assert run_all.outputs(quick=True, out=tmp_path).json == tmp_path / "results.json"


def test_an_unknown_area_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_all.main(["--only", "stream,speed"])
    assert "unknown: speed" in capsys.readouterr().err
