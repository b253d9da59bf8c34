"""The replication's scripts: every trial as the study ran it, records, divergence, the report."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import extras
import iter1
import iter2
import iter3
import iter4
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


def test_a_smoke_run_without_out_leaves_the_committed_results_alone(tmp_path, monkeypatch, capsys):
    """--limit (or --epochs, --lr, ...) makes another experiment: its record goes to the scratch folder."""
    import harness
    import tiny

    monkeypatch.setattr(harness, "SCRATCH_DIR", tmp_path / "scratch")
    committed = {path: path.stat().st_mtime_ns for path in harness.RESULTS_DIR.rglob("*") if path.is_file()}
    argv = ["--trial", "tiny2k-s0", "--limit", "256", "--epochs", "1", "--val", "100", "--no-progress", "--no-plots"]
    assert harness.main("smoke", tiny.TRIALS, argv=argv) == 0
    assert "this run changes --limit, --epochs, --val" in capsys.readouterr().out
    assert json.loads((tmp_path / "scratch" / "tiny2k-s0.json").read_text())["train_images"] == 256
    assert (tmp_path / "scratch" / "checkpoints" / "tiny2k-s0.npz").exists()
    assert {path: path.stat().st_mtime_ns for path in committed} == committed


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
    assert "DIVERGED" in run.stdout


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
