"""The everyday tensor lines a first PyTorch user hit (issue 23): each runs as in PyTorch, with the gradient
checked where it is differentiable and the values held to torch where it is installed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn
from tinycnn.gradcheck import check_gradients, distinct_values


@settings(max_examples=25, deadline=None)
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 4)]), seed=st.integers(0, 2**16), keepdim=st.booleans(),
       correction=st.sampled_from([0, 1]))
def test_var_std_and_abs_gradients(shape, seed, keepdim, correction):
    x = distinct_values(np.random.default_rng(seed), shape)
    check_gradients(lambda t: t.abs(), [x], seed)
    check_gradients(lambda t: t.var(correction=correction), [x], seed)
    check_gradients(lambda t: t.std(dim=0, keepdim=keepdim, correction=correction), [x], seed)


def test_var_std_and_abs_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    ours, theirs = tinycnn.tensor(x), torch.tensor(x)
    assert np.allclose(ours.std().item(), theirs.std().item())
    assert np.allclose(ours.std(dim=1).numpy(), theirs.std(dim=1).numpy())
    assert np.allclose(ours.var(dim=(0, 2), keepdim=True, unbiased=False).numpy(),
                       theirs.var(dim=(0, 2), keepdim=True, unbiased=False).numpy())
    assert np.array_equal(ours.abs().numpy(), theirs.abs().numpy())


def test_integer_tensors_meet_floats_as_in_pytorch():
    images = tinycnn.tensor(np.array([0, 128, 255], np.uint8))
    scaled = images / 255.0
    assert scaled.dtype == np.float32 and np.allclose(scaled.tolist(), [0.0, 128 / 255, 1.0])
    assert (images * 0.5).tolist() == [0.0, 64.0, 127.5]  # not the 0 a cast of 0.5 to uint8 would give
    assert (tinycnn.tensor([1, 2]) / 2).dtype == np.float32 and (tinycnn.tensor([1, 2]) + 1).dtype == np.int64
    assert (3 / tinycnn.tensor([1, 2])).tolist() == [3.0, 1.5]
    assert (tinycnn.tensor([1, 2]) * tinycnn.tensor([0.5, 0.25], dtype=tinycnn.float64)).dtype == np.float64


def test_item_assignment_into_a_tensor_without_gradient():
    confusion = tinycnn.zeros(3, 3, dtype=tinycnn.long)
    confusion[tinycnn.tensor([0, 1]), tinycnn.tensor([0, 2])] += 1
    confusion[2] = tinycnn.tensor([4, 5, 6])
    assert confusion.tolist() == [[1, 0, 0], [0, 0, 1], [4, 5, 6]]
    weights = tinycnn.randn(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not follow in-place changes"):
        weights[0] = 1.0
    with pytest.raises(RuntimeError, match="does not follow in-place changes"):
        (weights * 2)[0] = 1.0


def test_small_methods_and_functions():
    x = tinycnn.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.cpu() is x and x.dim() == 2 and x.t().tolist() == [[1.0, 3.0], [-2.0, 4.0]]
    assert x.eq(x).numpy().all() and not x.ne(x).numpy().any()
    assert x.view_as(tinycnn.zeros(4)).shape == (4,)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        tinycnn.zeros(2, 2, 2).t()
    assert tinycnn.equal(x, x.clone()) and not tinycnn.equal(x, x.t())
    assert tinycnn.allclose(x, x + 1e-9) and tinycnn.is_tensor(x) and not tinycnn.is_tensor(x.data)
    assert tinycnn.arange(4).tolist() == [0, 1, 2, 3] and tinycnn.arange(4).dtype == np.int64
    assert tinycnn.arange(0, 1, 0.5).dtype == np.float32
    assert tinycnn.float is np.float32 and tinycnn.long is np.int64 and tinycnn.double is np.float64
    threads = tinycnn.get_num_threads()
    tinycnn.set_num_threads(1)
    assert tinycnn.get_num_threads() == 1
    tinycnn.set_num_threads(threads)


def test_load_takes_pytorchs_arguments_and_points_a_pytorch_file_to_its_reader(tmp_path):
    tinycnn.save({"w": np.arange(3.0)}, tmp_path / "model.pt")
    assert np.array_equal(tinycnn.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)["w"],
                          np.arange(3.0))
    assert "w" in tinycnn.load(tmp_path / "model.pt", map_location=tinycnn.device("cpu"))
    with pytest.raises(RuntimeError, match="CPU only"):
        tinycnn.load(tmp_path / "model.pt", map_location="cuda:0")
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "theirs.pt")
    with pytest.raises(tinycnn.CheckpointError, match="load_torch_state_dict"):
        tinycnn.load(tmp_path / "theirs.pt")


def test_a_manual_update_under_no_grad_changes_the_models_parameters():
    import tinycnn.functional as F
    from tinycnn import nn

    model = nn.Linear(3, 2)
    before = model.weight.data.copy()
    F.cross_entropy(model(tinycnn.randn(4, 3)), np.array([0, 1, 0, 1])).backward()
    with tinycnn.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad  # PyTorch's manual SGD: the parameter itself changes, not the loop's name
    assert np.array_equal(model.weight.data, (before - 0.1 * model.weight.grad).astype(np.float32))
    with pytest.raises(RuntimeError, match="inside `with tinycnn.no_grad"):
        model.weight += 1.0  # a leaf that requires a gradient, while recording: refused, as in PyTorch
    counts = tinycnn.zeros(3, dtype=tinycnn.long)
    counts += 1
    assert counts.add_(1).tolist() == [2, 2, 2] and counts.zero_().tolist() == [0, 0, 0]
    assert tinycnn.zeros(2).fill_(3.0).tolist() == [3.0, 3.0] and tinycnn.zeros(2).copy_(tinycnn.ones(2)).tolist() == [1, 1]
    source, copied = tinycnn.ones(2), tinycnn.zeros(2)
    copied.copy_(source)
    copied[0] = 5.0  # its own writable array, not a view of the source
    assert copied.tolist() == [5.0, 1.0] and source.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="convert the tensor first"):
        tinycnn.ones(2, dtype=tinycnn.long).mul_(0.5)


def test_an_in_place_add_on_a_recorded_result_keeps_the_gradient_as_in_a_residual_block():
    x = distinct_values(np.random.default_rng(0), (2, 3))

    def residual(t):
        out = t * 2.0
        out += t  # PyTorch's `out += identity`
        return out

    check_gradients(residual, [x])
    t = tinycnn.tensor(x, requires_grad=True)
    residual(t).sum().backward()
    assert np.allclose(t.grad, 3.0)


def test_out_plus_identity_after_a_fused_conv_and_batch_norm_keeps_the_gradient():
    import tinycnn.functional as F
    from tinycnn import nn

    tinycnn.manual_seed(0)
    conv, norm = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)

    def block(x, fused):
        with tinycnn.fusion.set_enabled(fused):
            out = F.relu(norm(conv(x)))  # a Pending tensor while fusion is on: its op has not run yet
            out += x
            return out.sum()

    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
    grads = []
    for fused in (True, False):
        for p in (*conv.parameters(), *norm.parameters()):
            p.grad = None
        block(tinycnn.tensor(x), fused).backward()
        grads.append(conv.weight.grad.copy())
    assert not tinycnn.tensor(x).requires_grad and np.allclose(grads[0], grads[1], atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(4,), (3, 5), (2, 3, 4)]), seed=st.integers(0, 2**16), keepdim=st.booleans())
def test_logsumexp_gradient(shape, seed, keepdim):
    x = distinct_values(np.random.default_rng(seed), shape)
    check_gradients(lambda t: t.logsumexp(dim=-1, keepdim=keepdim), [x], seed)
    check_gradients(lambda t: tinycnn.logsumexp(t, 0), [x], seed)


def test_logsumexp_one_hot_exp_log_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4)) * 50
    assert np.allclose(tinycnn.tensor(x).logsumexp(1).numpy(), torch.tensor(x).logsumexp(1).numpy())
    assert np.allclose(tinycnn.exp(tinycnn.tensor(x / 50)).numpy(), torch.exp(torch.tensor(x / 50)).numpy())
    labels = np.array([[0, 3], [2, 1]])
    import tinycnn.functional as F
    assert np.array_equal(F.one_hot(tinycnn.tensor(labels), 5).numpy(),
                          torch.nn.functional.one_hot(torch.tensor(labels), 5).numpy())
    assert F.one_hot(tinycnn.tensor([1, 0])).shape == (2, 2)
    with pytest.raises(ValueError, match="not below num_classes=2"):
        F.one_hot(tinycnn.tensor([2]), 2)


def test_sequential_of_an_ordered_dict_and_add_module_run_every_layer():
    from collections import OrderedDict

    from tinycnn import nn

    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("relu", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert named(tinycnn.randn(1, 1, 5, 5)).shape == (1, 2, 3, 3) and isinstance(named[0], nn.Conv2d)
    grown = nn.Sequential()
    grown.add_module("conv", nn.Conv2d(1, 2, 3))  # ran nothing before: forward skipped names that were not digits
    assert grown(tinycnn.randn(1, 1, 5, 5)).shape == (1, 2, 3, 3)
    named[1] = nn.Identity()
    assert isinstance(named.relu, nn.Identity)  # an assignment at an index keeps the name, as in PyTorch
    del named[0]
    assert [name for name, _ in named.named_children()] == ["0"]  # a deletion renumbers, as in PyTorch


def test_load_state_dict_returns_pytorchs_named_pair_and_buffers_follow_pytorchs_rules(tmp_path):
    from tinycnn import nn

    layer = nn.Linear(2, 2)
    result = layer.load_state_dict({"weight": np.zeros((2, 2)), "extra": np.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (["bias"], ["extra"])
    module = nn.Module()
    module.register_buffer("kept", np.ones(2))
    module.register_buffer("recomputed", np.ones(2), persistent=False)
    module.register_buffer("later", None)
    assert list(module.state_dict()) == ["kept"] and module.recomputed.shape == (2,) and module.later is None
    assert nn.Linear(2, 2).double().weight.dtype == np.float64 and nn.Linear(2, 2).float().weight.dtype == np.float32
    with pytest.raises(tinycnn.CheckpointError, match=r"save its state_dict\(\)"):
        tinycnn.save(nn.Linear(2, 2), tmp_path / "model.pt")
