"""Smoke tests of the lessons, homework and solutions: each script runs start to finish
in its quick mode (TINYCNN_LESSON_SMOKE=1: tiny sizes, every cell) in a fresh
interpreter, exits 0 and writes the figures it announces.

    pytest -m lesson            # all of them
    pytest -m lesson -k 04      # one

New scripts (`lessons/[0-9]*.py`, `lessons/homework/*.py`, `lessons/solutions/*.py`) are picked up
automatically. A script saves its figures through `lessons/_common.py`, which
honours TINYCNN_LESSON_OUT, so each test writes into its own temporary folder.
The scripts run with one BLAS and one Numba thread: on a machine shared with
other jobs, multi-threaded kernels can wait for each other far longer than
the tiny smoke-mode work takes (measured here: 30x slower at load 8 on 2 cores).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9]*.py")) + sorted((ROOT / "lessons" / "homework").glob("*.py"))
SOLUTIONS = sorted((ROOT / "lessons" / "solutions").glob("*.py"))
TIMEOUT_S = 120  # per script; a smoke run should take seconds (JIT compilation included)


def run_smoke(script: Path, tmp_path: Path) -> tuple[str, list[Path]]:
    """Run `script --smoke` in a fresh interpreter; return its stdout and the figures it announced
    (after checking that it exited 0 and wrote them into TINYCNN_LESSON_OUT)."""
    env = dict(os.environ, TINYCNN_LESSON_SMOKE="1", TINYCNN_LESSON_OUT=str(tmp_path), MPLBACKEND="Agg",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run([sys.executable, str(script), "--smoke"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script.name} did not finish in smoke mode within {TIMEOUT_S} s:\n{(e.stdout or '')[-3000:]}")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script.name} exited with {proc.returncode}:\n{log[-6000:]}"

    announced = [Path(p) for p in re.findall(r"^saved figure: (.+)$", proc.stdout, flags=re.M)]
    written = sorted(tmp_path.glob("*.png"))
    for path in announced:
        assert path.parent == tmp_path, f"{script.name} wrote {path} outside TINYCNN_LESSON_OUT={tmp_path}"
        assert path.is_file() and path.stat().st_size > 1000, f"{script.name}: figure {path} missing or empty"
    assert set(announced) == set(written), f"{script.name}: announced {announced}, found {written}"
    return log, announced


@pytest.mark.lesson
@pytest.mark.parametrize("script", LESSONS, ids=[p.relative_to(ROOT / "lessons").as_posix() for p in LESSONS])
def test_lesson_runs_in_smoke_mode(script: Path, tmp_path: Path):
    log, announced = run_smoke(script, tmp_path)
    assert announced, f"{script.name} saved no figure (expected 'saved figure: ...' lines):\n{log[-3000:]}"


@pytest.mark.lesson
@pytest.mark.parametrize("script", SOLUTIONS, ids=[p.relative_to(ROOT / "lessons").as_posix() for p in SOLUTIONS])
def test_solution_runs_in_smoke_mode(script: Path, tmp_path: Path):
    """The solutions (lessons/solutions/) run like the lessons; a figure is optional."""
    run_smoke(script, tmp_path)
