"""Time every solution notebook, on the CPU or the GPU, and check that its graded cells pass there.

Each notebook of ``solutions/`` runs as its *perfect submission* (the source with
the nbgrader marker lines removed: solutions and hidden tests kept), cell by cell,
in a fresh Python process of its own (imports included in the time), on the
device that ``lrlab.device.default_device`` picks (``--device`` sets
``LRLAB_DEVICE``). No Jupyter kernel is needed, so this also runs on a bare GPU
machine that has only torch, numpy, scipy, scikit-learn and matplotlib.

Prints a table (and writes it with ``--markdown FILE``):

    python benchmarks/bench_notebooks.py                 # every assignment, default device
    python benchmarks/bench_notebooks.py --device cpu pac_bayes schedules

A graded cell that fails on a device is a bug (the tolerances are meant for both),
so the exit status is 1 when any graded cell fails. Timings are printed, never
asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}


def run_one(path: Path) -> dict:
    """Execute one notebook's perfect submission here; return timings and graded-cell results."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import warnings

    warnings.filterwarnings("ignore", message=".*non-interactive.*")
    start = time.perf_counter()
    cpu_start = time.process_time()
    nb = json.loads(path.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__"}
    try:
        from IPython.display import display
    except ImportError:  # a bare machine: print is close enough for a benchmark
        display = print
    namespace["display"] = display
    cells, failures, slowest = 0, [], ("", 0.0)
    graded = 0
    os.chdir(path.parent)
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = "\n".join(line for line in source.splitlines() if line.strip() not in MARKERS)
        is_test = bool(meta.get("grade")) and not meta.get("solution")
        graded += is_test
        name = meta.get("grade_id", f"cell {index}")
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f"<{path.stem}:{name}>", "exec"), namespace)
        except Exception as err:  # noqa: BLE001 - every failure is reported, the run goes on
            failures.append(f"{name}: {type(err).__name__}: {str(err)[:300]}")
            if os.environ.get("BENCH_TRACEBACKS"):
                traceback.print_exc()
        finally:
            try:
                import matplotlib.pyplot as plt

                plt.close("all")
            except ImportError:
                pass
        took = time.perf_counter() - t0
        cells += 1
        if took > slowest[1]:
            slowest = (name, took)
    from lrlab.device import default_device

    import torch

    return {
        "assignment": path.parent.name,
        "device": str(default_device()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
        "torch": torch.__version__,
        "cells": cells,
        "graded": graded,
        "failures": failures,
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
        "slowest": slowest,
    }


def notebooks(names: list[str]) -> list[Path]:
    found = sorted(p for p in (REPO / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if names:
        unknown = set(names) - {p.parent.name for p in found}
        if unknown:
            raise SystemExit(f"no solution notebook for {sorted(unknown)}; known: {sorted(p.parent.name for p in found)}")
        found = [p for p in found if p.parent.name in names]
    return found


def table(results: list[dict]) -> str:
    lines = [
        "| assignment | device | code cells | graded cells passed | wall s | CPU s | slowest cell (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['assignment']} | - | - | - | - | - | did not run: {r['error'][:80]} |")
            continue
        passed = r["graded"] - len([f for f in r["failures"] if f.split(":")[0].startswith("test")])
        lines.append(
            f"| {r['assignment']} | {r['device']} | {r['cells']} | {passed}/{r['graded']} | "
            f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['slowest'][0]} ({r['slowest'][1]:.1f}) |"
        )
    total = sum(r.get("wall_s", 0.0) for r in results)
    lines.append(f"| **all** | | | | **{total:.1f}** | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignments to run (default: every one in solutions/)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="force the device (sets LRLAB_DEVICE)")
    parser.add_argument("--markdown", type=Path, help="also write the table (and the machine) to this file")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: run one notebook, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print("BENCH_JSON " + json.dumps(run_one(args.one.resolve())))
        return 0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if args.device:
        env["LRLAB_DEVICE"] = args.device
    results = []
    paths = notebooks(args.assignments)
    for n, path in enumerate(paths, 1):
        print(f"[{n}/{len(paths)}] {path.parent.name} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(path)], env=env, capture_output=True, text=True, timeout=900
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if line is None:
            results.append({"assignment": path.parent.name, "error": (proc.stderr or proc.stdout).strip()[-300:]})
        else:
            results.append(json.loads(line[len("BENCH_JSON "):]))
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    gpus = {r.get("gpu") for r in results if r.get("gpu")}
    if gpus:
        machine += ", GPU " + ", ".join(sorted(gpus))
    torches = {r.get("torch") for r in results if r.get("torch")}
    text = table(results) + f"\n\nMachine: {machine}; torch {', '.join(sorted(torches))}."
    print(text)
    bad = [(r["assignment"], r.get("error") or r["failures"]) for r in results if r.get("error") or r["failures"]]
    for name, what in bad:
        print(f"FAILED on {name}: {what}")
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
