"""The benchmark runs end to end (tinycnn alone, as in CI); no timing is asserted, only that it reports."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_reports_every_measurement(tmp_path):
    out = tmp_path / "benchmark.json"
    run = subprocess.run([sys.executable, str(REPO / "experiments" / "benchmark.py"), "--quick",
                          "--engines", "tinycnn", "--models", "iter4,iter1,bn_gap", "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads(out.read_text())
    for model in ("iter4", "iter1", "bn_gap"):
        measured = record["models"][model]["tinycnn"]
        for key in ("train_samples_per_s", "infer_samples_per_s", "peak_rss_mb"):
            assert measured[key]["median"] > 0
        assert 0 < record["models"][model]["share_of_gemm"]["median"] < 2  # of the GEMM rate measured in the run
    assert record["gemm_gflops"]["median"] > 0
    assert record["start_up"]["cold_seconds"] > 0 and record["start_up"]["warm_seconds"] > 0
    assert record["blas"], "the BLAS libraries in use are reported"
    assert "| iter4 (minimal 24,245 params" in run.stdout and "training step" in run.stdout
    assert "share of the GEMM rate" in run.stdout and "float32 GEMM, 2048x2048" in run.stdout


def test_the_training_flops_are_counted_from_the_layer_shapes():
    """LeNet-5 at batch 2, by hand: each conv and linear layer's multiply-adds, twice over for the forward and the
    weight gradient, three times where the input needs a gradient too (every layer but the first)."""
    sys.path.insert(0, str(REPO / "experiments"))
    from benchmark import training_flops

    def macs(*sizes):
        return 2 * int(__import__("numpy").prod(sizes))  # FLOPs of one product: 2 per multiply-add

    forward = [macs(2, 6, 28, 28, 1 * 5 * 5), macs(2, 16, 10, 10, 6 * 5 * 5), macs(2, 120, 400), macs(2, 84, 120),
               macs(2, 10, 84)]
    assert training_flops("lenet5", 2) == 2 * forward[0] + 3 * sum(forward[1:])
