"""A short run of the main job: the loss must fall and the record must say what happened."""

import json
import math

import iter4

REQUIRED = ["trial", "params", "epochs", "batch_size", "optimizer", "lr", "weight_decay", "seed", "test_acc",
            "study_metric_acc", "final_train_loss", "diverged", "train_seconds", "study_reported_acc"]


def test_iter4_on_a_few_thousand_images_learns_and_writes_its_record(tmp_path):
    out = tmp_path / "iter4.json"
    argv = ["--limit", "4096", "--batch-size", "256", "--no-progress", "--no-plots", "--out", str(out)]
    assert iter4.main("smoke", iter4.TRIALS, argv=argv) == 0
    record = json.loads(out.read_text())
    for field in REQUIRED:
        assert field in record, field
    assert record["trial"] == "4a" and record["params"] == 24_245
    assert record["optimizer"] == "adam" and record["lr"] == 0.01 and record["weight_decay"] == 1e-4
    assert record["study_reported_acc"] == 95.39 and record["train_images"] == 4096
    assert not record["diverged"]
    losses = record["loss_per_batch"]
    assert len(losses) == 16 and all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3  # from about ln(10) = 2.3 to well below
    assert record["test_total"] == 10_000 and record["test_acc"] > 50.0  # far above chance after 16 steps


def test_same_seed_same_numbers(tmp_path):
    records = []
    for name in ("a.json", "b.json"):
        argv = ["--limit", "1024", "--batch-size", "256", "--no-progress", "--no-plots", "--out", str(tmp_path / name)]
        assert iter4.main("smoke", iter4.TRIALS, argv=argv) == 0
        records.append(json.loads((tmp_path / name).read_text()))
    for field in ("loss_per_batch", "test_correct", "study_metric_correct"):
        assert records[0][field] == records[1][field]
