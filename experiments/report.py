"""Build experiments/results/README.md from the JSON records of the trials.

    python experiments/report.py

One row per trial: its configuration, parameters, the study's reported
figure, our figure on the study's metric (augmented training images), our
held-out test accuracy, whether it diverged, and seconds. Then our own
trials, and the findings (experiments/findings.md, written by hand from
these tables, included as it is).

A record that lacks a field is refused with a message naming the file and
the field: a table built from incomplete records would mislead.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from tinycnn.files import atomic_write

from harness import RECORD_FIELDS, RESULTS_DIR
import extras
import iter1
import iter2
import iter3
import iter4

FINDINGS = Path(__file__).resolve().parent / "findings.md"
STUDY_ORDER = [t.id for module in (iter1, iter2, iter3, iter4) for t in module.TRIALS]
OURS_ORDER = [t.id for t in extras.TRIALS]
SCRIPTS = {t.id: f"{module.__name__}.py" for module in (iter1, iter2, iter3, iter4, extras) for t in module.TRIALS}


class RecordError(Exception):
    pass


def load_records(folder):
    """{trial id: record} from every JSON record in ``folder`` (files of other kinds are passed over)."""
    records = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise RecordError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(data, dict) or "trial" not in data:
            continue  # e.g. benchmark.json
        missing = [field for field in RECORD_FIELDS if field not in data]
        if missing:
            raise RecordError(f"{path}: record of trial {data['trial']!r} lacks the field(s) {', '.join(missing)}; "
                              f"re-run its script to make a complete record")
        if data["trial"] in records:
            raise RecordError(f"{path}: a second record of trial {data['trial']!r}")
        records[data["trial"]] = data
    return records


def percent(value):
    return "-" if value is None else f"{value:.2f} %"


def optimizer_text(r):
    text = f"{'SGD' if r['optimizer'] == 'sgd' else 'Adam'} lr {r['lr']:g}"
    if r["momentum"]:
        text += f", momentum {r['momentum']:g}"
    if r["weight_decay"]:
        text += f", wd {r['weight_decay']:g}"
    return text


def diverged_text(r):
    if not r["diverged"]:
        return "no"
    at = r["diverged_at"]
    because = at.get("because") or ""
    sign = "loss over 1000x the first" if "times the first" in because else because.replace("the ", "", 1)
    return f"yes, epoch {at['epoch']} batch {at['batch']}" + (f" ({sign})" if sign else "")


def table(header, order, records, row):
    """A Markdown table: one row per trial id in ``order``, made by ``row(record)``, or a hint where none exists."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for trial in order:
        if trial in records:
            lines.append("| " + " | ".join([trial] + row(records[trial])) + " |")
        else:
            hint = f"(no record: run experiments/{SCRIPTS[trial]} --trial {trial})"
            lines.append("| " + " | ".join([trial, hint] + [""] * (len(header) - 2)) + " |")
    return lines


def study_table(records):
    header = ["trial", "model (params)", "batch", "optimizer", "the study reported",
              "ours, study's metric (augmented training images)", "ours, held-out test", "diverged",
              "seconds (train + eval)"]
    return table(header, STUDY_ORDER, records, lambda r: [
        f"{r['model']} ({r['params']:,})", str(r["batch_size"]), optimizer_text(r), r["study_reported"],
        percent(r["study_metric_acc"]), f"**{percent(r['test_acc'])}**", diverged_text(r),
        f"{r['train_seconds']:.0f} + {r['eval_seconds']:.0f}"])


def ours_table(records):
    header = ["trial", "what", "model (params)", "batch", "optimizer", "epochs, shuffle", "study's metric",
              "held-out test (after each epoch)", "diverged", "seconds per epoch"]
    return table(header, OURS_ORDER, records, lambda r: [
        r["description"], f"{r['model']} ({r['params']:,})", str(r["batch_size"]), optimizer_text(r),
        f"{r['epochs']}, {'yes' if r['shuffle'] else 'no'}", percent(r["study_metric_acc"]),
        f"**{percent(r['test_acc'])}** ({', '.join(f'{a:.2f}' for a in r['test_acc_per_epoch'])})",
        diverged_text(r), f"{r['seconds_per_epoch']:.0f}"])


def seeds_summary(records):
    """Mean and spread of 4a's held-out test accuracy over every seed we ran."""
    runs = [r for r in records.values() if r["trial"] == "4a" or (r["ours"] and r["trial"].startswith("4a-s"))]
    if len(runs) < 2:
        return []
    tests = [r["test_acc"] for r in runs]
    metric = [r["study_metric_acc"] for r in runs]
    seeds = ", ".join(str(r["seed"]) for r in runs)
    return [f"Trial 4a over seeds {seeds}: held-out test accuracy mean {statistics.mean(tests):.2f} %, "
            f"standard deviation {statistics.stdev(tests):.2f}, range {min(tests):.2f}-{max(tests):.2f} %; "
            f"the study's metric mean {statistics.mean(metric):.2f} %, range {min(metric):.2f}-{max(metric):.2f} %."]


def build_report(records):
    total = sum(r["train_seconds"] + r["eval_seconds"] for r in records.values())
    baseline = [r["seconds_per_epoch"] for r in records.values() if r["model"] == "baseline" and not r["diverged"]]
    lines = [
        "# Replication of the study, trial by trial",
        "",
        "Made by `python experiments/iter1.py && python experiments/iter2.py && python experiments/iter3.py && "
        "python experiments/iter4.py && python experiments/extras.py && python experiments/report.py` "
        "on a 2-core machine (seed 0 unless a trial says otherwise). Each trial's record is the JSON file of "
        "its name in this folder; pictures are in `plots/`.",
        "",
        "Two accuracies, never to be confused: **the study's metric** is accuracy on the 60,000 *training* "
        "images passed through the training augmentation again, which is what the study's \"test\" loop "
        "read; **held-out test** is accuracy on the 10,000 MNIST test images, which the study never measured.",
        "",
        "## The study's 14 trials",
        "",
        *study_table(records),
        "",
        "## Our trials",
        "",
        *ours_table(records),
        "",
        *seeds_summary(records),
        "",
        f"Time: {total / 60:.1f} minutes of training and evaluation in all"
        + (f"; the 593,200-parameter model trains at {statistics.median(baseline):.0f} s per epoch "
           f"(median over its non-diverged runs)." if baseline else "."),
        "",
        "## What the study concluded, and what we found",
        "",
        FINDINGS.read_text().strip() if FINDINGS.exists() else "(experiments/findings.md is missing)",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of the JSON records")
    parser.add_argument("--out", type=Path, help="the report (default: README.md in the results folder)")
    args = parser.parse_args(argv)
    try:
        records = load_records(args.results)
    except RecordError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not records:
        print(f"error: no trial records in {args.results}; run the experiment scripts first", file=sys.stderr)
        return 2
    out = args.out or args.results / "README.md"
    with atomic_write(out) as stream:
        stream.write(build_report(records))
    print(f"report of {len(records)} trials written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
