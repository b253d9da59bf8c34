"""tinycnn/files.py: atomic writes, the temporaries a killed writer leaves, errors that name the file."""

import os
import subprocess
import sys

import pytest

from tinycnn.files import atomic_write, write_json


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(path) as stream:
            stream.write("half of a new rec")
            raise RuntimeError("killed half way")
    assert path.read_text() == '{\n  "a": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_the_temporary_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    """A SIGKILL during a checkpoint write left an orphan .tmp beside the checkpoint forever."""
    path = tmp_path / "tiny8k-s0.last.npz"
    killed = subprocess.run([sys.executable, "-c", f"""
import os, signal
from tinycnn.files import atomic_write
with atomic_write({str(path)!r}, "wb") as stream:
    stream.write(b"part of a checkpoint")
    os.kill(os.getpid(), signal.SIGKILL)
"""], timeout=120)
    assert killed.returncode == -9
    orphans = list(tmp_path.glob(".tiny8k-s0.last.npz.*.tmp"))
    assert len(orphans) == 1 and not path.exists()
    in_use = tmp_path / f".tiny8k-s0.last.npz.{os.getpid()}.inuse.tmp"  # a live writer's: not an orphan
    in_use.write_bytes(b"")
    with atomic_write(path, "wb") as stream:
        stream.write(b"a whole checkpoint")
    assert path.read_bytes() == b"a whole checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, in_use.name])


def test_an_error_while_writing_names_the_file(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(OSError) as info:
        write_json(a_file / "record.json", {})
    assert info.value.filename == str(a_file / "record.json") or info.value.filename == str(a_file)
