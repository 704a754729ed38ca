"""Benchmarks: `python -m tinycnn.bench SUBCOMMAND` (or `tinycnn bench SUBCOMMAND`).

Each subcommand is a module of this package with `add_parser(subparsers)`,
which registers its arguments and sets `run(args)` as the handler.
    layers   per-layer conv timings against PyTorch, kernel speed-ups
    models   whole-network training step and inference against PyTorch
    profile  where the time of one training step goes, per op type
"""
import argparse
import shlex
import sys

from tinycnn.bench import layers, models, profile

SUBCOMMANDS = (layers, models, profile)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tinycnn bench", description="tinycnn benchmarks (timings beside PyTorch's)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["tinycnn", "bench", *argv])  # printed beside the figures
    return args.run(args) or 0
