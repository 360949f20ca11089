"""Benchmark ``cmops validate`` on a large generated workspace against a read-and-parse floor.

Usage::

    python benchmarks/validate_bench.py [--posts N] [--repeat R] [--keep DIR] [--seed S] [--profile]

The script writes a realistic workspace (three channels in two time zones, a calendar with
campaigns, blackouts and cadence rules, a voice policy and N posts in nested folders), checks
that ``cmops.validation.run`` finds no errors in it, and then times, alternately:

* the *baseline*: find every file validate reads, read it and parse its YAML with PyYAML's C
  loader (for posts only the front matter, split off with plain string operations);
* ``cmops.validation.run(root)``: the whole validate, loading plus every check.

The ratio validate/baseline is the number to watch (target: under 3). It also times
``python -m cmops --help`` against ``python -c pass`` (target: under 0.3 s).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench_workspace import generate

DEFAULT_POSTS = 10_000
DEFAULT_REPEAT = 3
HELP_RUNS = 5
TARGET_RATIO = 3.0
TARGET_HELP_SECONDS = 0.3


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def _walk(base: Path, suffixes: tuple[str, ...], recursive: bool) -> Iterator[Path]:
    if not base.is_dir():
        return
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            if recursive:
                yield from _walk(Path(entry.path), suffixes, recursive)
        elif entry.name.endswith(suffixes):
            yield Path(entry.path)


def baseline_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(YAML files, post files) that validate reads: the same set workspace.load() visits."""
    yaml_files = [root / "cmops.yaml"]
    yaml_files += _walk(root / "content/calendars", (".yaml", ".yml"), recursive=False)
    for name in ("voice", "approvals", "responses"):
        path = root / "policies" / f"{name}.yaml"
        if path.is_file():
            yaml_files.append(path)
    yaml_files += _walk(root / "policies/tests", (".yaml", ".yml"), recursive=False)
    return yaml_files, list(_walk(root / "content/posts", (".md",), recursive=True))


def baseline(root: Path) -> int:
    """The floor: find the files, read them, parse their YAML with the C loader. Returns files."""
    yaml_files, post_files = baseline_files(root)
    for path in yaml_files:
        yaml.load(path.read_bytes().decode("utf-8"), Loader=yaml.CSafeLoader)
    for path in post_files:
        text = path.read_bytes().decode("utf-8")
        end = text.find("\n---\n", 3)
        front = text[4 : end + 1] if text.startswith("---\n") and end > 0 else ""
        yaml.load(front, Loader=yaml.CSafeLoader)
    return len(yaml_files) + len(post_files)


def validate(root: Path) -> int:
    from cmops import validation

    result = validation.run(root)
    return result.checked


def timed(function: Callable[[Path], int], root: Path) -> tuple[float, int]:
    gc.collect()  # each run starts from the same clean heap: no garbage left by the other side
    start = time.perf_counter()
    files = function(root)
    return time.perf_counter() - start, files


def check_clean(root: Path) -> tuple[float, int, int]:
    """Validate once (cold: imports, schema compilation); abort when there are errors.
    Returns (seconds, files checked, warnings)."""
    from cmops import render, validation

    start = time.perf_counter()
    result = validation.run(root)
    seconds = time.perf_counter() - start
    errors = [f for f in result.findings if f.is_error]
    warnings = len(result.findings) - len(errors)
    if errors:
        shown = result.findings[:50]
        print(render.render(shown, "text"), file=sys.stderr)
        if len(result.findings) > len(shown):
            print(f"... and {len(result.findings) - len(shown)} more", file=sys.stderr)
        print(render.summary(result.findings, result.checked), file=sys.stderr)
        print(f"the generated workspace in {root} is not clean: the benchmark would not measure "
              "a clean validate (fix the generator, or this is a bug in validate)", file=sys.stderr)
        raise SystemExit(1)
    if warnings:
        print(render.render(result.findings[:10], "text"))
        print(f"note: {warnings} warnings (no errors) in the generated workspace")
    return seconds, result.checked, warnings


def time_command(command: list[str], runs: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm-up: page cache, .pyc files
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def profile(root: Path, lines: int = 25) -> None:
    """Validate once under cProfile: the top functions by cumulative and by own time, then
    cmops' own functions with their share of the whole run (where to look in src/)."""
    from cmops import validation

    gc.collect()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    result = validation.run(root)
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"\nvalidate under cProfile: {result.checked:,} files in {wall:.2f} s "
          "(profiling slows call-heavy Python code more than C code)")
    own = [(key[0], key[1], key[2], values[3]) for key, values in _raw(stats).items()
           if f"{os.sep}cmops{os.sep}" in key[0]]
    own.sort(key=lambda row: -row[3])
    total = max((row[3] for row in own), default=0.0) or 1.0
    print("\n=== cmops functions by cumulative time (share of validation.run) ===")
    for filename, line, function, cumulative in own[:lines]:
        where = filename.split(f"{os.sep}cmops{os.sep}", 1)[-1]
        print(f"{100 * cumulative / total:6.1f}%  {cumulative:7.3f} s  {where}:{line}({function})")
    stats.strip_dirs()
    for key in ("cumulative", "tottime"):
        print(f"\n=== top {lines} by {key} time ===")
        stats.sort_stats(key).print_stats(lines)


def _raw(stats: pstats.Stats) -> dict[tuple[str, int, str], tuple[Any, ...]]:
    """pstats' table: (file, line, function) -> (calls, primitive calls, tottime, cumtime, ...)."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(stats, "stats", {})
    return table


@dataclass
class Figures:
    posts: int
    files: int
    repeat: int
    generate: float
    first_run: float
    baseline: list[float]
    validate: list[float]
    help_cmd: float
    python_bare: float

    @property
    def ratio(self) -> float:
        return statistics.median(self.validate) / statistics.median(self.baseline)


def report(f: Figures) -> None:
    base = statistics.median(f.baseline)
    val = statistics.median(f.validate)
    ratio_ok = "OK" if f.ratio < TARGET_RATIO else "MISSED"
    help_ok = "OK" if f.help_cmd < TARGET_HELP_SECONDS else "MISSED"
    width = 46
    rows = [
        ("posts / files", f"{f.posts:,} / {f.files:,}", ""),
        ("generate workspace", f"{f.generate:.2f} s", ""),
        ("first validate (cold, imports)", f"{f.first_run:.2f} s", ""),
        (f"baseline read+parse (median of {f.repeat})", f"{base:.3f} s",
         f"{f.files / base:,.0f} files/s (fastest run {min(f.baseline):.3f} s)"),
        (f"validate (median of {f.repeat})", f"{val:.3f} s",
         f"{f.files / val:,.0f} files/s (fastest run {min(f.validate):.3f} s)"),
        ("ratio validate / baseline (medians)", f"{f.ratio:.2f}x",
         f"target < {TARGET_RATIO:g}x: {ratio_ok} (fastest runs: {min(f.validate) / min(f.baseline):.2f}x)"),
        (f"python -c pass (median of {HELP_RUNS})", f"{f.python_bare:.3f} s", ""),
        (f"cmops --help (median of {HELP_RUNS})", f"{f.help_cmd:.3f} s",
         f"target < {TARGET_HELP_SECONDS} s: {help_ok}"),
        ("cmops --help minus bare python", f"{f.help_cmd - f.python_bare:.3f} s", ""),
    ]
    print("\nall runs (s): baseline " + ", ".join(f"{t:.3f}" for t in f.baseline)
          + " | validate " + ", ".join(f"{t:.3f}" for t in f.validate))
    print("\n" + "-" * (width + 60))
    for label, value, note in rows:
        print(f"{label:<{width}} {value:>12}   {note}")
    print("-" * (width + 60))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS, metavar="N",
                        help=f"posts to generate (default {DEFAULT_POSTS:,})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, metavar="R",
                        help=f"timed runs of each side, alternating (default {DEFAULT_REPEAT})")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="generate into DIR (new or empty) and keep it afterwards")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing, run validate once under cProfile and print the "
                             "top 25 functions by cumulative and by total time")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.repeat < 1:
        parser.error("--posts and --repeat must be at least 1")

    if args.keep is not None:
        root: Path = args.keep.resolve()
        if root.exists() and any(root.iterdir()):
            parser.error(f"--keep {args.keep}: the folder is not empty")
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="cmops-bench-")).resolve()
    try:
        return run(root, args.posts, args.repeat, args.seed, args.profile)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"\nworkspace kept in {root}")


def run(root: Path, posts: int, repeat: int, seed: int, with_profile: bool) -> int:
    print(f"generating {posts:,} posts in {root} ...", flush=True)
    start = time.perf_counter()
    generate(root, posts, seed)
    generated = time.perf_counter() - start
    first, checked, _ = check_clean(root)
    print(f"generated in {generated:.2f} s; first validate: {first:.2f} s, {checked:,} files, "
          "no errors", flush=True)
    if with_profile:
        profile(root)
        return 0

    base_times: list[float] = []
    validate_times: list[float] = []
    files = 0
    for round_ in range(1, repeat + 1):
        seconds, files = timed(baseline, root)
        base_times.append(seconds)
        seconds, validated = timed(validate, root)
        validate_times.append(seconds)
        if validated != files:
            print(f"note: validate counted {validated} files, the baseline read {files}")
        print(f"round {round_}/{repeat}: baseline {base_times[-1]:.3f} s, "
              f"validate {validate_times[-1]:.3f} s", flush=True)

    help_time = time_command([sys.executable, "-m", "cmops", "--help"], HELP_RUNS)
    bare_time = time_command([sys.executable, "-c", "pass"], HELP_RUNS)
    report(Figures(posts, files, repeat, generated, first, base_times, validate_times,
                   help_time, bare_time))
    return 0


if __name__ == "__main__":
    sys.exit(main())
