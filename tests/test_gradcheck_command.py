"""python -m tinycnn.gradcheck: passes every op, fails a wrong backward by name, refuses bad flags in one line, checks
any public function (of tinycnn.functional or of a module of yours) with no case written for it, and says what it
proves and which kernels ran."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinycnn.functional as F
from tinycnn import Function
from tinycnn.gradcheck import (OPS, WHAT_IT_PROVES, InputCheck, Op, check_function, distinct_values, main,
                               parse_args)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_passes(op, capsys):
    assert main([op]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("within tolerance") and "FAIL" not in out
    assert WHAT_IT_PROVES in out and "kernels: " in out  # what a pass means, and which kernels ran


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


def test_check_function_checks_a_function_class_and_an_f_function_and_returns_the_checks():
    x = distinct_values(np.random.default_rng(0), (2, 3))
    checks = check_function(F.ReLUFunction, x)
    assert [check.name for check in checks] == ["x"] and checks[0].ok  # named after the forward's parameter
    assert check_function(F.log_softmax, x, dim=0)[0].name == "input"  # options go to the function
    with pytest.raises(AssertionError, match="w \\(4,\\):"):
        check_function(ScaledWeightGradient, np.ones(4), np.ones(4))
    assert [check.name for check in check_function(ScaledWeightGradient, np.ones(4), np.ones(4), wrt=[0])] == ["x"]


def test_describe_shows_entries_that_won_a_window_not_zeros():
    """Most of a max-pool's input won no window: zero gradient both ways, which shows nothing. Winners come first."""
    numeric = np.zeros((4, 4))
    numeric[1, 1], numeric[3, 2] = 0.5, -0.25
    text = InputCheck("input", numeric.copy(), numeric, 1e-5, 1e-7).describe(entries=3)
    rows = [line.split()[0] for line in text.splitlines()[2:5]]
    assert "2 of 16 entries have a non-zero numeric gradient" in text
    assert rows == ["(1,", "(3,", "(0,"]  # the two non-zero entries, then zeros only to fill the three


def test_max_pool2d_shows_winners(capsys):
    assert main(["max_pool2d", "--kernel", "2"]) == 0
    entries = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  (")]
    assert entries and all(float(line.split()[-2]) != 0 for line in entries)


MY_OPS = textwrap.dedent("""
    import numpy as np

    from tinycnn import Function


    class CubeFunction(Function):
        @staticmethod
        def forward(ctx, x, *, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return scale * x ** 3

        @staticmethod
        def backward(ctx, dout):
            (x,) = ctx.saved_tensors
            return dout * ctx.scale * 3 * x ** 2


    class WrongCubeFunction(CubeFunction):
        @staticmethod
        def backward(ctx, dout):
            (x,) = ctx.saved_tensors
            return dout * ctx.scale * 2 * x ** 2  # the slip: 2 for 3


    def cube(input, scale=1.0):
        return CubeFunction.apply(input, scale=float(scale))


    def wrong_cube(input, scale=1.0):
        return WrongCubeFunction.apply(input, scale=float(scale))


    def pairwise_max(a, b):
        "Element-wise max of two tensors: a kink wherever a and b tie, so their values must differ."
        return MaxFunction.apply(a, b)


    class MaxFunction(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a > b)
            return np.maximum(a, b)

        @staticmethod
        def backward(ctx, dout):
            (a_wins,) = ctx.saved_tensors
            return dout * a_wins, dout * ~a_wins
""")


@pytest.fixture
def my_ops(tmp_path, monkeypatch):
    """A module of the user's, ``gradcheck_my_ops``, importable as ``--from gradcheck_my_ops`` finds it."""
    (tmp_path / "gradcheck_my_ops.py").write_text(MY_OPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gradcheck_my_ops", raising=False)
    yield "gradcheck_my_ops"
    sys.modules.pop("gradcheck_my_ops", None)


def test_any_function_of_a_module_is_checked_with_no_case_written(my_ops, capsys):
    assert main(["cube", "--from", my_ops, "--option", "scale=0.5", "--height", "3", "--width", "3"]) == 0
    out = capsys.readouterr().out
    assert "input (2, 2, 3, 3); gradcheck_my_ops.cube(input, scale=0.5); distinct input values" in out
    assert out.rstrip().endswith("ok: all 1 input(s) within tolerance")
    assert main(["pairwise_max", "--from", my_ops, "--height", "2", "--width", "2"]) == 0  # two inputs, no ties
    assert "a (2, 2, 2, 2), b (2, 2, 2, 2)" in capsys.readouterr().out
    assert main(["CubeFunction", "--from", my_ops, "--option", "scale=2"]) == 0  # a Function subclass too
    assert main(["wrong_cube", "--from", my_ops]) == 1
    assert "FAIL: the gradient of input differs from finite differences" in capsys.readouterr().out


def test_generic_lookup_refuses_in_one_line(my_ops, capsys):
    for argv, message in ((["cube", "--from", my_ops, "--option", "slope=2"], "has no parameter slope"),
                          (["CubeFunction", "--from", my_ops], "needs scale: give each as --option NAME=VALUE"),
                          (["np", "--from", my_ops], "has no public function np"),
                          (["cube", "--from", "no_such_module_here"], "No module named 'no_such_module_here'"),
                          (["relu", "--option", "x=1"], "relu is a built-in case"),
                          (["no_such_op"], "tinycnn.functional has no public function no_such_op")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_built_in_op_can_be_checked_generically_too(capsys):
    """--from tinycnn.functional skips the built-in case: the generic path on ops whose answers are known."""
    assert main(["relu", "--from", "tinycnn.functional", "--height", "3", "--width", "3"]) == 0
    assert main(["log_softmax", "--from", "tinycnn.functional", "--option", "dim=3", "--height", "2",
                 "--width", "3"]) == 0
    assert "log_softmax(input, dim=3)" in capsys.readouterr().out


def test_option_values_are_literals_or_strings():
    args = parse_args(["x", "--option", "a=0.2", "--option", "b=(2, 2)", "--option", "c=mean", "--option", "d=True"])
    assert args.option == {"a": 0.2, "b": (2, 2), "c": "mean", "d": True}


def test_list_keeps_names_apart_and_names_what_is_checked_generically(capsys):
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].index("F.conv2d")
    names = [line[:column].rstrip() for line in lines[:len(OPS)]]
    assert names == list(OPS) and column >= max(map(len, names)) + 2  # each name, then two spaces at least
    assert any(line.startswith("checked generically") for line in lines)


def test_layers_are_the_study_s_and_run_its_fused_paths(capsys):
    conv1 = parse_args(["conv2d", "--layer", "conv1"])
    conv2 = parse_args(["conv2d", "--layer", "conv2", "--batch", "3"])  # a flag given wins over the layer's size
    assert (conv1.channels, conv1.out_channels, conv1.kernel, conv1.pool, conv1.relu, conv1.height) == \
        (1, 16, 3, 2, True, 28)
    assert (conv2.channels, conv2.out_channels, conv2.pool, conv2.height, conv2.batch) == (16, 32, 3, 13, 3)
    # shrunk to stay quick: the path depends on the channels, filters and pool, not on H and W
    assert main(["conv2d", "--layer", "conv1", "--batch", "1", "--height", "8", "--width", "8"]) == 0
    out = capsys.readouterr().out
    assert "conv + ReLU + max-pool as one kernel call; its forward in the pool's window order" in out
    assert main(["conv2d", "--layer", "conv2", "--channels", "2", "--height", "8", "--width", "8"]) == 0
    out = capsys.readouterr().out
    assert "(conv + ReLU + max-pool as one kernel call)" in out and "window order" not in out


def test_with_fusion_off_it_says_each_op_ran_alone(capsys):
    from tinycnn import fusion
    with fusion.set_enabled(False):
        assert main(["conv2d", "--relu", "--pool", "2", "--batch", "1", "--height", "4", "--width", "4"]) == 0
    assert "fusion off (each op its own kernel call)" in capsys.readouterr().out


def test_kernels_reference_checks_the_naive_twins_an_edit_would_touch(capsys, monkeypatch):
    """After an edit to a naive kernel, --kernels reference is the check that runs it; the caller's set is back."""
    from tinycnn import backend
    from tinycnn.kernels import maxpool2d

    calls = []
    naive_forward, naive_backward = backend._pairs["max_pool2d"]["reference"]

    def counted(*args):
        calls.append(1)
        return naive_forward(*args)

    fast = (maxpool2d.maxpool2d_forward, maxpool2d.maxpool2d_backward)
    monkeypatch.setitem(backend._pairs, "max_pool2d", {"fast": fast, "reference": (counted, naive_backward)})
    assert main(["max_pool2d", "--kernels", "reference", "--batch", "1", "--height", "4", "--width", "4"]) == 0
    assert "kernels: reference, fusion off" in capsys.readouterr().out
    assert calls and backend.mode() == "fast"
