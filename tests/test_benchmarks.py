"""The benchmark code runs end to end on tiny sizes, parses sphinx-gallery's times, and the
engine's speed settings (channels-last, threads) behave. No timing is asserted."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import __main__ as bench
from benchmarks._measure import Row, compare, format_table
from benchmarks.build import (
    FID_CLASSIFIER_SHARE,
    SHARES,
    BuildReport,
    build_rows,
    find_execution_times,
    parse_execution_times,
    report_existing_build,
)
from benchmarks.record import main as record_main
from benchmarks.reference import ClassicNet, reference_classifier_epoch, reference_loader
from benchmarks.time_to_quality import (
    BASE_CHANNELS,
    OUR_LATENT_DIM,
    TimeToQuality,
    _networks,
    classic_config,
    first_at_or_below,
    gallery_config,
    quality_rows,
)
from mlcheatsheet.site.budgets import get_budget
from mlcheatsheet.data import load_dataset
from mlcheatsheet.findings import Interval
from mlcheatsheet.metrics import SampleQuality
from mlcheatsheet.models import MLP
from mlcheatsheet.models.cnn import CNN
from mlcheatsheet.runtime import THREADS_ENV, configure_threads, use_channels_last
from mlcheatsheet.training import GanConfig, GanHistory, TrainConfig, fit_classifier

TIMES_PAGE = """
Computation times
=================
**01:02.500** total execution time for 2 files **from all galleries**:

   * - Example
     - Time
     - Mem (MB)
   * - :ref:`sphx_glr_auto_examples_plot_cnn.py` (``../gallery/plot_cnn.py``)
     - 01:00.250
     - 0.0
   * - :ref:`sphx_glr_auto_examples_plot_mlp.py` (``../gallery/plot_mlp.py``)
     - 00:02.250
     - 0.0
"""


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_execution_times_are_parsed(tmp_path: Path) -> None:
    page = tmp_path / "sg_execution_times.rst"
    page.write_text(TIMES_PAGE)
    assert find_execution_times(tmp_path) == page
    assert parse_execution_times(page) == {"plot_cnn.py": pytest.approx(60.25), "plot_mlp.py": pytest.approx(2.25)}


def test_missing_or_foreign_times_page_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make html"):
        find_execution_times(tmp_path)
    page = tmp_path / "other.rst"
    page.write_text("Hello\n=====\n")
    with pytest.raises(ValueError, match="not a sphinx-gallery"):
        parse_execution_times(page)


def test_build_rows_give_each_example_its_share_of_15_minutes() -> None:
    examples = {"plot_mlp.py": 10.0, "plot_cnn.py": 180.0, "plot_gan.py": 60.0, "plot_dcgan.py": 100.0}
    rows = build_rows(BuildReport(examples=examples, wall_seconds=1000.0, peak_rss_gib=2.0, returncode=0))
    by_name = {row.name.strip(): row for row in rows}
    assert by_name["make html wall time (full)"].verdict == "MISS"  # 1000 s > 900 s
    assert by_name["build peak memory"].verdict == "ok"
    assert by_name["plot_cnn.py"].reference == f"share {SHARES['plot_cnn.py']} s"
    assert by_name["plot_cnn.py"].verdict == "MISS" and by_name["plot_mlp.py"].verdict == "ok"
    assert "20.0% of 15 min" in by_name["plot_cnn.py"].note
    # The first script in gallery order that scores samples trains the shared FID classifier.
    assert by_name["plot_gan.py"].reference == f"share {SHARES['plot_gan.py'] + FID_CLASSIFIER_SHARE:.0f} s"
    assert by_name["plot_dcgan.py"].reference == f"share {SHARES['plot_dcgan.py']} s"
    assert [row.name.strip() for row in rows][-4:] == ["plot_cnn.py", "plot_dcgan.py", "plot_gan.py", "plot_mlp.py"]  # slowest first
    failed = build_rows(BuildReport(examples={}, wall_seconds=100.0, returncode=2))
    assert failed[0].verdict == "FAILED"


def test_make_html_record_is_read_back_with_the_times_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLCHEATSHEET_MODE", "quick")
    stats = tmp_path / "_build" / "build-stats.json"
    command = [sys.executable, "-c", f"open({str(tmp_path / 'sg_execution_times.rst')!r}, 'w').write({TIMES_PAGE!r})"]
    assert record_main([str(stats), "--", *command]) == 0
    report = report_existing_build(tmp_path)
    assert report.mode == "quick" and report.returncode == 0 and report.wall_seconds > 0 and report.peak_rss_gib > 0
    assert report.examples == {"plot_cnn.py": pytest.approx(60.25), "plot_mlp.py": pytest.approx(2.25)}
    assert not any("different builds" in note for note in report.notes)
    page = tmp_path / "sg_execution_times.rst"
    os.utime(page, (page.stat().st_mtime - 3600,) * 2)  # an hour before the next build
    assert record_main([str(stats), "--", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    report = report_existing_build(tmp_path)  # the times page is older than this second record
    assert report.returncode == 3 and any("different builds" in note for note in report.notes)
    stats.write_text("{}")
    with pytest.raises(ValueError, match="not a build record"):
        report_existing_build(tmp_path)


def test_compare_interleaves_and_takes_the_median_of_pair_ratios() -> None:
    calls: list[str] = []

    def side(name: str, samples: int):
        def run() -> int:
            calls.append(name)
            return samples

        return run

    result = compare(side("ours", 300), side("ref", 100), repeats=3, warmup=1)
    assert calls == ["ref", "ours", "ref", "ours", "ours", "ref", "ref", "ours"]
    assert len(result.ours) == len(result.reference) == 3
    assert result.ratio > 0


def test_table_marks_targets() -> None:
    text = format_table(
        [Row("fast", "3/s", "1/s", 3.0, 2.0), Row("slow", "1/s", "1/s", 1.0, 2.0), Row.section("[shares]"),
         Row("share", "1", "4", 0.25, 0.3, percent=True)],
        title="T",
    )
    lines = text.splitlines()
    assert "ok" in lines[4] and "MISS" in lines[5]
    assert lines[6] == "[shares]"
    assert "25%" in lines[7] and ">= 30%" in lines[7]


def test_reference_loop_trains_the_classic_net(mnist5k) -> None:
    data = mnist5k.subset(max_train=128)
    model = ClassicNet()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    losses: list[float] = []
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    seen = reference_classifier_epoch(model, reference_loader(data.x_train, data.y_train, batch_size=32), optimizer, log=losses.append)
    assert seen == 128 and len(losses) == 4


def test_channels_last_is_chosen_for_conv_nets_only() -> None:
    cpu = torch.device("cpu")
    assert use_channels_last(CNN(channels=(4,)), cpu)
    assert not use_channels_last(MLP(hidden_dims=(8,)), cpu)
    assert not use_channels_last(CNN(channels=(4,)), cpu, requested=False)
    assert not use_channels_last(CNN(channels=(4,)), torch.device("mps"))


def test_channels_last_training_matches_and_hands_back_a_contiguous_model(mnist5k) -> None:
    data = mnist5k.subset(max_train=128)
    histories = []
    for layout in (False, True):
        torch.manual_seed(0)
        model = CNN(channels=(4, 8))
        histories.append(fit_classifier(model, data, TrainConfig(epochs=1, batch_size=32, channels_last=layout)))
        conv = model.features[0].weight
        assert conv.is_contiguous()
        conv.view(conv.shape[0], -1)  # raises on a channels-last weight
    assert histories[0].train_loss[0] == pytest.approx(histories[1].train_loss[0], rel=1e-3)


def test_thread_count_can_be_forced_and_is_validated(monkeypatch, restore_threads) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")
    assert configure_threads(torch.device("cpu")) == 1
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="positive number of threads"):
        configure_threads(torch.device("cpu"))


def test_quick_benchmark_prints_every_part(tmp_path: Path, capsys, monkeypatch, restore_threads) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")  # keeps the smoke run fast on a busy machine
    (tmp_path / "sg_execution_times.rst").write_text(TIMES_PAGE)
    assert bench.main(["--quick", "--threads", "1", "--docs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sum(bool(line) and set(line) == {"="} for line in out.splitlines()) == 1  # one table (one title underline)
    for name in ("load average", "MLP samples/s", "CNN samples/s", "DCGAN step samples/s", "CNN time to reference accuracy A",
                 "DCGAN time to classic FID F", "CNN step / matmul GFLOP/s", "plot_cnn.py", f"share {SHARES['plot_cnn.py']} s",
                 "no build record", "full-mode CPU budgets"):
        assert name in out


def test_quick_quality_part_prints_its_rows(capsys, monkeypatch, restore_threads) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")
    assert bench.main(["--quick", "--only", "quality", "--threads", "1", "--no-build-report"]) == 0
    out = capsys.readouterr().out
    assert "[time to quality:" in out and "MLP samples/s" not in out  # --only quality runs that part alone
    time_row = next(line for line in out.splitlines() if line.startswith("DCGAN time to classic FID F"))
    assert ">= 5.00x" in time_row and "ms/step" in time_row
    assert f"F: classic FID after {get_budget('dcgan', mode='quick').steps} steps" in out
    assert "Z 100, no EMA" in out and "Z 16, EMA 0.999" in out


def _history(steps: list[int], fids: list[float]) -> GanHistory:
    return GanHistory(eval_steps=steps, fid=fids, total_seconds=12.0)


def test_first_evaluation_at_or_below_f_skips_the_start_and_never_guesses() -> None:
    history = _history([0, 50, 100, 150], [0.5, 3.0, 2.0, 1.0])  # step 0 is the untrained generator: never counts
    assert first_at_or_below(history, 2.0) == 100  # at F counts as reached
    assert first_at_or_below(history, 2.5) == 100
    assert first_at_or_below(history, 0.9) is None
    assert first_at_or_below(_history([0, 50], [9.0, float("nan")]), 100.0) is None


def _quality(fid: float) -> SampleQuality:
    return SampleQuality(fid=fid, floor=0.8, class_shares=torch.full((10,), 0.1), mean_confidence=0.9,
                         fid_interval=Interval(fid, fid - 0.1, fid + 0.1, "t", 10))


def _result(probe: GanHistory, reached: int | None, ours_seconds: float | None) -> TimeToQuality:
    recipe = gallery_config(get_budget("dcgan", mode="full"))
    return TimeToQuality(_quality(1.5), 100.0, probe, reached, ours_seconds, None if reached is None else _quality(1.4),
                         recipe, classic_config(), 50)


def test_quality_row_says_when_f_is_never_reached_with_the_best_fid() -> None:
    history = _history([0, 50, 100, 150], [9.0, 3.0, 1.75, 2.0])
    time_row, fid_row = quality_rows(_result(history, first_at_or_below(history, 1.5), None))
    assert time_row.ours == "not reached" and time_row.ratio is None and time_row.verdict == ""
    assert "never reached F in 2,500 steps" in time_row.note and "best FID 1.750 at step 100" in time_row.note
    assert fid_row.ours == "—" and fid_row.reference == "FID 1.50 [1.40, 1.60]"
    reached = quality_rows(_result(_history([0, 50], [9.0, 1.4]), 50, 10.0))[0]
    assert reached.ours == "10.0 s" and reached.ratio == pytest.approx(10.0) and reached.verdict == "ok"
    assert "at step 50 of 2,500" in reached.note


def test_our_dcgan_recipe_is_the_gallery_scripts() -> None:
    """gallery_config mirrors gallery/plot_dcgan.py's inline GanConfig(...): evaluate the script's own arguments."""
    tree = ast.parse((Path(__file__).parents[1] / "gallery" / "plot_dcgan.py").read_text())
    names = ("GanConfig", "DCGANGenerator", "DCGANDiscriminator")
    calls = {node.func.id: node.keywords for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names}
    for mode in ("quick", "full"):
        budget = get_budget("dcgan", mode=mode)
        scope = {"steps": budget.steps, "max": max}
        written = {kw.arg: eval(compile(ast.Expression(kw.value), "plot_dcgan.py", "eval"), scope) for kw in calls["GanConfig"]}
        assert gallery_config(budget) == GanConfig(**written)
    sizes = {name: {kw.arg: ast.literal_eval(kw.value) for kw in calls[name] if kw.arg != "image_shape"} for name in names[1:]}
    assert sizes == {"DCGANGenerator": {"latent_dim": OUR_LATENT_DIM, "base_channels": BASE_CHANNELS},
                     "DCGANDiscriminator": {"base_channels": BASE_CHANNELS, "batch_norm": False, "spectral_norm": True}}
    _, discriminator = _networks(load_dataset("mnist-5k"), ours=True)  # what the benchmark trains
    assert discriminator.head.weight.shape == (1, discriminator.feature_dim)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())
