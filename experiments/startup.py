"""Start-up of ``python experiments/iter4.py``: this commit beside another, in turns, as ratios.

    python experiments/startup.py --against c5e6c17             # three rounds of each case, about 5 minutes
    python experiments/startup.py --against fcd46fc --cases warm edit --rounds 5
    python experiments/startup.py                               # this commit alone: seconds, no ratios

Three cases, the ones a user waits for:

- ``cold``: an empty Numba cache (a new ``NUMBA_CACHE_DIR`` for every run):
  what a new clone, a new virtual environment or a CI job pays;
- ``warm``: the cache the previous run filled;
- ``edit``: a comment line appended first to the file of the conv kernel
  that the training path runs (``tinycnn/kernels/fast/conv2d.py``; at
  older commits ``conv2d.py`` or ``conv2d_fused.py``), then ``--limit 4096``: what someone
  studying the kernels pays after each change.

A shared machine's speed drifts (this project's 2-core one by up to a
quarter within an hour), so seconds measured alone say little about a
change. Each round runs the reference
commit and then this one, case by case, and the ratio is taken round by
round (this commit's seconds over the reference's, below 1 when this one
is faster); the table gives their median and range.

Both commits run from git worktrees in a temporary folder (your working
tree is left alone, and uncommitted changes are not measured), with this
Python and its packages, each with a Numba cache of its own. Wall time is
the child process's from start to exit, peak memory its largest resident
set (``os.wait4``). Runs write their records and pictures inside the
worktrees, which are removed at the end.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark import cpu_name, summarise
from tinycnn.files import write_json

REPO = Path(__file__).resolve().parents[1]
CASES = ("cold", "warm", "edit")
EDIT_LIMIT = 4096  # images the edit case trains on: the compile, not the epoch, is what it measures
# The file an edit touches: the fused conv kernel's, the first of these a commit has. Until commit e3ba4d2 that
# was conv2d_fused.py (conv2d.py then held the unfused kernel, which the training path did not run); then
# conv2d.py; since 5be6d19, fast/conv2d.py (conv2d.py holds the reference pair).
EDITED_FILES = ("tinycnn/kernels/fast/conv2d.py", "tinycnn/kernels/conv2d_fused.py", "tinycnn/kernels/conv2d.py")


def git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


class Side:
    """One commit checked out in a worktree of its own, with its own Numba cache, ready to run iter4.py."""

    def __init__(self, name, commit, scratch):
        try:
            self.commit = git("rev-parse", "--verify", "--short", f"{commit}^{{commit}}")
        except subprocess.CalledProcessError:
            raise SystemExit(f"error: {commit!r} is not a commit of {REPO}")
        self.name, self.scratch = name, scratch
        self.tree = scratch / f"tree-{name}"
        self.cache = scratch / f"cache-{name}"
        git("worktree", "add", "--detach", "--quiet", str(self.tree), self.commit)
        try:
            self._check()
        except BaseException:
            self.remove()  # a worktree left behind would stay registered in the repository
            raise

    def _check(self):
        """Find the file an edit touches and the flags iter4.py has; make sure the worktree's tinycnn is imported."""
        edited = [self.tree / path for path in EDITED_FILES if (self.tree / path).exists()]
        if not (self.tree / "experiments" / "iter4.py").exists() or not edited:
            raise SystemExit(f"error: {self.commit} has no experiments/iter4.py or no fused conv kernel "
                             f"({' or '.join(EDITED_FILES)}): pick a later commit")
        self.edited = edited[0]
        help_text = self._run_quietly(["--help"])
        # Older commits lack some flags: use those they have.
        self.flags = ["--no-progress"] + [flag for flag in ("--no-plots",) if flag in help_text]
        located = subprocess.run([sys.executable, "-c", "import tinycnn; print(tinycnn.__file__)"], cwd=self.tree,
                                 env=self._environment(self.cache), capture_output=True, text=True, check=True)
        if not Path(located.stdout.strip()).resolve().is_relative_to(self.tree.resolve()):
            raise SystemExit(f"error: in {self.tree}, `import tinycnn` found {located.stdout.strip()}, not the "
                             f"worktree's copy: something in this environment comes before PYTHONPATH")

    def _environment(self, cache):
        environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        environment["PYTHONPATH"] = os.pathsep.join([str(self.tree)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        return environment

    def _iter4(self, arguments):
        return [sys.executable, "experiments/iter4.py", *arguments]

    def _run_quietly(self, arguments):
        """Run iter4.py with ``arguments`` and this side's cache, unmeasured; return what it printed."""
        result = subprocess.run(self._iter4(arguments), cwd=self.tree, env=self._environment(self.cache),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"error: iter4.py {' '.join(arguments)} failed at {self.commit}:\n{result.stderr[-2000:]}")
        return result.stdout

    def measure(self, arguments, cache):
        """Run iter4.py with ``arguments``; return (wall seconds, peak resident MB) of that process alone."""
        log = self.scratch / f"{self.name}.log"
        with open(log, "w") as output:
            started = time.perf_counter()
            process = subprocess.Popen(self._iter4(arguments), cwd=self.tree, env=self._environment(cache),
                                       stdout=output, stderr=output)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"error: iter4.py failed at {self.commit}:\n{log.read_text()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux

    def run(self, case, limit):
        """One measured run of ``case``, preceded by what makes it that case."""
        arguments = self.flags + ([] if limit is None and case != "edit" else ["--limit", str(limit or EDIT_LIMIT)])
        if case == "cold":
            cache = self.scratch / f"cache-{self.name}-cold"
            shutil.rmtree(cache, ignore_errors=True)
            try:
                return self.measure(arguments, cache)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        self._run_quietly(arguments)  # the cache current (an edit's restore makes it stale)
        if case == "warm":
            return self.measure(arguments, self.cache)
        original = self.edited.read_bytes()
        try:
            self.edited.write_bytes(original + b"# an edit\n")
            return self.measure(arguments, self.cache)
        finally:
            self.edited.write_bytes(original)

    def remove(self):
        git("worktree", "remove", "--force", str(self.tree))


def summarize_runs(runs, sides):
    """runs: {case: {side: [(seconds, MB), ...] in round order}} -> {case: {side: ..., "ratio": ...}}.

    A side: its seconds' median, min, max and values, and its largest peak
    MB. The ratio pairs the rounds: the last side's seconds over the first's
    in the same round.
    """
    summary = {}
    for case, by_side in runs.items():
        entry = {side: {"seconds": summarise([run[0] for run in by_side[side]]),
                        "peak_mb": max(run[1] for run in by_side[side])} for side in sides}
        if len(sides) == 2:
            entry["ratio"] = summarise([new[0] / old[0] for old, new in zip(by_side[sides[0]], by_side[sides[1]])])
        summary[case] = entry
    return summary


def print_table(summary, sides):
    print()
    header = "| case | " + " | ".join(sides) + (" | ratio, this / reference |" if len(sides) == 2 else " |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for case, entry in summary.items():
        cells = [f"{entry[side]['seconds']['median']:.2f} s ({entry[side]['seconds']['min']:.2f}-"
                 f"{entry[side]['seconds']['max']:.2f}), {entry[side]['peak_mb']:.0f} MB" for side in sides]
        if "ratio" in entry:
            ratio = entry["ratio"]
            cells.append(f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})")
        print(f"| {case} | " + " | ".join(cells) + " |")


def machine():
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="COMMIT", help="the reference commit to run in turns with this one")
    parser.add_argument("--commit", default="HEAD", help="the commit measured (default HEAD)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="which cases (default all)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case per commit (default 3)")
    parser.add_argument("--limit", type=int, help="train on N images in every case (a quick check; default: "
                                                  f"the whole epoch, and {EDIT_LIMIT} for the edit case)")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    about, started = machine(), time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{about['cpu']}, {about['cores']} cores, Python {about['python']}, "
          f"OPENBLAS_CORETYPE={about['OPENBLAS_CORETYPE'] or 'unset'}")
    with tempfile.TemporaryDirectory(prefix="tinycnn-startup-") as folder:
        scratch, sides = Path(folder), []
        try:
            if args.against:
                sides.append(Side("reference", args.against, scratch))
            sides.append(Side("this", args.commit, scratch))
            names = [f"{side.name} ({side.commit})" for side in sides]
            runs = {case: {name: [] for name in names} for case in args.cases}
            for case in args.cases:
                for round_number in range(1, args.rounds + 1):
                    for side, name in zip(sides, names):
                        seconds, megabytes = side.run(case, args.limit)
                        runs[case][name].append((seconds, megabytes))
                        print(f"{time.strftime('%H:%M:%S')} {case:4} round {round_number} {name}: "
                              f"{seconds:.2f} s, {megabytes:.0f} MB", flush=True)
        finally:
            for side in sides:
                side.remove()
    summary = summarize_runs(runs, names)
    print_table(summary, names)
    if args.out:
        write_json(args.out, {"machine": about, "started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                              "commits": names, "limit": args.limit, "rounds": args.rounds, "cases": summary})
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
