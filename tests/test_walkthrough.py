"""The documents run: every code block of docs/kernels.md in order, with its checks, and README's example."""

import code
import re
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


class Prompt(code.InteractiveConsole):
    """Python's interactive prompt, fed one line at a time as a reader's paste is; any error fails the test."""

    def showsyntaxerror(self, filename=None, **kwargs):
        raise AssertionError(f"a syntax error at the prompt: {traceback.format_exc(limit=0)}")

    def showtraceback(self):
        raise AssertionError(f"an error at the prompt:\n{traceback.format_exc()}")


def paste(prompt, block):
    """What the prompt does with a pasted block: lines one by one, a blank line closing an indented block."""
    more = False
    for line in block.splitlines():
        more = prompt.push(line)
    if more:
        prompt.push("")  # the reader's Enter after the paste


def test_every_block_of_the_walkthrough_runs_at_a_prompt_and_its_checks_hold(monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # as a reader runs it: from the repository's root
    blocks = python_blocks(REPO / "docs" / "kernels.md")
    assert len(blocks) >= 15
    prompt = Prompt(locals={"__name__": "__console__"})
    for block in blocks:
        paste(prompt, block)  # a failed check raises
    printed = capsys.readouterr().out
    assert printed.count(": ok") >= 30 and "DIFFERENT" not in printed


def test_readme_example_prints_what_readme_says(capsys):
    readme = (REPO / "README.md").read_text()
    example, promised = re.search(r"```python\n((?:(?!```).)*)```\n\nprints\n\n    (.*?)\n", readme, re.S).groups()
    exec(compile(example, "README.md, example", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() == promised


def test_every_tinycnn_block_of_readme_runs(capsys):
    """README's other code (the checkpoint example, our MinimalNet) runs as written; PyTorch's block is tested below."""
    blocks = [block for block in python_blocks(REPO / "README.md") if "import torch" not in block]
    run_blocks(blocks, "README.md, tinycnn block", "readme")
    assert "3 ['0.bias', '0.weight', '1.bias'" in capsys.readouterr().out


def test_every_block_of_the_pytorch_page_runs():
    """docs/pytorch.md's examples (data, losses and utilities, resuming) run as written."""
    run_blocks(python_blocks(REPO / "docs" / "pytorch.md"), "docs/pytorch.md, block", "pytorch_page")


def run_blocks(blocks, label, module_name):
    """Run a document's code blocks in order, each in a fresh namespace; there must be three at least."""
    assert len(blocks) >= 3
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{label} {number}", "exec"), {"__name__": module_name})


def test_readme_models_are_the_same_in_tinycnn_and_pytorch():
    """The two MinimalNet blocks of README: ours builds and runs; with PyTorch installed, theirs gives our output."""
    import numpy as np

    from tinycnn import Tensor

    ours_code, theirs_code = [block for block in python_blocks(REPO / "README.md") if "class MinimalNet" in block]
    ours = {}
    exec(ours_code, ours)
    model = ours["MinimalNet"]()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = model(Tensor(x)).data
    assert out.shape == (2, 10) and model.num_parameters() == 24_245
    torch = pytest.importorskip("torch")
    theirs = {}
    exec(theirs_code, theirs)
    torch_model = theirs["MinimalNet"]()
    torch_model.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    np.testing.assert_allclose(torch_model(torch.tensor(x)).detach().numpy(), out, rtol=1e-4, atol=1e-5)
