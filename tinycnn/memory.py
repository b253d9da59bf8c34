"""Keep freed memory in the process for reuse, instead of handing it back to the system.

Every training step allocates and frees the same large arrays (activations,
gradients, im2col buffers). By default glibc returns big blocks to the
kernel on free and asks for them again on the next step, and the first
touch of each returned page is a page fault: on the 2-core virtual machines
this project runs on, about 9 microseconds per 4 KiB page, which made up
about an eighth of an iter4 training step. PyTorch avoids the same cost with
a caching allocator; we ask glibc (through ``mallopt``) to serve all
allocations from its heap and never trim it, so freed memory is reused at
once. The process keeps the high-water mark of its memory, which is what a
training loop needs again on the next step anyway.

It changes how the whole process allocates memory, so importing tinycnn
does not do it: a program calls ``keep_freed_memory()`` once, at its start,
if it trains (the experiment scripts and the benchmark do). A notebook or a
server that imports tinycnn beside other code keeps glibc's defaults.

Only on Linux with glibc; elsewhere this does nothing.
"""

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4


def keep_freed_memory():
    """Ask glibc to reuse freed memory instead of returning it; True if it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    no_mmap = mallopt(M_MMAP_MAX, 0)  # large blocks from the heap too, so they can be reused
    no_trim = mallopt(M_TRIM_THRESHOLD, 2**31 - 1)  # never give the heap's top back to the system
    return bool(no_mmap and no_trim)
