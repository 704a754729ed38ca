"""The coordinator's side of the benchmark workers (the worker itself: tinycnn/bench/worker.py).

Each library runs in a process of its own, started as a user would start a script: the same
Python, the same environment minus the variables that tune speed (worker.SPEED_ENV), no setting
made by tinycnn's command or by the coordinator's own imports. `Worker.request` sends one JSON
request and waits for the answer with a timeout, so that a dead or stuck worker ends the
benchmark with a message naming the worker, the request and the worker's stderr, not a hang.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading

import numpy as np

from tinycnn.bench.worker import is_speed_var

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
LABELS = {"numpy-first": "tinycnn (numpy first)", "tinycnn-first": "tinycnn (tinycnn first)",
          "fused": "tinycnn (numpy first, fuse)", "torch": "PyTorch"}
# The first call of a model compiles or loads Numba's kernels, and one DenseNet step at batch 128
# takes seconds on a busy machine: a worker silent this long is stuck.
TIMEOUT_S = 900.0


class WorkerError(RuntimeError):
    """A worker failed, died or did not answer in time."""


def clean_env() -> dict:
    """os.environ without the variables that tune a library's speed."""
    return {name: value for name, value in os.environ.items() if not is_speed_var(name)}


class Worker:
    """One worker process (`variant`: a key of LABELS) using `threads` threads; use as a context
    manager, or call close(). `info` is the worker's first line: pid, import order, speed
    variables found in its environment at start."""

    def __init__(self, variant: str, threads: int, timeout: float = TIMEOUT_S):
        self.label = LABELS.get(variant, variant)
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, SCRIPT, variant, str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=clean_env())
        # A thread reads the answers so that waiting for one can time out (readline cannot).
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.info = self._answer("start")
        except WorkerError:
            self.close()
            raise

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the worker exited

    def request(self, op: str, timeout: float | None = None, **args) -> dict:
        """Send request `op` with keyword arguments `args`; its answer (a dict). After a
        WorkerError the worker may answer late or not at all: close it."""
        what = f"{op} {json.dumps(args)}" if args else op
        try:
            self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the worker is gone: _answer reports it with its stderr
        return self._answer(what, timeout)

    def _answer(self, what: str, timeout: float | None = None) -> dict:
        timeout = self.timeout if timeout is None else timeout
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(self._message(f"no answer to {what} within {timeout:g} s")) from None
        if line is None:
            raise WorkerError(self._message(f"exited (code {self.proc.wait()}) during {what}"))
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise WorkerError(self._message(f"answered {what} with a line that is not JSON: {line!r}")) from None
        if "error" in answer:
            raise WorkerError(self._message(f"failed on {what}:\n{answer['error'].rstrip()}"))
        return answer

    def _message(self, what: str) -> str:
        self._stderr.seek(0)
        err = self._stderr.read()[-3000:].rstrip()
        return f"benchmark worker {self.label} (pid {self.proc.pid}) {what}" + (f"\nits stderr:\n{err}" if err else "")

    def close(self):
        """End the worker: end of input, then a kill if it does not exit within 10 s."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)  # it stops at the end of the output; closing the pipe under it would raise
        self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def interleaved_samples(workers: dict, phases, repeats: int, clock: str = "wall") -> dict:
    """{(key, phase): [answer of each round]} over `repeats` rounds after a warm-up round; in each
    round every worker of `workers` ({key: Worker}) times each phase once, one call at a time, so
    that a change in the machine's load hits every library alike and the calls of one round lie
    close in time (their ratios pair them). An answer: {"seconds": ..., and what a step times
    itself}."""
    samples = {(key, phase): [] for phase in phases for key in workers}  # A B C train, then A B C infer
    for round_ in range(1 + repeats):
        for key, phase in samples:
            answer = workers[key].request("time", phase=phase, clock=clock)
            if round_:
                samples[key, phase].append(answer)
    return samples


def interleaved(workers: dict, phases, repeats: int, clock: str = "wall") -> dict:
    """{(key, phase): {quantity: median}} of `interleaved_samples`' rounds. The quantities:
    "seconds" and those a step times itself."""
    samples = interleaved_samples(workers, phases, repeats, clock)
    return {key: {q: float(np.median([a[q] for a in answers])) for q in answers[0]} for key, answers in samples.items()}
