"""Writing a file atomically: whoever reads the path sees the old file or the whole new one, never a part.

The new content goes to a temporary file in the same folder, is flushed to
the disk, and then takes the path's place in one ``os.replace``, which the
operating system does all at once. A run that is killed half way leaves
the old file as it was. Python cleans up the temporary when it can; when it
cannot (the process was killed), the next write to the same path removes
it: the temporary's name holds the writer's process id, ``.NAME.PID.*.tmp``,
and one whose process is gone is an orphan.

An ``OSError`` while writing (a full disk, a read-only folder) names the
path being written, so that the message says which file could not be.
"""

import contextlib
import glob
import json
import os
import tempfile
import time
from pathlib import Path

ORPHAN_AGE = 24 * 3600  # seconds: a temporary this old is an orphan whatever its name says


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """``with atomic_write(path) as stream:`` write to ``stream``; ``path`` changes only when the block ends well.

    ``mode`` is "w" for text or "wb" for bytes. The folder is created if needed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(path)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as error:
        raise naming(error, path) from error
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would make the result private to this user
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.filename is None:
            raise naming(error, path) from error
        raise


def write_json(path, record):
    """``record`` as indented JSON at ``path``, atomically."""
    with atomic_write(path) as stream:
        json.dump(record, stream, indent=2)
        stream.write("\n")


def naming(error, path):
    """``error`` (an OSError without a file name, such as a full disk's) again, naming ``path``."""
    return type(error)(error.errno, error.strerror or str(error), str(path))


def remove_orphans(path):
    """Remove the temporaries that writes to ``path`` left behind: their process is gone, or they are a day old."""
    prefix = f".{path.name}."
    for temporary in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        writer = temporary.name[len(prefix):].split(".")[0]
        with contextlib.suppress(OSError):
            if (writer.isdigit() and not process_exists(int(writer))) or \
                    time.time() - temporary.stat().st_mtime > ORPHAN_AGE:
                temporary.unlink()


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True

