"""``njit``: Numba's, with a disk cache that notices an edit to any tinycnn file a kernel's machine code comes from.

Every tinycnn kernel is compiled with this ``njit`` instead of
``numba.njit(cache=True)``. Both keep the machine code on disk so that the
next process loads it instead of compiling again. But Numba's cache checks
only the file of the function it compiled: a kernel that calls ``im2col``
from ``im2col.py`` has that helper's code compiled into its own, and after
an edit to ``im2col.py`` Numba would load the old machine code, with the old
helper inside, and say nothing (Numba's docs warn of this; it is open as
numba/numba#1833). An edit to a helper would simply be ignored.

Here the cache's stamp, which Numba compares with the one saved beside the
machine code before it loads anything, is a digest of the contents of every
tinycnn file that the kernel's code is made from:

- the kernel's own file;
- for each global name its code uses, the tinycnn file it was imported from
  (a helper kernel such as ``im2col``, or a constant such as ``blas.AS_IS``,
  which Numba also freezes into the code);
- for each helper kernel it calls, the same again, down to the leaves.

The stamp also holds the options the kernel is compiled with (``parallel``,
``boundscheck``; they may come from another file, such as
``prange_only`` below), and Numba's own bounds-checking and optimisation
settings.

So an edit to ``im2col.py`` recompiles the kernels that call ``im2col``
(and ``im2col`` itself) and nothing else, and reverting the edit
recompiles them once more: the machine code always matches the files as
they are. A kernel
passed as an argument (``threads.run_in_parts`` gets the conv kernels as a
function pointer) is not compiled into its caller, so it is not a
dependency of it.

The digest is worked out the first time a kernel is loaded or compiled, not
at import: by then every module it names has been imported. It reads each
file, and each kernel's code, once per process.

This leans on Numba's cache classes (``numba.core.caching.FunctionCache``,
its ``_cache_file`` and that file's ``_source_stamp``) and on the
dispatcher's ``_cache`` attribute; ``tests/test_numba_internals.py`` names
each, so that a Numba release that moves one fails there with a clear
message.

Importing this module also registers one listener of Numba's compile events,
which hands the start and end of each compile of a tinycnn kernel to the
compile notice (``tinycnn/compile.py``: one line on stderr the first time
one compiles in a process). Numba sends these events only when it compiles,
never when it calls or loads machine code, so a call costs what it did.
"""

import ast
import dis
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import types

import numba
from numba.core import event
from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher

PACKAGE = __name__.split(".")[0]  # "tinycnn": files of this package are followed, all others are not


def njit(function=None, **options):
    """``numba.njit(cache=True, **options)``, with the cache described above. ``@njit`` or ``@njit(parallel=...)``.

    Under ``NUMBA_DISABLE_JIT=1`` Numba returns the plain Python function, and so does this.
    """

    def compile_with_our_cache(py_func):
        options_text = json.dumps(options, sort_keys=True, default=repr)  # now: Numba empties the parallel dict later
        dispatcher = numba.njit(**options)(py_func)
        # a kernel typed at a prompt or run by exec has no file: no disk cache (Numba's would refuse it)
        if hasattr(dispatcher, "_cache") and os.path.isfile(py_func.__code__.co_filename):  # not NUMBA_DISABLE_JIT
            dispatcher._cache = DependencyCache(py_func, options_text)  # where cache=True would put a FunctionCache
        return dispatcher

    return compile_with_our_cache if function is None else compile_with_our_cache(function)


class _OurCompiles(event.Listener):
    """Hands each compile of a tinycnn kernel to ``tinycnn.compile.library_notice``, imported at the first one
    (importing it here would add its imports, the data pipeline's among them, to every ``import tinycnn``)."""

    def on_start(self, compile_event):
        if _is_ours(compile_event.data["dispatcher"].py_func.__module__):
            importlib.import_module(f"{PACKAGE}.compile").library_notice.on_start()

    def on_end(self, compile_event):
        if _is_ours(compile_event.data["dispatcher"].py_func.__module__):
            importlib.import_module(f"{PACKAGE}.compile").library_notice.on_end()


event.register("numba:compile", _OurCompiles())


# The parallel options of every tinycnn kernel that has a prange loop: parallelise that loop and nothing
# else. With plain parallel=True, Numba also turns every array expression of the kernel (np.zeros, a += b
# on arrays) into a parallel loop of its own, each compiled apart, which multiplies the compile time.
def prange_only():
    """The dict to give ``@njit(parallel=...)``: a fresh one each time, because Numba empties the dict it is given
    (a shared one leaves every kernel after the first with Numba's defaults: all of the above, parallel)."""
    return {"prange": True, "numpy": False, "setitem": False, "reduction": False, "comprehension": False,
            "inplace_binop": False, "stencil": False, "fusion": False}


class DependencyCache(FunctionCache):
    """Numba's disk cache of one kernel, stamped with the digest of every tinycnn file its code comes from, and
    with the options it is compiled with (``parallel=...``, and Numba's bounds checking and optimisation level,
    which its own cache does not tell apart either)."""

    def __init__(self, py_func, options_text=""):
        super().__init__(py_func)
        self._options_text, self._stamped = options_text, False

    def _stamp(self):
        if not self._stamped:
            knobs = f"boundscheck={numba.config.BOUNDSCHECK} opt={numba.config.OPT}"
            self._cache_file._source_stamp = ("tinycnn sources", source_digest(self._py_func), self._options_text,
                                              knobs)
            self._stamped = True

    def load_overload(self, sig, target_context):
        self._stamp()
        return super().load_overload(sig, target_context)

    def save_overload(self, sig, data):
        self._stamp()
        super().save_overload(sig, data)

    def flush(self):
        self._stamp()
        super().flush()

    def holds_machine_code(self):
        """Whether the disk holds machine code of this kernel made from its files as they are now."""
        self._stamp()
        return bool(self._cache_file._load_index())


def in_cache(kernel):
    """Whether ``kernel`` (made by ``njit`` above) has machine code on disk for its files as they are now.

    False for anything else (a plain function under NUMBA_DISABLE_JIT, a kernel of Numba's own ``njit``).
    """
    cache = getattr(kernel, "_cache", None)
    return isinstance(cache, DependencyCache) and cache.holds_machine_code()


def source_digest(py_func):
    """SHA-256 of the contents of ``source_files(py_func)``, each with its name."""
    digest = hashlib.sha256()
    for path in source_files(py_func):
        digest.update(os.path.basename(path).encode() + b"\0" + _file_digest(path))
    return digest.hexdigest()


def source_files(py_func):
    """The tinycnn files whose code Numba compiles into ``py_func``'s machine code, sorted (see the module's
    docstring): its own, where each global name it uses comes from, and the same for each kernel it calls."""
    if py_func not in _files_by_function:
        _files_by_function[py_func] = frozenset()  # while this one is worked out: a kernel that calls itself
        own_file = inspect.getfile(py_func)
        files = {own_file}
        origins = _import_origins(own_file, py_func.__module__)
        global_names, attribute_names = _names_used(py_func.__code__)
        for name in global_names:
            origin = origins.get(name)
            if origin is not None and _is_ours(origin):
                files.add(_module_file(origin))
            kernels, module_files = _reached_through(py_func.__globals__.get(name), attribute_names)
            files.update(module_files)
            for kernel in kernels:
                files.update(source_files(kernel.py_func))
        _files_by_function[py_func] = frozenset(files)
    return sorted(_files_by_function[py_func])


def _is_ours(module_name):
    return module_name == PACKAGE or module_name.startswith(PACKAGE + ".")


def _reached_through(value, names, modules_seen=None):
    """(tinycnn kernels, tinycnn module files) that a global ``value`` gives the code: a kernel (a Numba
    dispatcher) itself; for a tinycnn module, its file, and the kernels and submodules the code reaches in it
    as ``module.name``."""
    if isinstance(value, Dispatcher):
        return ([value] if _is_ours(value.py_func.__module__) else []), []
    if not (isinstance(value, types.ModuleType) and _is_ours(value.__name__)):
        return [], []
    modules_seen = set() if modules_seen is None else modules_seen
    if value.__name__ in modules_seen:
        return [], []
    modules_seen.add(value.__name__)
    kernels, files = [], [_module_file(value.__name__)]
    for name in names:
        more_kernels, more_files = _reached_through(getattr(value, name, None), names, modules_seen)
        kernels += more_kernels
        files += more_files
    return kernels, files


def _names_used(code):
    """(global names, attribute names) that ``code`` and the functions nested in it read."""
    if code not in _names_by_code:
        globals_, attributes = set(), set()
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                globals_.add(instruction.argval)
            elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                attributes.add(instruction.argval)
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                more_globals, more_attributes = _names_used(constant)
                globals_ |= more_globals
                attributes |= more_attributes
        _names_by_code[code] = (globals_, attributes)
    return _names_by_code[code]


_files_by_function = {}  # Python function of a kernel -> frozenset of its source files
_names_by_code = {}  # code object -> (global names, attribute names)
_origins_by_file = {}  # path -> {name bound by an import: the module it comes from}
_digests_by_file = {}  # (path, mtime, size) -> the file's SHA-256


def _import_origins(path, module_name):
    """{name: module} for every name that ``path``'s imports bind: ``from M import name`` gives M (or M.name if
    that is a module), ``import M as name`` gives M."""
    if path not in _origins_by_file:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), path)
        package = module_name.rpartition(".")[0]
        origins = {}
        for node in tree.body:  # the module's own imports, at its top level
            if isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                    else node.module
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    origins[alias.asname or alias.name] = submodule if submodule in sys.modules else base
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    origins[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                        alias.name.split(".")[0]
        _origins_by_file[path] = origins
    return _origins_by_file[path]


def _module_file(module_name):
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, "__file__", None):
        return module.__file__
    return importlib.util.find_spec(module_name).origin


def _file_digest(path):
    status = os.stat(path)
    key = (path, status.st_mtime_ns, status.st_size)
    if key not in _digests_by_file:
        with open(path, "rb") as source:
            _digests_by_file[key] = hashlib.sha256(source.read()).digest()
    return _digests_by_file[key]
