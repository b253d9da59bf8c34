"""The list of tinycnn's public API, made from the package itself: ``python -m tinycnn.api_list > docs/api.md``.

Every public function, class and method a PyTorch user reaches for, by
namespace, each with the first line of its docstring. docs/api.md is this
module's output, and tests/test_api_list.py fails when the two differ, so
the list cannot go stale: a new op shows up in the test's diff until the
file is made again.

A name is listed when it is defined in the namespace's own package (not
NumPy's ``np`` or Python's ``math`` that a module happens to import) and
does not start with an underscore.
"""

import inspect
import sys


def _first_line(obj):
    # a class's own docstring only: inspect.getdoc would give a subclass without one its base class's
    doc = (obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _public(namespace, keep):
    """(name, object) pairs of ``namespace`` that ``keep`` accepts, defined inside tinycnn, in name order.

    Every public attribute, not only ``__all__``: tinycnn's ``max`` and ``min`` are left out of ``__all__`` (a
    star import must not hide Python's) but are public all the same."""
    names = [name for name in vars(namespace) if not name.startswith("_")]
    pairs = []
    for name in sorted(set(names), key=lambda name: (name.lower(), name)):  # tensor and Tensor: always one order
        obj = getattr(namespace, name, None)
        module = getattr(obj, "__module__", "") or ""
        if obj is not None and keep(obj) and module.startswith("tinycnn"):
            pairs.append((name, obj))
    return pairs


def _is_function(obj):
    return inspect.isfunction(obj) or inspect.isbuiltin(obj)


def _is_class(obj):
    return inspect.isclass(obj)


def _is_module_class(obj):
    from tinycnn.nn import Module
    return inspect.isclass(obj) and issubclass(obj, Module)


def sections():
    """[(title, [(name, first docstring line)])] for every public namespace."""
    import tinycnn
    import tinycnn.functional as F
    from tinycnn import data, metrics, nn, optim
    from tinycnn.data import transforms
    from tinycnn.optim import lr_scheduler

    def own_function(namespace):
        """Functions defined in ``namespace`` itself, not helpers it imports (``default_generator``, say)."""
        return lambda obj: _is_function(obj) and obj.__module__ == namespace.__name__

    def listed(namespace, keep, prefix):
        return [(f"{prefix}{name}", _first_line(obj)) for name, obj in _public(namespace, keep)]

    tensor_methods = [(f"Tensor.{name}", _first_line(member))
                      for name, member in sorted(vars(tinycnn.Tensor).items(), key=lambda item: item[0].lower())
                      if not name.startswith("_") and (callable(member) or isinstance(member, property))]
    optimizers = [(name, line) for name, line in listed(optim, _is_class, "optim.") if name != "optim.Optimizer"]
    module_methods = [(f"Module.{name}", _first_line(member))
                      for name, member in sorted(vars(nn.Module).items(), key=lambda item: (item[0].lower(), item[0]))
                      if not name.startswith("_") and callable(member)]
    return [
        ("tinycnn (as torch)", listed(tinycnn, lambda obj: _is_function(obj) or _is_class(obj), "tinycnn.")),
        ("Tensor methods and properties", tensor_methods),
        ("tinycnn.functional (as torch.nn.functional)", listed(F, own_function(F), "F.")),
        ("tinycnn.nn modules (as torch.nn)", listed(nn, _is_module_class, "nn.")),
        ("Module methods", module_methods),
        ("tinycnn.nn.init", listed(nn.init, own_function(nn.init), "nn.init.")),
        ("tinycnn.nn.utils", listed(nn.utils, own_function(nn.utils), "nn.utils.")),
        ("tinycnn.optim", optimizers),
        ("tinycnn.optim.lr_scheduler", listed(lr_scheduler, _is_class, "lr_scheduler.")),
        ("tinycnn.data (as torch.utils.data and torchvision.datasets)",
         listed(data, lambda obj: _is_function(obj) or _is_class(obj), "data.")),
        ("tinycnn.data.transforms (as torchvision.transforms)", listed(transforms, _is_class, "transforms.")),
        ("tinycnn.metrics", listed(metrics, own_function(metrics), "metrics.")),
    ]


def markdown():
    lines = ["# tinycnn's public API", "",
             "Made by `python -m tinycnn.api_list > docs/api.md`; `tests/test_api_list.py` checks that this file",
             "is what that command prints. What differs from PyTorch: docs/pytorch.md, \"Differences from PyTorch\".", ""]
    for title, entries in sections():
        lines += [f"## {title}", "", "| name | what it is |", "|---|---|"]
        lines += [f"| `{name}` | {line.replace('|', '/')} |" for name, line in entries]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())
