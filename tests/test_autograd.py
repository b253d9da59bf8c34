"""The autograd engine: accumulation, no_grad, broadcasting, errors that name the op."""

import numpy as np
import pytest

import tinycnn
import tinycnn.functional as F
from tinycnn import Tensor, nn
from tinycnn.tensor import Context, Reshape  # tinycnn.tensor is the function, as torch.tensor


def test_a_tensor_used_twice_gets_the_sum_of_both_gradients():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x + x  # x feeds three uses: d/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 5.0, 7.0])


def test_a_module_called_twice_in_one_graph():
    layer = nn.Linear(3, 3, generator=np.random.default_rng(0)).to(np.float64)
    x = Tensor(np.ones((2, 3)))
    layer(layer(x)).sum().backward()
    w = layer.weight.data
    # out = (x W^T + b) W^T + b; d(sum)/dW gathers both uses
    h = x.data @ w.T + layer.bias.data
    expected = np.ones((2, 3)).T @ h + (np.ones((2, 3)) @ w).T @ x.data
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-12)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    model = nn.Linear(2, 1, generator=np.random.default_rng(0))
    x = Tensor(np.ones((1, 2), dtype=np.float32))
    model(x).sum().backward()
    once = model.weight.grad.copy()
    model(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad, 2 * once)
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with tinycnn.no_grad():
        y = x * 2.0
        assert not tinycnn.is_grad_enabled()
    assert tinycnn.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def recorded(x):
    return (x * x).requires_grad


def test_set_grad_enabled_works_as_a_call_a_block_and_a_decorator():
    x = Tensor(np.ones(3), requires_grad=True)
    tinycnn.set_grad_enabled(False)  # a plain call, as PyTorch allows: from here on
    try:
        assert not tinycnn.is_grad_enabled() and not recorded(x)
    finally:
        tinycnn.set_grad_enabled(True)
    assert recorded(x)
    with tinycnn.set_grad_enabled(False):
        assert not recorded(x)
    assert recorded(x)

    @tinycnn.set_grad_enabled(False)
    def evaluate(value):
        return recorded(value)

    assert tinycnn.is_grad_enabled()  # decorating changed nothing
    assert evaluate(x) is False and recorded(x)


def test_no_grad_and_enable_grad_decorate_with_or_without_parentheses():
    x = Tensor(np.ones(3), requires_grad=True)

    @tinycnn.no_grad
    def bare(value):
        return recorded(value)

    @tinycnn.no_grad()
    def called(value):
        return recorded(value)

    @tinycnn.enable_grad()
    def inner(value):
        return recorded(value)

    assert bare(x) is False and called(x) is False and bare.__name__ == "bare"
    with tinycnn.no_grad():
        assert inner(x) is True and not recorded(x)
        with tinycnn.enable_grad():
            assert recorded(x)
    assert recorded(x)


def test_inference_mode_is_no_grad_as_a_block_and_a_decorator_and_false_changes_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with tinycnn.inference_mode():
        assert not recorded(x) and not tinycnn.is_grad_enabled()
    assert recorded(x)

    @tinycnn.inference_mode
    def bare(value):
        return recorded(value)

    @tinycnn.inference_mode()
    def called(value):
        return recorded(value)

    @tinycnn.inference_mode(False)
    def unchanged(value):
        return recorded(value)

    assert bare(x) is False and called(x) is False and unchanged(x) is True and bare.__name__ == "bare"
    with tinycnn.no_grad():
        assert unchanged(x) is False  # inference_mode(False) leaves the mode as it is; it does not turn recording on
        with tinycnn.inference_mode(False):
            assert not recorded(x)
    assert recorded(x) and tinycnn.is_grad_enabled()


def test_inference_mode_matches_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in ((tinycnn.inference_mode(), torch.inference_mode()),
                         (tinycnn.inference_mode(False), torch.inference_mode(False))):
        x, tx = Tensor(np.ones(2), requires_grad=True), torch.ones(2, requires_grad=True)
        with ours, theirs:
            assert (x * 2.0).requires_grad == (tx * 2).requires_grad


@pytest.mark.parametrize("make_decorator", [lambda: tinycnn.no_grad, lambda: tinycnn.no_grad(),
                                            lambda: tinycnn.set_grad_enabled(False), lambda: tinycnn.inference_mode,
                                            lambda: tinycnn.inference_mode()])
def test_a_decorated_generator_runs_in_the_mode_and_its_caller_does_not(make_decorator):
    """As PyTorch's: the generator's body is inside the block at every resumption, the loop around it outside."""
    x = Tensor(np.ones(3), requires_grad=True)
    decorator = make_decorator()  # set_grad_enabled(False) made here, not at import: it would turn recording off

    @decorator
    def batches(count):
        for index in range(count):
            sent = yield index, recorded(x)
            if sent is not None:
                yield "sent", recorded(x)
        return "done"

    seen = []
    for index, inside in batches(3):
        seen.append((index, inside, recorded(x)))  # recorded(x) here: in the caller, between two yields
    assert seen == [(0, False, True), (1, False, True), (2, False, True)]
    assert tinycnn.is_grad_enabled()

    generator = batches(2)
    assert next(generator) == (0, False) and generator.send("x") == ("sent", False) and recorded(x)
    generator.close()
    assert tinycnn.is_grad_enabled()

    generator = batches(1)
    next(generator)
    with pytest.raises(StopIteration) as finished:
        next(generator)
    assert finished.value.value == "done" and tinycnn.is_grad_enabled()

    @decorator
    def handles():
        try:
            yield 1
        except KeyError:
            yield "handled", recorded(x)

    generator = handles()
    next(generator)
    assert generator.throw(KeyError("k")) == ("handled", False) and recorded(x)


def test_grad_mode_is_per_thread():
    import threading

    x = Tensor(np.ones(3), requires_grad=True)
    seen = {}

    def worker():
        seen["starts recording"] = tinycnn.is_grad_enabled()
        tinycnn.set_grad_enabled(False)
        seen["after its own call"] = recorded(x)

    with tinycnn.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert not recorded(x)
    assert seen == {"starts recording": True, "after its own call": False}
    assert recorded(x)  # the other thread's call did not reach this one


def test_broadcasting_reduces_gradients_to_each_input_shape():
    a = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    c = Tensor(np.ones((4, 1)), requires_grad=True)
    ((a * b) + c).sum().backward()
    np.testing.assert_allclose(a.grad, np.tile([1.0, 2.0, 3.0], (4, 1)))
    np.testing.assert_allclose(b.grad, [4.0, 4.0, 4.0])
    np.testing.assert_allclose(c.grad, np.full((4, 1), 3.0))


def test_scalars_and_arrays_as_operands():
    x = Tensor(np.array([2.0, 4.0]), requires_grad=True)
    y = (1.0 - x) / 2.0 + 3 * x - np.array([1.0, 1.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.5, 2.5])
    np.testing.assert_allclose((2.0 / x).data, [1.0, 0.5])


def test_a_deep_graph_does_not_hit_the_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(20000):
        y = y + x
    y.backward()
    assert x.grad == 20001.0


def test_default_dtype_is_float32_and_float64_is_kept():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert (Tensor(np.zeros(2)) * 2.0).dtype == np.float64
    assert (Tensor([1.0]) * 2.0).dtype == np.float32


# ----- comparisons ---------------------------------------------------------------------------------


COMPARISONS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparisons_are_element_wise_bool_tensors_without_a_gradient(op):
    compare = COMPARISONS[op]
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    x = Tensor(a, requires_grad=True)
    for other in (b, Tensor(b), 2.0, 2, [2.0, 2.0, 2.0]):  # broadcast, on either side
        out = compare(x, other)
        assert isinstance(out, Tensor) and out.dtype == np.bool_ and out.shape == (2, 3)
        assert not out.requires_grad and out._ctx is None
        np.testing.assert_array_equal(out.data, compare(a, np.asarray(b)))
    reflected = compare(b, x)  # an ndarray on the left gives way to the Tensor, as for arithmetic
    assert isinstance(reflected, Tensor)
    np.testing.assert_array_equal(reflected.data, compare(b, a))
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2,\) cannot be broadcast"):
        compare(x, np.zeros(2))


def test_the_issues_example_and_counting_correct_predictions():
    y = np.array([3, 1, 4, 1, 5])
    same = Tensor(y) == y
    assert same.shape == (5,) and same.numpy().all()  # was one False
    predictions = Tensor(np.array([3, 1, 0, 1, 0]))
    correct = (predictions == y).sum()
    assert correct.dtype == np.int64 and correct.item() == 3  # an int64 count, as PyTorch's sum of bools
    assert (Tensor(y) != Tensor(y)).sum().item() == 0
    with pytest.raises(TypeError, match="mean: needs a float tensor, got bool"):
        (predictions == y).mean()  # as PyTorch: mean() of bools is refused, not rounded to a bool


def test_a_python_number_takes_the_tensors_dtype_and_non_numbers_compare_by_identity():
    assert (Tensor([0.1]) == 0.1).item()  # 0.1 compared in float32, as PyTorch does
    x = Tensor(np.ones(2))
    assert (x == None) is False and (x != None) is True and (x == "a") is False  # noqa: E711


def test_truth_of_a_tensor_is_its_one_value_and_ambiguous_otherwise():
    assert Tensor(np.array(0.05)) < 0.1
    assert not Tensor(np.array([3.0])) < 0.1
    for shape in ((2,), (0,)):
        with pytest.raises(RuntimeError, match=r"truth value of a tensor of shape .* is ambiguous"):
            bool(Tensor(np.ones(shape)) == 1.0)


def test_tensors_hash_by_identity_and_stay_usable_as_keys():
    """As PyTorch's: defining == does not make tensors unhashable, and two equal tensors are distinct keys."""
    a, b = Tensor(np.ones(3)), Tensor(np.ones(3))
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and hash(a) != hash(b)
    assert a in {a} and b not in {a} and a in [a]
    model = nn.Linear(2, 2)
    optimizer = tinycnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    optimizer.step()
    assert len(optimizer.state) == 2 and len(optimizer.state_dict()["state"]) == 2


def test_torch_compares_the_same():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (4, 5)).astype(np.float32)
    b = rng.integers(0, 3, 5).astype(np.float32)
    for op, compare in COMPARISONS.items():
        for other, torch_other in ((b, torch.tensor(b)), (1.0, 1.0), (0.1, 0.1)):
            ours, theirs = compare(Tensor(a), other), compare(torch.tensor(a), torch_other)
            assert ours.dtype == np.bool_ and theirs.dtype == torch.bool
            np.testing.assert_array_equal(ours.data, theirs.numpy(), err_msg=op)
    assert (Tensor(a) == b).sum().item() == (torch.tensor(a) == torch.tensor(b)).sum().item()


def test_mixed_dtypes_are_refused_with_the_op_and_shapes():
    a = Tensor(np.zeros((2, 3), dtype=np.float32))
    b = Tensor(np.zeros((2, 3), dtype=np.float64))
    with pytest.raises(TypeError, match=r"add: mixed dtypes float32 and float64 \(shapes \(2, 3\) and \(2, 3\)\)"):
        a + b
    with pytest.raises(TypeError, match="conv2d: mixed dtypes"):
        F.conv2d(Tensor(np.zeros((1, 1, 5, 5), dtype=np.float32)), Tensor(np.zeros((1, 1, 3, 3))))


def test_wrong_shapes_are_refused_with_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        Tensor(np.zeros((2, 3))) * Tensor(np.zeros(4))
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 1"):
        F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 1, 3, 3))))
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(5, 5\)"):
        F.conv2d(Tensor(np.zeros((5, 5))), Tensor(np.zeros((2, 1, 3, 3))))
    with pytest.raises(ValueError, match="kernel 5x5 is larger than the padded input 3x3"):
        F.conv2d(Tensor(np.zeros((1, 1, 3, 3))), Tensor(np.zeros((1, 1, 5, 5))))
    with pytest.raises(ValueError, match=r"linear: input has 4 features but weight expects 3"):
        F.linear(Tensor(np.zeros((2, 4))), Tensor(np.zeros((5, 3))))
    with pytest.raises(ValueError, match=r"max_pool2d: kernel 3x3 is larger than the input 2x2"):
        F.max_pool2d(Tensor(np.zeros((1, 1, 2, 2))), 3)
    with pytest.raises(ValueError, match=r"nll_loss: target values must lie in \[0, 3\)"):
        F.nll_loss(Tensor(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices"):
        F.nll_loss(Tensor(np.zeros((2, 3))), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="relu: input must be float32 or float64, got int64"):
        F.relu(Tensor(np.zeros(3, dtype=np.int64)))


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="needs a scalar"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.ones(3))
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])


def test_cross_entropy_takes_a_tensor_target_and_equals_nll_of_log_softmax():
    rng = np.random.default_rng(0)
    scores = Tensor(rng.standard_normal((4, 5)))
    target = rng.integers(0, 5, 4)
    by_tensor = F.cross_entropy(scores, Tensor(target)).item()
    assert by_tensor == pytest.approx(F.nll_loss(F.log_softmax(scores, dim=1), target).item())
    logp = scores.data - np.log(np.exp(scores.data).sum(axis=1, keepdims=True))
    assert by_tensor == pytest.approx(-logp[np.arange(4), target].mean())


def test_max_pool2d_stride_defaults_to_the_kernel_and_sizes_round_down():
    out = F.max_pool2d(Tensor(np.arange(121.0).reshape(1, 1, 11, 11)), 3)
    assert out.shape == (1, 1, 3, 3)
    assert out.data[0, 0, 0, 0] == 24.0  # max of rows 0-2, columns 0-2


# ----- a second backward: PyTorch's rules -------------------------------------------------------


def two_heads(params, x, y1, y2):
    """Two losses over one trunk (conv + ReLU + pool, then a linear + ReLU), as in multi-task training."""
    conv_w, conv_b, trunk_w, trunk_b, head1_w, head2_w = params
    trunk = F.flatten(F.max_pool2d(F.relu(F.conv2d(x, conv_w, conv_b)), 2))
    hidden = F.relu(F.linear(trunk, trunk_w, trunk_b))
    return F.cross_entropy(F.linear(hidden, head1_w), y1), F.cross_entropy(F.linear(hidden, head2_w), y2)


def two_heads_arrays(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(2, 1, 3, 3), (2,), (5, 18), (5,), (4, 5), (3, 5)]
    params = [rng.standard_normal(shape) for shape in shapes]
    return params, rng.standard_normal((3, 1, 8, 8)), rng.integers(0, 4, 3), rng.integers(0, 3, 3)


def test_a_second_backward_through_a_freed_graph_raises_and_changes_nothing():
    arrays, x, y1, y2 = two_heads_arrays()
    params = [Tensor(a, requires_grad=True) for a in arrays]
    loss1, loss2 = two_heads(params, Tensor(x), y1, y2)
    loss1.backward()
    grads = [p.grad.copy() if p.grad is not None else None for p in params]
    with pytest.raises(RuntimeError, match=r"backward through \w+Function a second time.*retain_graph=True"):
        loss2.backward()
    for p, before in zip(params, grads):  # refused before any leaf was touched
        assert (p.grad is None and before is None) or np.array_equal(p.grad, before)
    with pytest.raises(RuntimeError, match="a second time"):
        loss1.backward()


def test_retain_graph_gives_the_sum_of_both_losses_gradients():
    """PyTorch's rule: gradients accumulate, so the parameters get d(loss1 + loss2)/dp (finite differences)."""
    from tinycnn.gradcheck import numerical_gradient

    arrays, x, y1, y2 = two_heads_arrays()
    params = [Tensor(a, requires_grad=True) for a in arrays]
    loss1, loss2 = two_heads(params, Tensor(x), y1, y2)
    loss1.backward(retain_graph=True)
    loss2.backward()

    def total():
        with tinycnn.no_grad():
            first, second = two_heads([Tensor(a) for a in arrays], Tensor(x), y1, y2)
            return first.item() + second.item()

    for p, array in zip(params, arrays):
        np.testing.assert_allclose(p.grad, numerical_gradient(total, array), rtol=1e-5, atol=1e-7)
    with pytest.raises(RuntimeError, match="a second time"):  # the second backward did not retain
        loss2.backward()


def test_retain_graph_matches_torch():
    torch = pytest.importorskip("torch")
    arrays, x, y1, y2 = two_heads_arrays(seed=1)
    params = [Tensor(a, requires_grad=True) for a in arrays]
    loss1, loss2 = two_heads(params, Tensor(x), y1, y2)
    loss1.backward(retain_graph=True)
    loss2.backward()

    f = torch.nn.functional
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    trunk = f.max_pool2d(f.relu(f.conv2d(torch.tensor(x), t[0], t[1])), 2).flatten(1)
    hidden = f.relu(f.linear(trunk, t[2], t[3]))
    torch_loss1 = f.cross_entropy(f.linear(hidden, t[4]), torch.tensor(y1))
    torch_loss2 = f.cross_entropy(f.linear(hidden, t[5]), torch.tensor(y2))
    torch_loss1.backward(retain_graph=True)
    torch_loss2.backward()
    with pytest.raises(RuntimeError, match="a second time"):
        torch_loss2.backward()  # the same rule in torch
    for ours, theirs in zip(params, t):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_an_intermediate_of_a_freed_graph_cannot_start_a_new_loss():
    layer = nn.Linear(3, 2, generator=np.random.default_rng(0)).to(np.float64)
    hidden = layer(Tensor(np.ones((2, 3))))
    hidden.sum().backward()
    assert hidden.grad is None  # only leaves get .grad
    with pytest.raises(RuntimeError, match="backward through LinearFunction a second time"):
        (hidden * hidden).sum().backward()


def test_a_graph_that_saved_nothing_can_backward_again_as_in_pytorch():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x + 1.0).sum()  # add and sum keep shapes only
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_after_backward_the_graph_holds_no_saved_arrays():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3))
    loss = F.cross_entropy(model(Tensor(np.ones((2, 1, 8, 8), dtype=np.float32))), np.array([0, 2]))
    loss.backward()
    stack, seen = [loss._ctx], 0
    while stack:
        node = stack.pop()
        seen += 1
        assert node.is_freed or node._saved == (), node.function.__name__
        stack.extend(p for p in node.parents if isinstance(p, Context))
    assert seen >= 5


def test_positional_inputs_of_a_function_are_tensors():
    with pytest.raises(TypeError, match=r"Reshape.apply: positional inputs must be Tensors.*keywords"):
        Reshape.apply(Tensor(np.ones(4)), (2, 2))
