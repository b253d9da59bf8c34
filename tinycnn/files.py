"""Writing a file atomically: whoever reads the path sees the old file or the whole new one, never a part.

The new content goes to a temporary file in the same folder, is flushed to
the disk, and then takes the path's place in one ``os.replace``, which the
operating system does all at once. A run that is killed half way leaves
the old file as it was (and no temporary behind, where Python can still
clean up).
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """``with atomic_write(path) as stream:`` write to ``stream``; ``path`` changes only when the block ends well.

    ``mode`` is "w" for text or "wb" for bytes. The folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would make the result private to this user
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, record):
    """``record`` as indented JSON at ``path``, atomically."""
    with atomic_write(path) as stream:
        json.dump(record, stream, indent=2)
        stream.write("\n")
