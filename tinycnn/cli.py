"""The `tinycnn` command line (also `python -m tinycnn`).

    tinycnn train [--model resnet9_fast] [--epochs N] [--data PATH] [--out runs/NAME] [--resume] ...
    tinycnn eval CHECKPOINT [--data PATH]
    tinycnn models [FILTER]
    tinycnn summary MODEL [--input 3x32x32]
    tinycnn bench ...
"""
import argparse
import sys
import time
from pathlib import Path

from tinycnn import __version__, cli_pretrained

DESCRIPTION = "tinycnn: a from-scratch CNN framework in NumPy and Numba; train and inspect CIFAR models."
THREADS_HELP = "CPU threads for NumPy's BLAS and the Numba kernels (default: $TINYCNN_NUM_THREADS, else all cores)"
DATA_HELP = ("CIFAR archive (.tar.gz), its extracted folder, or a folder holding either; "
             "default: $TINYCNN_DATA, then the project's data/ folder, else download")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _input_shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"expected CxHxW, e.g. 3x32x32, got {text!r}")
    return shape


def _milestones(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated iteration counts, e.g. 32000,48000, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinycnn", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"tinycnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    _add_train_parser(commands)
    _add_eval_parser(commands)

    listing = commands.add_parser(
        "models", help="list the model zoo with parameters and MACs",
        description="Every registered model with its parameter count and multiply-accumulates (MACs) per image, "
                    "counted by tinycnn.summary at the model's own input size (CIFAR models: 3x32x32).")
    listing.add_argument("filter", nargs="?", default="", metavar="FILTER", help="only names containing this text")

    summary = commands.add_parser(
        "summary", help="per-layer table of a model",
        description="Output shape, parameters and MACs of every layer of a model (tinycnn.summary).")
    summary.add_argument("model", help="a name from `tinycnn models`")
    summary.add_argument("--input", type=_input_shape, metavar="CxHxW",
                         help="input size of one image (default: the model's own, else 3x32x32)")
    summary.add_argument("--num-classes", type=_positive_int, default=None, help="default: the model's own (10 for CIFAR models, 1000 for ImageNet twins)")

    results = commands.add_parser(
        "results", help="table (and figure) of finished training runs: a folder of runs, or the shipped ones",
        description="One row per model (seeds pooled): params, MACs, test accuracy +- binomial standard error, "
                    "time, img/s, as a markdown table; --plot also draws accuracy vs MACs and vs training time "
                    "(--text-chart prints it as characters).")
    results.add_argument("folder", metavar="FOLDER", nargs="?",
                         help="a folder of run folders, e.g. runs/cifar-small (default: the shipped record of runs)")
    results.add_argument("--plot", metavar="PNG", help="write the accuracy-vs-cost figure here")
    results.add_argument("--text-chart", action="store_true",
                         help="also print the figure as characters (accuracy vs MACs and vs training time)")
    cli_pretrained.add_parser(commands, DATA_HELP)
    commands.add_parser("bench", help="benchmarks of layers and models (see `tinycnn bench --help`)", add_help=False)
    return parser


def _add_train_parser(commands):
    """`tinycnn train` and its options."""
    from tinycnn.train import RECIPES

    train = commands.add_parser(
        "train", help="train a model on CIFAR-10/100",
        description="Train a model on CIFAR. Without options: the fast recipe (resnet9_fast, 10 epochs, "
                    "one-cycle SGD, label smoothing 0.2, crop + flip). Options left out take the recipe's values. "
                    "Writes config.json, metrics.csv/.json, curves.png and checkpoint.npz into --out.")
    train.add_argument("--recipe", choices=sorted(RECIPES),
                       help="preset of all settings below (default: fast; resnet-paper: He et al.'s ResNet-20 "
                            "schedule, 164 epochs; resnet20-short: ResNet-20 in 14 one-cycle epochs; cifar-small: "
                            "the shared 8-epoch recipe of the small models of every family)")
    train.add_argument("--model", help="a name from `tinycnn models` (fast recipe: resnet9_fast)")
    train.add_argument("--dataset", choices=["cifar10", "cifar100"], help="default: cifar10")
    train.add_argument("--epochs", type=_positive_int, help="number of epochs (fast recipe: 10)")
    train.add_argument("--train-size", type=_positive_int, metavar="N",
                       help="train on a stratified subset of N training images (default: all 50,000)")
    train.add_argument("--batch-size", type=_positive_int, help="fast recipe: 256")
    train.add_argument("--lr", type=_non_negative_float, help="peak learning rate (fast recipe: 0.2)")
    train.add_argument("--weight-decay", type=_non_negative_float, help="on conv/linear weights (fast recipe: 5e-4)")
    train.add_argument("--momentum", type=_non_negative_float, help="SGD momentum (default 0.9)")
    train.add_argument("--no-nesterov", dest="nesterov", action="store_const", const=False,
                       help="plain instead of Nesterov momentum")
    train.add_argument("--label-smoothing", type=_non_negative_float, help="fast recipe: 0.2")
    train.add_argument("--schedule", choices=["onecycle", "cosine", "multistep"], help="fast recipe: onecycle")
    train.add_argument("--warmup-epochs", type=_non_negative_float,
                       help="epochs of rising lr (onecycle) or linear warm-up (cosine); fast recipe: 2")
    train.add_argument("--milestones", type=_milestones, metavar="I1,I2",
                       help="multistep: iterations at which lr is divided by 10")
    train.add_argument("--cutout", type=int, metavar="SIZE", help="cutout square size (default 0: off)")
    train.add_argument("--resolution", type=_positive_int, metavar="PX",
                       help="resize the images to PX x PX (default: the model's own size, 32 for CIFAR models)")
    train.add_argument("--shuffle-labels", action="store_const", const=True,
                       help="train on randomly permuted labels (a control: nothing real can be learnt)")
    train.add_argument("--seed", type=int, help="random seed (default 0); the same seed gives the same run")
    train.add_argument("--data", metavar="PATH", help=DATA_HELP)
    train.add_argument("--out", metavar="DIR", help="run folder (default: runs/MODEL-DATE-TIME)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out from its last epoch")
    train.add_argument("--threads", type=_positive_int, help=THREADS_HELP)
    train.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _add_eval_parser(commands):
    """`tinycnn eval` and its options."""
    evaluate = commands.add_parser(
        "eval", help="evaluate a checkpoint on the test set",
        description="Test accuracy, per-class accuracy and a confusion-matrix PNG of a checkpoint written by "
                    "`tinycnn train` (or of a bare state_dict saved with tinycnn.save, given --model).")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.npz of a run (or a run folder)")
    evaluate.add_argument("--data", metavar="PATH", help=DATA_HELP)
    evaluate.add_argument("--model", help="model name, for a checkpoint holding only a state_dict")
    evaluate.add_argument("--dataset", choices=["cifar10", "cifar100"], help="for a bare state_dict (default cifar10)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=1000, help="default 1000")
    evaluate.add_argument("--tta", action="store_true",
                          help="test-time augmentation: average the logits of each image and its mirror image")
    evaluate.add_argument("--out", metavar="DIR",
                          help="where confusion_matrix.png goes (default: beside the checkpoint)")
    evaluate.add_argument("--threads", type=_positive_int, help=THREADS_HELP)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from tinycnn.bench import main as bench_main

        return bench_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": cmd_train, "eval": cmd_eval, "models": cmd_models, "summary": cmd_summary,
                    "pretrained": cli_pretrained.run, "results": cmd_results}
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"tinycnn {args.command}: error: {message}", file=sys.stderr)
        return 1


def set_threads(n: int | None):
    """--threads N (see THREADS_HELP); None leaves the thread counts alone."""
    if n is not None:
        from tinycnn.threads import set_num_threads

        set_num_threads(n)


def cmd_train(args) -> int:
    from tinycnn.train import TrainingDiverged, fit, make_config

    set_threads(args.threads)
    config = make_config(
        args.recipe or "fast", model=args.model, dataset=args.dataset, epochs=args.epochs, train_size=args.train_size,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, momentum=args.momentum,
        nesterov=args.nesterov, label_smoothing=args.label_smoothing, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, milestones=args.milestones, cutout=args.cutout, seed=args.seed,
        resolution=args.resolution, shuffle_labels=args.shuffle_labels)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out: the folder of the run to continue")
    _check_model_name(config.model)
    out = Path(args.out or f"runs/{config.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.resume:  # the saved settings rule; options given again must agree with them
        config = _resumed_config(out, args, config)
    print(f"training {config.model} on {config.dataset} for {config.epochs} epochs -> {out}", flush=True)
    try:
        history = fit(config, out, data=args.data, resume=args.resume, progress=args.progress)
    except TrainingDiverged as error:
        print(f"tinycnn train: stopped: {error}. The last good checkpoint (if any) is kept in {out}; "
              "try a lower --lr.", file=sys.stderr)
        return 1
    last = history[-1]
    print(f"done: test accuracy {100 * last['test_acc']:.2f}% after {last['epoch']} epochs, "
          f"{last['elapsed_seconds']:.0f} s of training and evaluation; run folder {out}")
    return 0


def _check_model_name(name: str):
    from tinycnn.models import list_models

    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; `tinycnn models` lists them: {', '.join(list_models())}")


def _resumed_config(out: Path, args, config):
    """The config saved in the run, with the options given on this command line checked against it."""
    import dataclasses

    from tinycnn.checkpoint import load_checkpoint
    from tinycnn.train import CHECKPOINT, TrainConfig

    saved = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in load_checkpoint(out / CHECKPOINT)["config"].items()})
    given = {f.name for f in dataclasses.fields(TrainConfig) if getattr(args, f.name, None) is not None}
    clash = {k: (getattr(saved, k), getattr(config, k)) for k in given if getattr(saved, k) != getattr(config, k)}
    if clash:
        listed = "; ".join(f"--{k.replace('_', '-')}: the run used {a!r}, given {b!r}" for k, (a, b) in clash.items())
        raise ValueError(f"cannot resume {out} with other settings ({listed})")
    return saved


def cmd_eval(args) -> int:
    import numpy as np

    from tinycnn import models
    from tinycnn.checkpoint import CheckpointError
    from tinycnn.data import DataLoader, EvalTransform
    from tinycnn.plots import plot_confusion
    from tinycnn.serialization import load
    from tinycnn.train import CHECKPOINT, TrainConfig, _normalization, confusion_matrix, evaluate, load_dataset

    set_threads(args.threads)
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT
    try:
        saved = load(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    if isinstance(saved, dict) and "config" in saved and "model" in saved:
        config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved["config"].items()})
        state = saved["model"]
    elif args.model:
        config, state = TrainConfig(model=args.model, dataset=args.dataset or "cifar10"), saved
    else:
        raise CheckpointError(f"{path} is not a checkpoint of `tinycnn train`; for a bare state_dict give --model")
    config.train_size = 0
    dataset = load_dataset(config, args.data)
    model = models.create(config.model, num_classes=len(dataset.classes))
    model.load_state_dict(state)
    mean, std = _normalization(config)
    loader = DataLoader(dataset.x_test, dataset.y_test, args.batch_size, transform=EvalTransform(mean, std))
    result = evaluate(model, loader, tta=args.tta)
    matrix = confusion_matrix(dataset.y_test, result["predictions"], len(dataset.classes))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    print(f"{config.model} ({path}): test accuracy{' with flip TTA' if args.tta else ''} {100 * result['acc']:.2f}% "
          f"({int(matrix.trace())}/{len(dataset.y_test)}), test loss {result['loss']:.4f}")
    width = max(len(c) for c in dataset.classes)
    for name, acc, total in zip(dataset.classes, per_class, matrix.sum(axis=1)):
        print(f"  {name:<{width}}  {100 * acc:6.2f}%  ({total} images)")
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    figure = plot_confusion(matrix, dataset.classes, out / "confusion_matrix.png",
                            title=f"{config.model}: {100 * result['acc']:.2f}% test accuracy")
    print(f"confusion matrix: {figure}")
    return 0


def _default_input(name: str, model) -> tuple:
    """3x32x32 for CIFAR models, 3x224x224 for ImageNet twins, or the model's own input_size."""
    from tinycnn.models import input_size

    return input_size(name, model)


def cmd_models(args) -> int:
    from tinycnn.models import create, list_models
    from tinycnn.summary import summary

    names = list_models(args.filter)
    if not names:
        raise ValueError(f"no model name contains {args.filter!r}; `tinycnn models` lists them all")
    width = max(len(n) for n in names)
    print(f"{'model':<{width}}  {'params':>12}  {'MACs/image':>15}  input")
    for name in names:
        model = create(name)
        s = summary(model, _default_input(name, model), print_table=False)
        shape = "x".join(map(str, s.input_shape))
        print(f"{name:<{width}}  {s.total_params / 1e6:10.2f} M  {s.total_macs / 1e6:13.1f} M  {shape}", flush=True)
    return 0


def cmd_summary(args) -> int:
    from tinycnn.models import create
    from tinycnn.summary import summary

    _check_model_name(args.model)
    model = create(args.model, num_classes=args.num_classes)
    summary(model, args.input or _default_input(args.model, model))
    return 0


def cmd_results(args) -> int:
    from tinycnn.results import collect, markdown_table, plot, text_chart

    rows = collect(args.folder)
    if not rows:
        raise ValueError(f"no finished run in {args.folder or 'the shipped record of runs'}")
    print(markdown_table(rows))
    if args.text_chart:
        print(f"\n{text_chart(rows, 'macs')}\n\n{text_chart(rows, 'seconds')}")
    if args.plot:
        print(f"figure: {plot(rows, args.plot)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
