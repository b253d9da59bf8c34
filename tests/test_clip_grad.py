"""nn.utils.clip_grad_norm_ and clip_grad_value_ against PyTorch's, and the cases around them."""

import math

import numpy as np
import pytest

from tinycnn import Tensor, nn


def _model_with_gradients(seed, scale):
    """A small model after one backward, its gradients multiplied by ``scale``; and the same arrays for torch."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(5, 4, generator=rng), nn.ReLU(), nn.Linear(4, 3, generator=rng))
    model(Tensor(rng.standard_normal((6, 5)).astype(np.float32))).sum().backward()
    for p in model.parameters():
        p.grad = (p.grad * scale).astype(np.float32)
    return model


def _torch_parameters(torch, model):
    parameters = []
    for p in model.parameters():
        copy = torch.nn.Parameter(torch.from_numpy(p.data.copy()))
        copy.grad = torch.from_numpy(p.grad.copy())
        parameters.append(copy)
    return parameters


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm, scale", [(1.0, 10.0), (100.0, 1.0), (0.5, 0.01)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, scale):
    torch = pytest.importorskip("torch")
    model = _model_with_gradients(0, scale)
    theirs = _torch_parameters(torch, model)
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.shape == () and total.dtype == np.float32
    assert total.item() == pytest.approx(their_total.item(), rel=1e-6)
    for p, q in zip(model.parameters(), theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_clipped_gradients_have_the_largest_norm_allowed_and_others_keep_their_values():
    model = _model_with_gradients(1, 10.0)
    before = nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
    after = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in model.parameters()))
    assert before > 1.0 and after == pytest.approx(1.0, rel=1e-5)
    grads = [p.grad.copy() for p in model.parameters()]
    nn.utils.clip_grad_norm_(model.parameters(), 2.0)  # within the limit: unchanged
    for p, grad in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, grad)


def test_a_gradient_array_shared_by_two_parameters_is_scaled_once():
    c, d = Tensor(np.array([3.0]), requires_grad=True), Tensor(np.array([1.0]), requires_grad=True)
    (c + d).sum().backward()  # backward hands one array of ones to both
    assert c.grad is d.grad
    nn.utils.clip_grad_norm_([c, d], 1.0)
    np.testing.assert_allclose([c.grad[0], d.grad[0]], np.array([1.0, 1.0]) / math.sqrt(2), rtol=1e-6)


def test_clip_grad_norm_takes_one_tensor_skips_parameters_without_gradients_and_can_refuse_nan():
    w = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (w * w).sum().backward()  # grad 2w = (6, 8), norm 10
    assert nn.utils.clip_grad_norm_(w, 5.0).item() == pytest.approx(10.0)
    np.testing.assert_allclose(w.grad, [3.0, 4.0], rtol=1e-6)
    assert nn.utils.clip_grad_norm_([Tensor(np.ones(2), requires_grad=True)], 1.0).item() == 0.0
    w.grad = np.array([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        nn.utils.clip_grad_norm_(w, 1.0, error_if_nonfinite=True)
    with pytest.raises(TypeError, match="clip_grad_norm_: parameter 0 is a ndarray, not a Tensor"):
        nn.utils.clip_grad_norm_([np.ones(2)], 1.0)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    model = _model_with_gradients(2, 3.0)
    theirs = _torch_parameters(torch, model)
    assert nn.utils.clip_grad_value_(model.parameters(), 0.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, q in zip(model.parameters(), theirs):
        assert np.abs(p.grad).max() <= 0.5 and p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad, q.grad.numpy())
