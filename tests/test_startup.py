"""experiments/startup.py: its ratios pair the rounds, and a short run reports (no timing is asserted)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import startup

REPO = Path(__file__).resolve().parents[1]


def test_ratios_pair_each_round_and_summarise_per_case():
    runs = {"warm": {"old": [(4.0, 300.0), (5.0, 310.0), (4.4, 305.0)],
                     "new": [(3.0, 280.0), (4.5, 290.0), (3.3, 285.0)]}}
    summary = startup.summarize_runs(runs, ["old", "new"])["warm"]
    assert summary["old"]["seconds"]["median"] == 4.4 and summary["old"]["seconds"]["min"] == 4.0
    assert summary["old"]["seconds"]["max"] == 5.0 and summary["new"]["peak_mb"] == 290.0
    # round by round, new over old: 0.75, 0.9, 0.75 (not the ratio of the medians, 3.3 / 4.4)
    assert summary["ratio"]["values"] == pytest.approx([0.75, 0.9, 0.75])
    assert summary["ratio"]["median"] == pytest.approx(0.75) and summary["ratio"]["max"] == pytest.approx(0.9)


def test_one_side_alone_has_no_ratio():
    summary = startup.summarize_runs({"cold": {"this": [(12.0, 360.0)]}}, ["this"])["cold"]
    assert "ratio" not in summary and summary["this"]["seconds"]["median"] == 12.0


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a clone")
def test_a_short_run_measures_a_worktree_of_head_and_removes_it(tmp_path):
    out = tmp_path / "startup.json"
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "startup.py"), "--cases", "warm", "--rounds",
                          "1", "--limit", "256", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    measured = json.loads(out.read_text())["cases"]["warm"]
    (name,) = measured
    assert name.startswith("this (") and measured[name]["seconds"]["median"] > 0 and measured[name]["peak_mb"] > 0
    assert "| warm |" in run.stdout
    assert not leftover_worktrees(), "the worktree is removed at the end"


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a clone")
def test_a_commit_older_than_the_experiments_is_refused_and_its_worktree_removed():
    first = subprocess.run(["git", "-C", str(REPO), "rev-list", "--max-parents=0", "HEAD"], capture_output=True,
                           text=True).stdout.split()[0]
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "startup.py"), "--against", first, "--cases",
                          "warm", "--rounds", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "pick a later commit" in run.stderr
    assert not leftover_worktrees()


def leftover_worktrees():
    listed = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout
    return [line for line in listed.splitlines() if "tinycnn-startup-" in line]
