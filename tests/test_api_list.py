"""docs/api.md is what ``python -m tinycnn.api_list`` prints: the list of the public API cannot go stale."""

from pathlib import Path

from tinycnn.api_list import markdown, sections

API_FILE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_docs_api_md_is_the_list_the_package_makes():
    made = markdown()
    assert API_FILE.read_text() == made, (
        "docs/api.md is out of date: run  python -m tinycnn.api_list > docs/api.md  and commit it")


def test_the_list_names_what_a_pytorch_script_reaches_for():
    names = {name for _, entries in sections() for name, _ in entries}
    for expected in ["F.conv2d", "F.cross_entropy", "nn.Conv2d", "nn.BatchNorm2d", "nn.CrossEntropyLoss",
                     "optim.SGD", "optim.AdamW", "lr_scheduler.OneCycleLR", "data.DataLoader", "transforms.Normalize",
                     "Tensor.argmax", "tinycnn.no_grad", "tinycnn.save"]:
        assert expected in names
    assert not any(name.startswith("F.conv2d_output") for name in names)  # a helper, not an op
