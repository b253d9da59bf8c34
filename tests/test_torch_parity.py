"""Optional: tinycnn against PyTorch 2.13 on the same inputs (skipped without torch).

Install the oracle with `pip install torch==2.13.0` (that exact version: others pull CUDA).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinycnn.functional as F  # noqa: E402
from benchmark import torch_model  # noqa: E402
from models import MinimalNet  # noqa: E402
from tinycnn import Tensor, optim  # noqa: E402
from tinycnn.nn import Parameter  # noqa: E402


def both(array):
    return Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d(stride, padding):
    rng = np.random.default_rng(0)
    (x, tx), (w, tw), (b, tb) = both(rng.standard_normal((2, 3, 9, 8))), both(rng.standard_normal((4, 3, 3, 2))), \
        both(rng.standard_normal(4))
    ours = F.conv2d(x, w, b, stride, padding)
    theirs = torch.nn.functional.conv2d(tx, tw, tb, stride, padding)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(ours.shape)
    (ours * Tensor(dout)).sum().backward()
    (theirs * torch.tensor(dout)).sum().backward()
    for a, t in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_minimal_model_forward_backward_and_adam_steps():
    """The study's model in float32: same weights, same batch, three Adam steps with L2 decay."""
    rng = np.random.default_rng(1)
    ours = MinimalNet(generator=rng)
    theirs = torch_model("iter4")
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    opt = optim.Adam(ours.parameters(), lr=0.01, weight_decay=1e-4)
    topt = torch.optim.Adam(theirs.parameters(), lr=0.01, weight_decay=1e-4)
    for step in range(3):
        x = rng.standard_normal((32, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, 32)
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(ours(Tensor(x)), y)
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-4)
        loss.backward()
        tloss.backward()
        for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)
        opt.step()
        topt.step()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)


def test_max_pool_log_softmax_nll_and_sgd_momentum():
    rng = np.random.default_rng(2)
    (x, tx) = both(rng.standard_normal((2, 3, 11, 11)))
    ours = F.max_pool2d(x, 3, 2)
    theirs = torch.nn.functional.max_pool2d(tx, 3, 2)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    (s, ts) = both(rng.standard_normal((5, 7)))
    target = rng.integers(0, 7, 5)
    loss = F.nll_loss(F.log_softmax(s, dim=1), target)
    tloss = torch.nn.functional.nll_loss(torch.log_softmax(ts, dim=1), torch.tensor(target))
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-10)

    p, tp = Parameter(np.array([1.0, -2.0])), torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    sgd = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    tsgd = torch.optim.SGD([tp], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    for g in ([0.5, 0.5], [-1.0, 2.0], [0.0, 1.0]):
        p.grad, tp.grad = np.array(g), torch.tensor(g, dtype=torch.float64)
        sgd.step()
        tsgd.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_against_torch(training):
    rng = np.random.default_rng(3)
    (x, tx), (w, tw), (b, tb) = both(rng.standard_normal((4, 3, 5, 5)) * 2 + 1), both(rng.standard_normal(3)), \
        both(rng.standard_normal(3))
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    tmean, tvar = torch.tensor(mean), torch.tensor(var)
    ours = F.batch_norm(x, mean, var, w, b, training=training, momentum=0.3)
    theirs = torch.nn.functional.batch_norm(tx, tmean, tvar, tw, tb, training=training, momentum=0.3)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mean, tmean.numpy(), rtol=1e-12)  # running statistics updated alike
    np.testing.assert_allclose(var, tvar.numpy(), rtol=1e-12)
    dout = rng.standard_normal(ours.shape)
    (ours * Tensor(dout)).sum().backward()
    (theirs * torch.tensor(dout)).sum().backward()
    for a, t in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("op, args", [("avg_pool2d", (3, 2)), ("avg_pool2d", (2,)), ("adaptive_avg_pool2d", (1,)),
                                      ("adaptive_avg_pool2d", ((3, 4),))])
def test_average_pooling_against_torch(op, args):
    (x, tx) = both(np.random.default_rng(4).standard_normal((2, 3, 9, 7)))
    ours, theirs = getattr(F, op)(x, *args), getattr(torch.nn.functional, op)(tx, *args)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(5).standard_normal(ours.shape)
    (ours * Tensor(dout)).sum().backward()
    (theirs * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_tiny_model_training_step_against_torch():
    """TinyNet as tiny.py trains it (BatchNorm in training mode, no dropout): the same loss, gradients, statistics."""
    from models import TinyNet
    rng = np.random.default_rng(6)
    ours = TinyNet(generator=rng).to(np.float64)
    theirs = torch_model("tiny").double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x, y = rng.standard_normal((8, 1, 28, 28)), rng.integers(0, 10, 8)
    loss = F.nll_loss(ours(Tensor(x)), y)
    tloss = torch.nn.functional.nll_loss(theirs(torch.tensor(x)), torch.tensor(y))
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    loss.backward()
    tloss.backward()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)
    for (name, buffer), tbuffer in zip(ours.named_buffers(), theirs.buffers()):
        np.testing.assert_allclose(buffer, tbuffer.numpy(), rtol=1e-10, err_msg=name)
