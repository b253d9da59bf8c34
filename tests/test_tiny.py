"""experiments/tiny.py and experiments/evaluate.py: the small models, a smoke run of each script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate
import harness
import tiny
from models import MODELS
from tinycnn import Tensor, metrics

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, limit", [("tiny8k", 8000), ("tiny5k", 5000), ("tiny2k", 2000)])
def test_the_small_models_are_under_their_budgets(name, limit):
    model = MODELS[name]()
    assert model.num_parameters() < limit
    assert model(Tensor(np.zeros((2, 1, 28, 28), dtype=np.float32))).shape == (2, 10)


def test_every_model_has_three_seeds_on_one_recipe():
    assert {t.model for t in tiny.TRIALS} == set(tiny.MODEL_NAMES)
    for trial in tiny.TRIALS:
        assert trial.epochs <= 15 and trial.val == 5000 and trial.checkpoint and trial.schedule == "onecycle"
    assert sorted(t.seed for t in tiny.TRIALS if t.model == "tiny8k") == [0, 1, 2]


def test_a_smoke_run_keeps_an_epoch_then_evaluate_reads_its_checkpoint(tmp_path, capsys):
    argv = ["--trial", "tiny8k-s1", "--limit", "512", "--epochs", "2", "--val", "300", "--no-progress", "--no-plots",
            "--out", str(tmp_path / "tiny8k-s1.json"), "--checkpoints", str(tmp_path / "checkpoints")]
    assert harness.main("smoke", tiny.TRIALS, argv=argv) == 0
    record = json.loads((tmp_path / "tiny8k-s1.json").read_text())
    assert record["params"] == 7_574 and record["val_images"] == 300 and len(record["val_acc_per_epoch"]) == 2
    assert record["kept_epoch"] in (1, 2) and record["test_total"] == 10_000
    assert record["test_evaluated"].startswith(f"once, on epoch {record['kept_epoch']}")
    assert record["test_acc_per_epoch"] == []  # the test set was not looked at while choosing
    tiny.write_summary(tmp_path)
    assert "| tiny8k | 7,574 | 1 |" in (tmp_path / "README.md").read_text()

    checkpoint = tmp_path / "checkpoints" / "tiny8k-s1.npz"
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(checkpoint), "--limit", "300", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "held-out test accuracy" in printed and "true \\ said" in printed and printed.count(" %") >= 11


def test_evaluate_refuses_a_file_that_is_not_a_kept_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "evaluate.py"), "--checkpoint", str(bad)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.startswith(f"error: {bad}")


def test_evaluate_names_its_picture_path_before_evaluating_and_says_when_there_are_no_mistakes(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    checkpoint = REPO / "experiments" / "results" / "checkpoints" / "tiny8k-s0.npz"
    assert evaluate.main(["--checkpoint", str(checkpoint), "--png", str(a_file / "x.png"), "--limit", "20"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {a_file}: cannot write there (a part of that path is a file")
    matrix = metrics.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 1]), num_classes=3)
    assert evaluate.hardest_and_most_confused(matrix) == "no mistakes"
    assert "no images" in evaluate.format_confusion(matrix)  # class 2 has none: no 0.00 % for it
    one_read_as_zero = metrics.confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), num_classes=3)
    assert evaluate.hardest_and_most_confused(one_read_as_zero) == \
        "hardest digit: 1; most frequent mistake: 1 read as 0"
