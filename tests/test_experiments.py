"""The replication's scripts: every trial as the study ran it, records, divergence, the report."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import extras
import harness
import iter1
import iter2
import iter3
import iter4
import outputs
import report
from harness import RECORD_FIELDS, build_optimizer
from models import MODELS
from tinycnn import optim

REPO = Path(__file__).resolve().parents[1]
STUDY = {  # trial: (params, batch, optimizer class, lr, momentum, weight decay), from docs/study.md
    "1a": (593_200, 512, optim.SGD, 10.01, 0.9, 0), "1b": (593_200, 256, optim.SGD, 10.01, 0.9, 0),
    "1c": (593_200, 1024, optim.SGD, 10.01, 0.9, 0),
    "2a": (593_200, 1024, optim.SGD, 1.0, 0.9, 0), "2b": (593_200, 1024, optim.SGD, 0.5, 0.9, 0),
    "2c": (593_200, 1024, optim.SGD, 0.1, 0.9, 0), "2d": (593_200, 1024, optim.SGD, 0.01, 0.9, 0),
    "2e": (593_200, 1024, optim.SGD, 0.001, 0.9, 0), "2f": (593_200, 1024, optim.SGD, 0.0001, 0.9, 0),
    "2g": (593_200, 1024, optim.Adam, 0.1, 0, 0),
    "3a": (61_461, 1024, optim.Adam, 0.01, 0, 1e-4), "3b": (61_461, 1024, optim.Adam, 0.001, 0, 1e-4),
    "3c": (61_461, 1024, optim.Adam, 0.01, 0, 1e-3),
    "4a": (24_245, 1024, optim.Adam, 0.01, 0, 1e-4),
}
ALL_STUDY_TRIALS = [t for module in (iter1, iter2, iter3, iter4) for t in module.TRIALS]


def test_every_study_trial_is_there_exactly_as_the_study_ran_it():
    assert sorted(t.id for t in ALL_STUDY_TRIALS) == sorted(STUDY)
    for trial in ALL_STUDY_TRIALS:
        params, batch, optimizer_class, lr, momentum, weight_decay = STUDY[trial.id]
        model = MODELS[trial.model]()
        assert model.num_parameters() == params, trial.id
        assert trial.batch_size == batch and trial.epochs == 1 and not trial.shuffle and not trial.ours
        optimizer = build_optimizer(trial, model.parameters())
        assert isinstance(optimizer, optimizer_class), trial.id
        group = optimizer.param_groups[0]
        assert (group["lr"], group["weight_decay"]) == (lr, weight_decay), trial.id
        assert group.get("momentum", 0) == momentum and not group.get("nesterov", False), trial.id
        assert trial.study_reported_acc is not None and trial.study_reported


def test_our_trials_are_marked_and_name_the_trial_they_vary():
    for trial in extras.TRIALS:
        assert trial.ours and trial.study_trial in STUDY and trial.description


@pytest.mark.parametrize("script, trial", [(iter1, "1a"), (iter2, "2e"), (iter3, "3a"), (iter4, "4a")])
def test_a_short_run_of_each_iteration_writes_a_complete_record(tmp_path, script, trial):
    out = tmp_path / f"{trial}.json"
    argv = ["--trial", trial, "--limit", "512", "--no-progress", "--no-plots", "--out", str(out)]
    assert script.main("short", script.TRIALS, argv=argv) == 0
    record = json.loads(out.read_text())
    assert all(field in record for field in RECORD_FIELDS)
    assert record["trial"] == trial and record["params"] == STUDY[trial][0] and record["train_images"] == 512
    assert 0 <= record["test_acc"] <= 100 and record["test_total"] == 10_000
    assert record["study_metric_total"] == 512


def committed_files():
    return {path: path.stat().st_mtime_ns for path in harness.RESULTS_DIR.rglob("*") if path.is_file()}


def test_a_run_without_out_leaves_the_committed_results_alone(tmp_path, monkeypatch, capsys):
    """A run writes under experiments/runs (git ignores it), records, checkpoints and pictures alike."""
    import tiny

    monkeypatch.setattr(outputs, "RUNS_DIR", tmp_path / "runs")
    committed = committed_files()
    argv = ["--trial", "tiny2k-s0", "--limit", "256", "--epochs", "1", "--val", "100", "--no-progress", "--no-plots"]
    assert harness.main("smoke", tiny.TRIALS, record_name=lambda trial: f"tiny/{trial.id}.json", argv=argv) == 0
    assert "which git ignores" in capsys.readouterr().out
    assert json.loads((tmp_path / "runs" / "tiny" / "tiny2k-s0.json").read_text())["train_images"] == 256
    assert (tmp_path / "runs" / "checkpoints" / "tiny2k-s0.npz").exists()
    assert committed_files() == committed


def test_out_takes_every_output_of_the_run(tmp_path):
    """--out DIR: the records, checkpoints and pictures all go there (matplotlib or not); nothing committed moves."""
    import tiny

    committed = committed_files()
    argv = ["--trial", "tiny2k-s1", "--limit", "256", "--epochs", "1", "--val", "100", "--no-progress",
            "--out", str(tmp_path / "mine")]
    assert harness.main("smoke", tiny.TRIALS, record_name=lambda trial: f"tiny/{trial.id}.json", argv=argv) == 0
    written = {str(path.relative_to(tmp_path / "mine")) for path in (tmp_path / "mine").rglob("*") if path.is_file()}
    assert {"tiny/tiny2k-s1.json", "checkpoints/tiny2k-s1.npz", "checkpoints/tiny2k-s1.last.npz"} <= written
    assert committed_files() == committed


def test_update_results_is_only_for_the_trials_as_defined(capsys):
    with pytest.raises(SystemExit):
        harness.parse_args("x", iter4.TRIALS, ["--update-results", "--limit", "10"])
    assert "--update-results re-makes the committed results" in capsys.readouterr().err


def test_a_record_names_no_folder_of_this_machine(tmp_path):
    out = tmp_path / "4a.json"
    assert iter4.main("short", iter4.TRIALS, argv=["--limit", "256", "--no-progress", "--no-plots", "--out",
                                                   str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["data_dir"] == "data/mnist" and str(REPO) not in out.read_text()
    sums = dict(reversed(line.split()) for line in (REPO / "data" / "mnist" / "SHA256SUMS").read_text().splitlines())
    assert record["data_sha256"] == sums
    for path in harness.RESULTS_DIR.rglob("*.json"):  # the committed records too
        assert "/work/" not in path.read_text() and str(REPO) not in path.read_text(), path


def test_an_output_that_cannot_be_written_fails_before_training(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = ["--limit", "256", "--no-progress", "--no-plots", "--out", str(a_file / "under" / "4a.json")]
    assert iter4.main("short", iter4.TRIALS, argv=argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"error: {a_file / 'under'}: cannot write there" in captured.err
    assert "trials to run" not in captured.out  # stopped before the data and the training


def test_a_full_disk_at_the_end_is_one_line_naming_the_file_and_the_figures_stay_printed(tmp_path, monkeypatch,
                                                                                         capsys):
    import errno

    def full_disk(path, record):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(harness, "write_json", full_disk)
    out = tmp_path / "4a.json"
    assert iter4.main("short", iter4.TRIALS, argv=["--limit", "256", "--no-progress", "--no-plots", "--out",
                                                   str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot write {out}: No space left on device\n"
    assert "-- trial 4a: held-out test accuracy" in captured.out


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path, capsys):
    out = tmp_path / "4a.json"
    with outputs.claimed([out]):  # as a first run holds it
        argv = ["--limit", "256", "--no-progress", "--no-plots", "--out", str(out)]
        assert iter4.main("short", iter4.TRIALS, argv=argv) == 2
        assert f"{out}: another run (process {os.getpid()}) is writing it now" in capsys.readouterr().err
    with outputs.claimed([out]):  # released when the first ended: free again
        pass


def test_a_diverging_run_is_recorded_not_hidden(tmp_path):
    out = tmp_path / "1a.json"
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "iter1.py"), "--trial", "1a", "--lr", "1e12",
                          "--limit", "2048", "--no-progress", "--no-plots", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    record = json.loads(out.read_text())
    assert record["diverged"] is True and record["diverged_at"]["epoch"] == 1
    assert record["lr"] == 1e12
    assert not math.isfinite(record["final_train_loss"])
    # a NaN network predicts class 0 everywhere, as the study's did
    assert record["test_correct"] == 980  # the zeros among MNIST's 10,000 test labels
    assert "DIVERGED" in run.stdout and f"!! diverged at epoch 1, batch {record['diverged_at']['batch']}" in run.stdout


def test_a_loss_that_explodes_is_a_divergence_while_it_is_still_finite(tmp_path):
    """iter4 at lr 1e6 trained to the end on losses of 1e29 and was recorded as not diverged."""
    out = tmp_path / "4a.json"
    assert iter4.main("short", iter4.TRIALS, argv=["--lr", "1e6", "--limit", "4096", "--no-progress", "--no-plots",
                                                   "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["diverged"] is True and record["diverged_at"]["epoch"] == 1
    losses = record["loss_per_batch"]
    batch = record["diverged_at"]["batch"]
    because = record["diverged_at"]["because"]
    assert ("1000 times the first" in because and losses[batch - 1] > 1000 * losses[0]) or "not finite" in because
    assert all(loss <= 1000 * losses[0] for loss in losses[:batch - 1])  # the first such batch


def make_record(trial, **changes):
    record = {field: 0 for field in RECORD_FIELDS}
    record.update(trial=trial, study_trial=trial, ours=False, description="", model="minimal", params=24_245,
                  epochs=1, batch_size=1024, optimizer="adam", lr=0.01, momentum=0.0, weight_decay=1e-4,
                  shuffle=False, seed=0, test_acc=97.5, study_metric_acc=95.7, diverged=False, diverged_at=None,
                  train_seconds=4.0, eval_seconds=1.0, seconds_per_epoch=4.0, study_reported_acc=95.39,
                  study_reported="95.39 %", test_acc_per_epoch=[97.5])
    record.update(changes)
    return record


def test_report_builds_the_table_from_records(tmp_path):
    (tmp_path / "iter4.json").write_text(json.dumps(make_record("4a")))
    (tmp_path / "1a.json").write_text(json.dumps(make_record(
        "1a", model="baseline", params=593_200, optimizer="sgd", lr=10.01, momentum=0.9, weight_decay=0.0,
        test_acc=9.8, study_metric_acc=9.87, diverged=True, diverged_at={"epoch": 1, "batch": 3})))
    (tmp_path / "4a-s1.json").write_text(json.dumps(make_record("4a-s1", ours=True, seed=1, test_acc=97.1,
                                                                description="4a with seed 1")))
    (tmp_path / "benchmark.json").write_text(json.dumps({"models": {}}))  # not a trial: passed over
    assert report.main(["--results", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "| 4a | minimal (24,245) | 1024 | Adam lr 0.01, wd 0.0001 | 95.39 % | 95.70 % | **97.50 %** | no |" in text
    assert "| 1a | baseline (593,200) | 512 |" not in text  # the record's batch is what the table shows
    assert "yes, epoch 1 batch 3" in text and "SGD lr 10.01, momentum 0.9" in text
    assert "(no record: run experiments/iter2.py --trial 2b)" in text
    assert "Trial 4a over seeds 1, 0" in text or "Trial 4a over seeds 0, 1" in text


def test_report_refuses_a_record_missing_a_field(tmp_path, capsys):
    record = make_record("3a")
    del record["test_acc"]
    (tmp_path / "3a.json").write_text(json.dumps(record))
    assert report.main(["--results", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "3a.json: record of trial '3a' lacks the field(s) test_acc" in error
    assert not (tmp_path / "README.md").exists()


@pytest.fixture
def small_mount(tmp_path):
    """mount(options) -> a folder on a tmpfs of 512 KB with those options; skipped where mounting is not allowed."""
    mounted = []

    def mount(options):
        folder = tmp_path / f"mount{len(mounted)}"
        folder.mkdir()
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},size=512k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0, reason="mounts a tmpfs (root, Linux)")
@pytest.mark.parametrize("options, reason", [("ro", "Read-only file system"), ("rw", "No space left on device")])
def test_a_read_only_or_full_folder_stops_the_run_before_training(small_mount, capsys, options, reason):
    out = small_mount(options) / "4a.json"
    assert iter4.main("short", iter4.TRIALS, argv=["--limit", "256", "--no-progress", "--no-plots", "--out",
                                                   str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {out.parent}: cannot write there ({reason}); give --out a folder you can write to\n"
    assert "trials to run" not in captured.out


def test_a_step_that_breaks_the_weights_is_a_divergence_at_that_batch(tmp_path):
    """At lr 1e39 the first step makes the weights infinite: the run diverged at batch 1, even with one batch."""
    out = tmp_path / "4a.json"
    assert iter4.main("short", iter4.TRIALS, argv=["--lr", "1e39", "--limit", "1024", "--no-progress", "--no-plots",
                                                   "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["diverged_at"]["batch"] == 1 and "is not finite after the step" in record["diverged_at"]["because"]


def test_a_diverged_run_that_kept_no_epoch_leaves_the_tiny_summary_working(tmp_path):
    import tiny

    argv = ["--trial", "tiny2k-s0", "--lr", "1e4", "--limit", "512", "--epochs", "1", "--val", "100", "--no-progress",
            "--no-plots", "--out", str(tmp_path)]
    assert harness.main("smoke", tiny.TRIALS, record_name=lambda trial: f"tiny/{trial.id}.json", argv=argv,
                        finish=tiny.summarise) == 0
    assert json.loads((tmp_path / "tiny" / "tiny2k-s0.json").read_text())["diverged"] is True


def test_out_may_not_point_into_the_committed_results(capsys):
    committed = committed_files()
    for flags in (["--out", str(harness.RESULTS_DIR)], ["--out", str(harness.RESULTS_DIR / "iter4.json")],
                  ["--checkpoints", str(harness.RESULTS_DIR / "checkpoints")]):
        assert iter4.main("short", iter4.TRIALS, argv=["--limit", "256", "--no-progress", "--no-plots"] + flags) == 2
        assert "that is where the committed results are; --update-results" in capsys.readouterr().err
    assert committed_files() == committed


def test_two_runs_sharing_a_checkpoints_folder_are_refused_while_the_first_runs(tmp_path, capsys):
    import tiny

    with outputs.claimed([tmp_path / "shared" / "tiny2k-s0.npz"]):
        argv = ["--trial", "tiny2k-s0", "--limit", "256", "--epochs", "1", "--val", "100", "--no-progress",
                "--no-plots", "--out", str(tmp_path / "b"), "--checkpoints", str(tmp_path / "shared")]
        assert harness.main("smoke", tiny.TRIALS, argv=argv) == 2
        assert "tiny2k-s0.npz: another run" in capsys.readouterr().err


def test_a_failed_check_leaves_no_folders_behind(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = ["--limit", "256", "--no-progress", "--out", str(tmp_path / "new" / "deeper"),
            "--checkpoints", str(a_file / "checkpoints")]
    assert iter1.main("short", iter1.TRIALS[:1], argv=argv + ["--trial", "1a"]) == 2
    assert "give --checkpoints a folder you can write to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_run_on_the_reference_kernels_says_so_and_is_not_held_to_the_committed_record(tmp_path, capsys):
    """--kernels reference (tinycnn/backend.py): the naive twins train the trial; the record names the set, the
    run is not compared with the committed record (made with the fast kernels), and the caller's set is back."""
    import tinycnn

    out = tmp_path / "4a.json"
    argv = ["--trial", "4a", "--limit", "64", "--kernels", "reference", "--no-progress", "--no-plots", "--out", str(out)]
    assert iter4.main("short", iter4.TRIALS, argv=argv) == 0
    printed = capsys.readouterr().out
    assert "on the reference kernels" in printed and "committed record" not in printed
    assert json.loads(out.read_text())["kernels"] == "reference"
    assert tinycnn.backend.mode() == "fast"
    with pytest.raises(SystemExit):
        harness.parse_args("x", iter4.TRIALS, ["--update-results", "--kernels", "reference"])
    assert "drop --kernels reference" in capsys.readouterr().err
