"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a dict saved with `tinycnn.save` (atomic: a crash leaves the old file or the new
one, never half of one):
    {"model": state_dict, "optimizer": ..., "scheduler": ..., "rng": tinycnn's RNG state,
     "epoch": epochs completed, "history": per-epoch metrics, "config": the run's settings}
"""
from pathlib import Path

from tinycnn.random import get_rng_state, set_rng_state
from tinycnn.serialization import load, save

KEYS = ("model", "optimizer", "scheduler", "rng", "epoch", "history", "config")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or does not fit the run."""


def save_checkpoint(path, model, optimizer, scheduler, epoch: int, history: list, config: dict) -> None:
    """Write the run's full state after `epoch` completed epochs to `path`."""
    save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": get_rng_state(),
        "epoch": epoch,
        "history": history,
        "config": config,
    }, path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by `save_checkpoint`; CheckpointError names the file if it is
    missing, truncated, corrupt, or lacks a part."""
    path = Path(path)
    try:
        checkpoint = load(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    missing = [k for k in KEYS if not isinstance(checkpoint, dict) or k not in checkpoint]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a tinycnn training checkpoint: it has no {', '.join(missing)}")
    return checkpoint


def restore(checkpoint: dict, model, optimizer=None, scheduler=None) -> int:
    """Put the saved state back into the model, optimizer, scheduler and tinycnn's RNG;
    returns the number of completed epochs."""
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    set_rng_state(checkpoint["rng"])
    return int(checkpoint["epoch"])
