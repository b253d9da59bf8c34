"""The benchmark runs end to end (tinycnn alone, as in CI); no timing is asserted, only that it reports."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_reports_every_measurement(tmp_path):
    out = tmp_path / "benchmark.json"
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "benchmark.py"), "--quick",
                          "--engines", "tinycnn", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads(out.read_text())
    for model in ("iter4", "iter1"):
        measured = record["models"][model]["tinycnn"]
        for key in ("train_samples_per_s", "infer_samples_per_s", "peak_rss_mb"):
            assert measured[key]["median"] > 0
    assert record["start_up"]["cold_seconds"] > 0 and record["start_up"]["warm_seconds"] > 0
    assert record["blas"], "the BLAS libraries in use are reported"
    assert "| iter4 (minimal 24,245 params" in run.stdout and "training step" in run.stdout
