"""python -m tinycnn.gradcheck: passes every op, fails a wrong backward by name, refuses bad flags in one line."""

import subprocess
import sys

import numpy as np
import pytest

from tinycnn import Function
from tinycnn.gradcheck import OPS, Op, main


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_passes(op, capsys):
    assert main([op]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("within tolerance") and "FAIL" not in out


@pytest.mark.parametrize("flags", [["--stride", "2", "--padding", "1"], ["--relu", "--pool", "2"],
                                   ["--batch", "1", "--height", "3", "--width", "3", "--kernel", "3"]])
def test_conv2d_with_options_passes(flags):
    assert main(["conv2d"] + flags) == 0


class ScaledWeightGradient(Function):
    """out = x * w, with a backward that doubles w's gradient: the kind of slip the check is for."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, dout):
        x, w = ctx.saved_tensors
        return dout * w, 2 * dout * x


def test_a_wrong_backward_exits_1_and_names_the_input(capsys):
    def make(args, rng):
        return ScaledWeightGradient.apply, [rng.standard_normal(4), rng.standard_normal(4)], ["x", "w"], ""

    assert main(["wrong"], ops={"wrong": Op(make, "a deliberately wrong backward")}) == 1
    out = capsys.readouterr().out
    assert "FAIL: the gradient of w differs from finite differences" in out
    verdicts = [line.split()[-1] for line in out.splitlines() if line.startswith("  worst |difference|")]
    assert verdicts == ["pass", "FAIL"]  # x's gradient is right, w's is not, and the report says which


def test_the_command_runs_and_bad_flags_exit_2_with_one_line():
    ok = subprocess.run([sys.executable, "-m", "tinycnn.gradcheck", "relu"], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0 and "ok: all 1 input(s) within tolerance" in ok.stdout
    for flags in (["conv2d", "--stride", "zero"], ["nope"], ["conv2d", "--kernel", "9"], []):
        bad = subprocess.run([sys.executable, "-m", "tinycnn.gradcheck"] + flags, capture_output=True, text=True,
                             timeout=300)
        assert bad.returncode == 2, flags
        assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("gradcheck: error:"), bad.stderr


def test_check_gradients_raises_with_the_report():
    from tinycnn.gradcheck import check_gradients
    with pytest.raises(AssertionError, match="w \\(4,\\):"):
        check_gradients(ScaledWeightGradient.apply, [np.ones(4), np.ones(4)], names=["x", "w"])
