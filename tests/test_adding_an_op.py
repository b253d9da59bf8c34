"""docs/adding-an-op.md runs: every block at a prompt, and its claim that ``python -m tinycnn.gradcheck leaky_relu``
checks the new op with no edit to gradcheck.py, on a copy of the package with the page's ``# file:`` blocks added."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

from test_walkthrough import Prompt, paste  # the simulated prompt docs/kernels.md's blocks run at

from tinycnn import backend

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "adding-an-op.md"


def python_blocks():
    """The guide's python blocks in order, dedented (one sits inside a list item)."""
    return [textwrap.dedent(body) for _, body in re.findall(r"^( *)```python\n(.*?)^\1```", GUIDE.read_text(),
                                                            re.S | re.M)]


def file_blocks():
    """(path, text) of each block whose first line is ``# file: PATH``: that file's text, or what is added to it."""
    return [(re.match(r"# file: ([\w/.]+)", block).group(1), block) for block in python_blocks()
            if block.startswith("# file: ")]


def at_the_prompt(block):
    return "(not at the prompt" not in block.splitlines()[0]


def test_every_block_of_the_guide_runs_at_a_prompt_and_its_checks_hold(monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # as a reader runs it: from the repository's root
    main = types.ModuleType("__main__")  # at a real prompt, what is typed lives in the module __main__
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(backend, "_pairs", dict(backend._pairs))  # the op registered at the prompt leaves with the test
    blocks = [block for block in python_blocks() if at_the_prompt(block)]
    assert len(blocks) >= 10 and len(python_blocks()) - len(blocks) == 1  # only backend.py's lines are the file's alone
    prompt = Prompt(locals=main.__dict__)
    for block in blocks:
        paste(prompt, block)  # a failed check raises
    printed = capsys.readouterr().out
    assert "registered: True" in printed
    assert "refused: leaky_relu: input must be a tinycnn.Tensor, got ndarray" in printed
    assert "refused: leaky_relu: input must be float32 or float64, got int64" in printed
    for dtype in ("float32", "float64"):
        assert f"{dtype}: fast forward == naive: True, fast backward == naive: True" in printed
    assert "gradcheck leaky_relu: input (2, 2, 6, 6); __main__.leaky_relu(input, negative_slope=0.1)" in printed
    assert printed.count("ok: all 1 input(s) within tolerance") == 1
    assert all(f"leaky_relu, negative_slope {slope}: pass" in printed for slope in (0.0, -0.5, 2.0))
    assert "InputCheck(" not in printed  # no block ends on a value the prompt would echo at length
    assert "fast and reference: the same output and gradient: True; back on fast" in printed


def test_the_command_checks_the_new_op_with_no_edit_to_gradcheck(tmp_path):
    """The page's files added to a copy of the package (and a Numba cache of its own: nothing is written into the
    repository); then ``python -m tinycnn.gradcheck leaky_relu`` passes, printing what the page says it prints."""
    shutil.copytree(REPO / "tinycnn", tmp_path / "tinycnn", ignore=shutil.ignore_patterns("__pycache__"))
    gradcheck_text = (tmp_path / "tinycnn" / "gradcheck.py").read_text()
    files = file_blocks()
    assert [path for path, _ in files] == ["tinycnn/kernels/leaky_relu.py", "tinycnn/functional.py",
                                           "tinycnn/backend.py"]
    for path, text in files:
        target = tmp_path / path
        target.write_text((target.read_text() + "\n\n" if target.exists() else "") + text)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    env.pop("TINYCNN_KERNELS", None)
    env.pop("TINYCNN_FUSION", None)

    def command(*flags):
        return subprocess.run([sys.executable, "-m", "tinycnn.gradcheck", *flags], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=600)

    checked = command("leaky_relu")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    guide = GUIDE.read_text()
    first_lines = re.search(r"^    (gradcheck leaky_relu: .*)\n    (kernels: .*)$", guide, re.M).groups()
    last_line = re.search(r"^    (ok: all .*)$", guide, re.M).group(1)
    lines = checked.stdout.splitlines()
    assert tuple(lines[:2]) == first_lines and lines[-1] == last_line, checked.stdout
    assert (tmp_path / "tinycnn" / "gradcheck.py").read_text() == gradcheck_text  # no edit to it
    listed = command("--list").stdout.splitlines()
    generic = listed[[line.startswith("checked generically") for line in listed].index(True) + 1:]
    assert "leaky_relu" in [line.split()[0] for line in generic if line.strip()], listed


def test_the_files_the_guide_names_are_there():
    """Section 6's list against the repository: each file it names (but the new op's own) exists, with what it says."""
    named = set(re.findall(r"`((?:tinycnn|tests|docs)/[\w/]+\.(?:py|md))`", GUIDE.read_text()))
    assert {"tinycnn/backend.py", "tinycnn/functional.py", "tinycnn/nn.py", "tests/test_kernels.py",
            "tests/test_gradcheck.py", "docs/kernels.md", "tinycnn/kernels/__init__.py"} <= named
    assert [path for path in sorted(named - {"tinycnn/kernels/leaky_relu.py"}) if not (REPO / path).is_file()] == []
    assert "def every_op_model" in (REPO / "tinycnn" / "compile.py").read_text()
    assert "What runs when" in (REPO / "tinycnn" / "kernels" / "__init__.py").read_text()
    assert "class ReLU(Module)" in (REPO / "tinycnn" / "nn.py").read_text()
    assert "def register(op, *, fast, reference)" in (REPO / "tinycnn" / "backend.py").read_text()


def test_a_kernel_with_no_file_compiles_in_memory(tmp_path):
    """A kernel made by exec, or typed at a prompt, has no file for the disk cache to watch: tinycnn's njit compiles it
    without one, where Numba's cache would refuse it ("cannot cache function ...: no locator available")."""
    source = textwrap.dedent('''
        import numpy as np
        from numba import prange
        from tinycnn.kernels.jit import in_cache, njit, prange_only
        @njit(parallel=prange_only())
        def double(x):
            out = np.empty_like(x)
            for i in prange(x.size):
                out[i] = 2 * x[i]
            return out
        print(double(np.arange(3.0)).tolist(), type(double._cache).__name__, in_cache(double))
    ''')
    cache = tmp_path / "numba-cache"
    result = subprocess.run([sys.executable, "-c", f"exec({source!r})"], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["[0.0,", "2.0,", "4.0]", "NullCache", "False"]
    assert not cache.exists() or not any(cache.rglob("*double*"))  # nothing of it on disk
