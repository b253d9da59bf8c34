"""Training and evaluation loops, and the layer table printed before training."""

import math
import time

import numpy as np
from tqdm import tqdm

import tinycnn.functional as F
from tinycnn.nn import Parameter
from tinycnn.random import default_generator
from tinycnn.tensor import Tensor, no_grad


def summary(model, input_shape, dtype=np.float32):
    """A table of the leaf layers with output shapes and parameter counts (as torchsummary prints).

    ``input_shape`` excludes the batch, e.g. (1, 28, 28). The table comes from
    running one zero image through the model and recording what each leaf
    layer returns. Returns the table as a string.

    The model is left as it was found: the image runs in eval mode (as
    torchinfo's summary does) under no_grad, so BatchNorm's running
    statistics and ``num_batches_tracked`` stay as they are and dropout draws
    nothing; then each module gets its own mode back, and tinycnn's default
    generator and any generator a module holds get their states back, in
    case a module of the user's draws even in eval mode.
    """
    rows = []

    def record(module, inputs, output):
        count = sum(value.data.size for value in vars(module).values() if isinstance(value, Parameter))
        rows.append((type(module).__name__, name_of[id(module)], (-1,) + tuple(output.shape[1:]), count))

    name_of = {}
    modules = [module for _, module in model.named_modules()]
    modes = [module.training for module in modules]
    generators = [default_generator()] + [value for module in modules for value in vars(module).values()
                                          if isinstance(value, np.random.Generator)]
    generator_states = [generator.bit_generator.state for generator in generators]
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.named_children())]
    for name, module in leaves:
        name_of[id(module)] = name
        module._forward_hooks.append(record)
    try:
        model.eval()
        with no_grad():
            model(Tensor(np.zeros((1,) + tuple(input_shape), dtype=dtype)))
    finally:
        for _, module in leaves:
            module._forward_hooks.remove(record)
        for module, mode in zip(modules, modes):
            module.training = mode
        for generator, state in zip(generators, generator_states):
            generator.bit_generator.state = state

    lines = [f"{'Layer (type)':<28}{'Output Shape':>24}{'Param #':>14}", "=" * 66]
    for index, (kind, name, shape, count) in enumerate(rows, start=1):
        label = f"{name} ({kind})" if name else f"{kind}-{index}"
        lines.append(f"{label:<28}{str(list(shape)):>24}{count:>14,}")
    total = model.num_parameters()
    trainable = sum(p.data.size for p in model.parameters() if p.requires_grad)
    lines += ["=" * 66, f"Total params: {total:,}", f"Trainable params: {trainable:,}", "-" * 66]
    return "\n".join(lines)


EXPLODED = 1000.0  # a loss this many times the run's first one: the run has diverged, even while it is finite


def train_epoch(model, loader, optimizer, epoch=1, progress=True, scheduler=None, first_loss=None):
    """One pass over ``loader``: forward, cross-entropy on log-softmax output, backward, step.

    ``scheduler``, if given, is stepped after every optimizer step (a
    per-batch schedule such as OneCycleLR; step per-epoch ones yourself).

    The model is expected to end in log-softmax, as the study's do; the loss
    is ``cross_entropy`` of that output, exactly the study's (mathematically
    the same as NLL on log-probabilities).

    The run has diverged at the first batch where its loss is more than
    ``EXPLODED`` times ``first_loss`` (the run's first batch's loss; this
    epoch's if not given), or where a gradient, a parameter or the
    optimizer's state (momentum, Adam's moments) stops being finite: one
    line says so when it happens. Training goes on, as the study's did,
    until the loss itself stops being finite: then nothing more can be
    learnt, and the epoch stops there.

    Returns a dict: ``losses`` (one per batch), ``running_accs`` (% after
    each batch), ``running_acc`` (% at the end), ``diverged`` (bool),
    ``diverged_at_batch`` (int or None, counted from 1), ``diverged_because``
    (what was seen, or None), ``stopped`` (the loss stopped being finite),
    ``seconds``.
    """
    model.train()
    losses, running_accs, correct, seen = [], [], 0, 0
    diverged_at, because, stopped = None, None, False
    start = time.perf_counter()
    bar = tqdm(total=len(loader), desc=f"epoch {epoch}", disable=not progress, leave=True, dynamic_ncols=True)
    for batch_index, (images, labels) in enumerate(loader):
        optimizer.zero_grad()
        output = model(Tensor(images))
        loss = F.cross_entropy(output, labels)
        loss_value = float(loss.item())
        correct += int((output.data.argmax(axis=1) == labels).sum())
        seen += len(labels)
        losses.append(loss_value)
        running_accs.append(100.0 * correct / seen)
        first_loss = loss_value if first_loss is None else first_loss
        stopped = not math.isfinite(loss_value)
        watching = diverged_at is None  # until the first sign: the checks below read every gradient and state
        problem = "the loss is not finite" if stopped else None
        if watching and problem is None and loss_value > EXPLODED * abs(first_loss):
            problem = f"the loss, {loss_value:.4g}, is over {EXPLODED:g} times the first batch's {first_loss:.4g}"
        if not stopped:
            loss.backward()
            problem = problem or (_gradient_not_finite(model) if watching else None)
            optimizer.step()
            problem = problem or (_not_finite_after_step(model, optimizer) if watching else None)
            if scheduler is not None:
                scheduler.step()
        if problem is not None and watching:
            diverged_at, because = batch_index + 1, problem
            tqdm.write(f"!! diverged at epoch {epoch}, batch {diverged_at}: {problem}")
        if stopped:
            bar.set_postfix(loss="nan", acc=f"{100.0 * correct / seen:.2f}%")
            break
        if batch_index == 0:  # the rate estimate starts after the first batch, which may have compiled kernels
            bar.reset(total=len(loader))
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", acc=f"{100.0 * correct / seen:.2f}%")
    bar.close()
    return {
        "losses": losses,
        "running_accs": running_accs,
        "running_acc": 100.0 * correct / max(seen, 1),
        "diverged": diverged_at is not None,
        "diverged_at_batch": diverged_at,
        "diverged_because": because,
        "stopped": stopped,
        "seconds": time.perf_counter() - start,
    }


def _gradient_not_finite(model):
    """'the gradient of <name> is not finite' for the first parameter whose gradient has a NaN or infinity, or None."""
    name = _first_not_finite((name, p.grad) for name, p in model.named_parameters())
    return None if name is None else f"the gradient of {name} is not finite"


def _not_finite_after_step(model, optimizer):
    """What of the step's results first has a NaN or infinity: a parameter, or an array of the optimizer's state
    (momentum, Adam's moments); None if nothing."""
    name = _first_not_finite((name, p.data) for name, p in model.named_parameters())
    if name is not None:
        return f"{name} is not finite after the step"
    key = _first_not_finite(item for state in optimizer.state.values() for item in state.items())
    return None if key is None else f"the optimizer's {key} is not finite"


def _first_not_finite(named_values):
    """The name of the first array among (name, value) pairs that holds a NaN or an infinity; other values pass."""
    return next((name for name, value in named_values
                 if isinstance(value, np.ndarray) and not np.isfinite(value).all()), None)


def evaluate(model, loader, desc="eval", progress=True, return_predictions=False):
    """Accuracy of ``model`` over ``loader``, in no_grad and eval mode.

    Predictions are the argmax of the output; as in PyTorch, a row of NaN
    predicts class 0 (argmax returns the first NaN), which is how a diverged
    network scores the share of zeros in the labels.
    Returns (accuracy %, correct, total), and the predictions in loader order
    as a fourth item if ``return_predictions``.
    """
    model.eval()
    correct, total, all_predictions = 0, 0, []
    with no_grad():
        for images, labels in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            predictions = model(Tensor(images)).data.argmax(axis=1)
            correct += int((predictions == labels).sum())
            total += len(labels)
            all_predictions.append(predictions)
    model.train()
    accuracy = 100.0 * correct / max(total, 1)
    if return_predictions:
        return accuracy, correct, total, np.concatenate(all_predictions) if all_predictions else np.zeros(0, int)
    return accuracy, correct, total
