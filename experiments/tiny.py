"""Beyond the study: small CNNs with BatchNorm and global average pooling, at 99.4 % on MNIST.

    python experiments/tiny.py                          # three models x three seeds (about 18 minutes here)
    python experiments/tiny.py --trial tiny8k-s0        # one run
    python experiments/tiny.py --trial tiny8k-s0 --limit 2048 --epochs 2 --no-plots   # a smoke run
    python experiments/evaluate.py --checkpoint experiments/results/checkpoints/tiny8k-s0.npz

Models (experiments/models.py, ``TinyNet``): 7,574 parameters (tiny8k),
4,356 (tiny5k) and 1,948 (tiny2k). Recipe, the same for all: SGD with
Nesterov momentum and L2 weight decay 5e-4, the OneCycle schedule to a
peak rate of 0.05 (stepped every batch; with PyTorch's defaults it also
cycles the momentum, 0.95 down to 0.85 at the peak rate and back, so the
0.9 the optimizer is built with, and the record names, is never used),
batch 64, 15 epochs, shuffled;
BatchNorm in every block, no dropout; the study's kind of augmentation with
a smaller rotation (centre-crop 22 with probability 0.1, resize, rotation
drawn from [-10, 10] degrees). How it was chosen is in README ("Beyond the
study").

Protocol: 5,000 of the 60,000 training images, drawn with the seed, are
held out for validation; the model trains on the other 55,000. After each
epoch it is scored on the validation images, and the best epoch is kept
(its weights go to checkpoints/<trial>.npz). The
10,000 test images are evaluated once, on the kept epoch. Published small
models report their best epoch *on the test set*, which this protocol does
not do; README says what that difference is worth.

Each run writes its record to tiny/<trial>.json; at the end the script
writes tiny/README.md: the mean over the seeds of each model, with the
command that made it. After every epoch a run also writes <trial>.last.npz
beside the kept checkpoint (everything --resume needs; not kept in git).
Those paths are under experiments/runs/ (which git ignores), or under
--out; with --update-results, under experiments/results/, where the
committed results are (re-made that way).
"""

import statistics
import sys
from pathlib import Path

from harness import RESULTS_DIR, Trial, main
from tinycnn.files import atomic_write
from report import load_records

TINY_DIR = RESULTS_DIR / "tiny"
SEEDS = (0, 1, 2)
RECIPE = dict(batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True,
              schedule="onecycle", epochs=15, shuffle=True, crop_probability=0.1, degrees=10.0, val=5000,
              checkpoint=True, ours=True)
MODEL_NAMES = {"tiny8k": "under 8,000 parameters", "tiny5k": "under 5,000", "tiny2k": "under 2,000"}

TRIALS = [Trial(f"{model}-s{seed}", model, seed=seed, description=f"{model} ({MODEL_NAMES[model]}), seed {seed}",
                **RECIPE)
          for model in MODEL_NAMES for seed in SEEDS]


def summary_lines(records):
    """The summary table: per model, the seeds' held-out test accuracies (each on its validation-kept epoch)."""
    lines = ["| model | parameters | seeds | held-out test accuracy, mean (min-max) | kept epochs | "
             "validation accuracy at the kept epoch | seconds per epoch |", "|---|---|---|---|---|---|---|"]
    for model in MODEL_NAMES:
        runs = [records[t.id] for t in TRIALS if t.model == model and t.id in records]
        if not runs:
            lines.append(f"| {model} | | | (no record: run experiments/tiny.py --trial {model}-s0) | | | |")
            continue
        tests = [r["test_acc"] for r in runs]
        vals = [r["val_acc_per_epoch"][r["kept_epoch"] - 1] for r in runs]
        lines.append(
            f"| {model} | {runs[0]['params']:,} | {', '.join(str(r['seed']) for r in runs)} | "
            f"**{statistics.mean(tests):.2f} %** ({min(tests):.2f}-{max(tests):.2f}) | "
            f"{', '.join(str(r['kept_epoch']) for r in runs)} | {statistics.mean(vals):.2f} % | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in runs):.1f} |")
    return lines


def write_summary(folder=TINY_DIR):
    # a run that kept no epoch (it diverged before its first was scored) has no accuracy to average
    records = {trial: record for trial, record in load_records(folder).items() if record.get("kept_epoch")}
    if not records:
        return
    text = "\n".join([
        "# Small models at 99.4 %: results",
        "",
        "Made by `python experiments/tiny.py` (see its docstring for the models, the recipe and the protocol). "
        "Each run holds out 5,000 training images, keeps the epoch with the best validation accuracy, and "
        "evaluates the 10,000 test images once, on that epoch. Records: `<trial>.json` in this folder; kept "
        "weights: `../checkpoints/<trial>.npz`.",
        "",
        *summary_lines(records),
        "",
    ])
    with atomic_write(Path(folder) / "README.md") as stream:
        stream.write(text)
    print("\n".join(summary_lines(records)))


def summarise(places):
    """After the runs: the summary beside their records, unless --out named one record's file."""
    if not places.one_file:
        write_summary(next(iter(places.records.values())).parent)


if __name__ == "__main__":
    sys.exit(main(__doc__.splitlines()[0], TRIALS, record_name=lambda trial: f"tiny/{trial.id}.json",
                  finish=summarise))
