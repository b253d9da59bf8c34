"""F.nll_loss and F.cross_entropy with PyTorch's options (weight, ignore_index, reduction, label_smoothing,
probability targets, (C,) and (N, C, d1, ...) inputs), and the modules NLLLoss and CrossEntropyLoss.

Three oracles: finite differences (the backward agrees with the forward), PyTorch (the forward and the
gradient are PyTorch's, for every combination of the options), and the study's kernel (the default path is
still the one kernel pair, bit for bit).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn.functional as F
from tinycnn import Tensor, nn
from tinycnn.functional import NLLLossFunction
from tinycnn.gradcheck import check_gradients

seeds = st.integers(0, 2**32 - 1)

LAYOUTS = {"(N, C)": (4, 5), "(C,)": (5,), "(N, C, H, W)": (2, 5, 3, 2)}


def _target_shape(input_shape):
    return () if len(input_shape) == 1 else (input_shape[0],) + input_shape[2:]


def _case(rng, input_shape, ignore):
    """Scores, class-index targets (some equal to -100 when ``ignore``; never all) and per-class weights."""
    classes = input_shape[0] if len(input_shape) == 1 else input_shape[1]
    scores = rng.standard_normal(input_shape) * 2
    target = rng.integers(0, classes, size=_target_shape(input_shape))
    if ignore and target.size > 1:
        target.reshape(-1)[rng.permutation(target.size)[: target.size // 2]] = -100
    return scores, target, rng.uniform(0.2, 3.0, classes)


# ----- gradients against finite differences ------------------------------------------------------------------------


@st.composite
def loss_cases(draw):
    layout = draw(st.sampled_from(["(N, C)", "(C,)", "(N, C, H, W)"]))
    N, C = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    shape = {"(N, C)": (N, C), "(C,)": (C,), "(N, C, H, W)": (N, C, draw(st.integers(1, 3)), 2)}[layout]
    options = dict(reduction=draw(st.sampled_from(["none", "mean", "sum"])))
    if draw(st.booleans()):
        options["weight"] = "drawn"
    return shape, options, draw(st.booleans()), draw(seeds)


@given(loss_cases(), st.sampled_from([0.0, 0.1, 1.0]))
def test_cross_entropy_gradients_with_every_option(case, label_smoothing):
    shape, options, ignore, seed = case
    scores, target, weight = _case(np.random.default_rng(seed), shape, ignore)
    options = {**options, "weight": weight} if "weight" in options else options
    check_gradients(lambda s: F.cross_entropy(s, target, label_smoothing=label_smoothing, **options), [scores], seed)


@given(loss_cases())
def test_nll_loss_gradients_with_every_option(case):
    shape, options, ignore, seed = case
    scores, target, weight = _case(np.random.default_rng(seed), shape, ignore)
    options = {**options, "weight": weight} if "weight" in options else options
    check_gradients(lambda s: F.nll_loss(s, target, **options), [scores], seed)


@given(st.sampled_from(list(LAYOUTS.values())), st.sampled_from(["none", "mean", "sum"]), st.booleans(),
       st.sampled_from([0.0, 0.2]), seeds)
def test_cross_entropy_with_probability_targets_gradients_in_both_inputs(shape, reduction, weighted, smoothing, seed):
    rng = np.random.default_rng(seed)
    scores, _, weight = _case(rng, shape, False)
    probabilities = rng.dirichlet(np.ones(shape[0 if len(shape) == 1 else 1]), size=_target_shape(shape))
    probabilities = np.moveaxis(probabilities, -1, 0 if len(shape) == 1 else 1)
    options = dict(reduction=reduction, label_smoothing=smoothing, weight=weight if weighted else None)
    check_gradients(lambda s, p: F.cross_entropy(s, p, **options), [scores, probabilities], seed)


# ----- PyTorch's values and gradients, option by option ------------------------------------------------------------


def _ours_and_torch(torch, name, scores, target, options, dtype=np.float64):
    """(our loss, our input gradient, PyTorch's loss, PyTorch's input gradient) of loss ``name``, reduced to a
    number by a fixed weighted sum when reduction='none'."""
    ours_input = Tensor(scores.astype(dtype), requires_grad=True)
    theirs_input = torch.tensor(scores.astype(dtype), requires_grad=True)
    theirs_options = {**options, "weight": None if options.get("weight") is None else torch.tensor(
        options["weight"].astype(dtype))}
    ours = getattr(F, name)(ours_input, target, **options)
    theirs = getattr(torch.nn.functional, name)(theirs_input, torch.tensor(target), **theirs_options)
    mix = np.linspace(0.5, 1.5, max(ours.data.size, 1)).reshape(ours.shape).astype(dtype)
    (ours * Tensor(mix)).sum().backward()
    (theirs * torch.tensor(mix)).sum().backward()
    return ours.data, ours_input.grad, theirs.detach().numpy(), theirs_input.grad.numpy()


OPTIONS = list(itertools.product(LAYOUTS, ["none", "mean", "sum"], [False, True], [False, True]))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("layout, reduction, weighted, ignore", OPTIONS)
def test_cross_entropy_matches_torch(layout, reduction, weighted, ignore, label_smoothing):
    torch = pytest.importorskip("torch")
    scores, target, weight = _case(np.random.default_rng(len(OPTIONS)), LAYOUTS[layout], ignore)
    options = dict(weight=weight if weighted else None, reduction=reduction, label_smoothing=label_smoothing)
    ours, ours_grad, theirs, theirs_grad = _ours_and_torch(torch, "cross_entropy", scores, target, options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layout, reduction, weighted, ignore", OPTIONS)
def test_nll_loss_matches_torch(layout, reduction, weighted, ignore):
    torch = pytest.importorskip("torch")
    scores, target, weight = _case(np.random.default_rng(7), LAYOUTS[layout], ignore)
    options = dict(weight=weight if weighted else None, reduction=reduction)
    ours, ours_grad, theirs, theirs_grad = _ours_and_torch(torch, "nll_loss", scores, target, options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction, weighted, label_smoothing",
                         list(itertools.product(["none", "mean", "sum"], [False, True], [0.0, 0.3])))
def test_cross_entropy_with_probability_targets_matches_torch(reduction, weighted, label_smoothing):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    scores, _, weight = _case(rng, (2, 4, 3, 3), False)
    probabilities = np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3, 3)), -1, 1)
    options = dict(weight=weight if weighted else None, reduction=reduction, label_smoothing=label_smoothing)
    ours, ours_grad, theirs, theirs_grad = _ours_and_torch(torch, "cross_entropy", scores, probabilities, options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-12, atol=1e-14)


def test_float32_losses_match_torch_to_float32_rounding():
    torch = pytest.importorskip("torch")
    scores, target, weight = _case(np.random.default_rng(1), (64, 10), True)
    options = dict(weight=weight, label_smoothing=0.1)
    ours, ours_grad, theirs, theirs_grad = _ours_and_torch(torch, "cross_entropy", scores, target, options, np.float32)
    assert ours.dtype == ours_grad.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-5, atol=1e-8)


def test_every_target_ignored_gives_nan_and_zero_gradient_as_torch():
    torch = pytest.importorskip("torch")
    scores, target = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, -100)
    for smoothing in (0.0, 0.1):
        ours, ours_grad, theirs, theirs_grad = _ours_and_torch(torch, "cross_entropy", scores, target,
                                                               dict(label_smoothing=smoothing))
        assert np.isnan(ours) and np.isnan(theirs)
        np.testing.assert_array_equal(ours_grad, theirs_grad)


def test_an_ignore_index_among_the_classes_drops_those_targets():
    scores, target = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 2, 2, 1])
    loss = F.cross_entropy(Tensor(scores), target, ignore_index=2).item()
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(logp[0, 0] + logp[3, 1]) / 2)


# ----- the default path: the study's kernel, bit for bit -----------------------------------------------------------


def test_the_default_path_runs_the_nll_kernel_bit_for_bit():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((32, 10)).astype(np.float32)
    target = rng.integers(0, 10, 32)
    losses = []
    for loss_fn in (lambda s: F.cross_entropy(s, target), lambda s: nn.CrossEntropyLoss()(s, target),
                    lambda s: NLLLossFunction.apply(F.log_softmax(s, dim=1), target=target)):
        x = Tensor(scores, requires_grad=True)
        loss = loss_fn(x)
        assert loss._ctx.function is NLLLossFunction
        loss.backward()
        losses.append((loss.data, x.grad))
    for loss, grad in losses[:2]:
        np.testing.assert_array_equal(loss, losses[2][0])
        np.testing.assert_array_equal(grad, losses[2][1])


def test_the_other_paths_agree_with_the_kernel_where_they_mean_the_same():
    rng = np.random.default_rng(0)
    scores, target = Tensor(rng.standard_normal((8, 5))), rng.integers(0, 5, 8)
    kernel = F.cross_entropy(scores, target).item()
    assert F.cross_entropy(scores, target, weight=np.ones(5)).item() == pytest.approx(kernel, rel=1e-14)
    assert F.cross_entropy(scores, target, reduction="sum").item() == pytest.approx(8 * kernel, rel=1e-14)
    assert F.cross_entropy(scores, target, reduction="none").data.mean() == pytest.approx(kernel, rel=1e-14)


# ----- the modules ---------------------------------------------------------------------------------------------------


def test_loss_modules_take_the_functions_options_and_keep_weight_as_a_buffer():
    rng = np.random.default_rng(0)
    scores, target, weight = _case(rng, (6, 4), True)
    criterion = nn.CrossEntropyLoss(weight=weight, ignore_index=-100, reduction="sum", label_smoothing=0.2)
    expected = F.cross_entropy(Tensor(scores), target, weight=weight, reduction="sum", label_smoothing=0.2)
    assert criterion(Tensor(scores), target).item() == expected.item()
    assert list(criterion.state_dict()) == ["weight"] and list(nn.CrossEntropyLoss().state_dict()) == []
    logp = F.log_softmax(Tensor(scores), dim=1)
    assert nn.NLLLoss(Tensor(weight), reduction="none")(logp, target).shape == (6,)
    np.testing.assert_array_equal(nn.NLLLoss(weight)(logp, target).data, F.nll_loss(logp, target, weight).data)


def test_loss_modules_have_torchs_state_dict_keys():
    torch = pytest.importorskip("torch")
    weight = np.arange(1.0, 4.0, dtype=np.float32)
    ours = nn.Sequential(nn.Linear(2, 3), nn.CrossEntropyLoss(weight))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.CrossEntropyLoss(torch.tensor(weight)))
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ----- bad input: a clear message naming the argument ------------------------------------------------------------------


def test_bad_options_are_refused_by_name():
    scores, target = Tensor(np.zeros((2, 3))), np.array([0, 1])
    with pytest.raises(ValueError, match="cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'"):
        F.cross_entropy(scores, target, reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must lie in \[0, 1\], got 1.5"):
        F.cross_entropy(scores, target, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"nll_loss: weight must be 3 numbers, one per class \(shape \(3,\)\)"):
        F.nll_loss(scores, target, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 3\) or equal ignore_index \(-100\), got "
                                         r"min -1"):
        F.cross_entropy(scores, np.array([-1, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: target must have shape \(2, 4\) to match the input"):
        F.nll_loss(Tensor(np.zeros((2, 3, 4))), np.array([0, 1]))
    with pytest.raises(ValueError, match="nll_loss: input must be .* class scores, got a 0-d tensor"):
        F.nll_loss(Tensor(np.zeros(())), np.array(0))
    with pytest.raises(ValueError, match="CrossEntropyLoss: size_average is deprecated in PyTorch"):
        nn.CrossEntropyLoss(None, True)
    with pytest.raises(ValueError, match="NLLLoss: reduction must be"):
        nn.NLLLoss(reduction="elementwise_mean")


def test_probability_targets_must_be_float_and_take_no_ignore_index():
    scores = Tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"cross_entropy: a target of the input's shape \(2, 3\) holds class "
                                        r"probabilities and must be float, got int64"):
        F.cross_entropy(scores, np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="cross_entropy: ignore_index .0. applies to class-index targets only"):
        F.cross_entropy(scores, np.full((2, 3), 1 / 3), ignore_index=0)
    with pytest.raises(TypeError, match="cross_entropy: mixed dtypes"):
        F.cross_entropy(scores, Tensor(np.full((2, 3), 1 / 3, dtype=np.float32)))
