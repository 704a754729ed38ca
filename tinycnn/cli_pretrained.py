"""`tinycnn pretrained`: the shipped weights of the small CIFAR models.

    tinycnn pretrained list                 # name, test accuracy +- standard error, recipe, time
    tinycnn pretrained info NAME            # everything the manifest records
    tinycnn pretrained add RUN_FOLDER       # publish a finished run (tinycnn/publish.py)
    tinycnn pretrained add RUN --log-only   # record its accuracy and log only (a second seed, a control)
    tinycnn pretrained verify [NAME ...]    # re-evaluate shipped weights on the 10,000 test images
"""
import json


def add_parser(commands, data_help: str):
    parser = commands.add_parser(
        "pretrained", help="list, inspect, add or verify the shipped weights",
        description="The trained weights shipped in tinycnn/pretrained/ (create(name, pretrained=True)).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", help="the models with shipped weights")
    info = actions.add_parser("info", help="what the manifest records for one model")
    info.add_argument("name")
    add = actions.add_parser("add", help="publish a finished `tinycnn train` run")
    add.add_argument("run", metavar="RUN_FOLDER")
    add.add_argument("--data", metavar="PATH", help=data_help)
    add.add_argument("--log-only", action="store_true",
                     help="record the run's facts and log in runs.json, ship no weights (a second seed, a control)")
    verify = actions.add_parser("verify", help="re-evaluate shipped weights on the test set")
    verify.add_argument("names", nargs="*", metavar="NAME", help="default: all")
    verify.add_argument("--data", metavar="PATH", help=data_help)


def run(args) -> int:
    from tinycnn.models import list_pretrained, pretrained_info

    if args.action == "list":
        names = list_pretrained()
        if not names:
            print("no shipped weights yet")
        for name in names:
            info = pretrained_info(name)
            print(f"{name:<36} {info['test_accuracy']:6.2f}% +- {info['standard_error']:.2f}  "
                  f"{info['recipe']}, {info['epochs']} epochs, {info['train_seconds'] / 60:.0f} min")
        return 0
    if args.action == "info":
        print(json.dumps(pretrained_info(args.name), indent=2))
        return 0
    if args.action == "add":
        from tinycnn.publish import publish_run, record_run

        if args.log_only:
            entry = record_run(args.run)
            print(f"recorded {args.run}: {100 * entry['test_acc']:.2f}% (log {entry['log']})")
            return 0
        info = publish_run(args.run, data=args.data)
        print(f"published {args.run} as {info['file']}: {info['test_accuracy']:.2f}% ({info['dtype']})")
        return 0
    return _verify(args.names or list_pretrained(), args.data)


def _verify(names, data) -> int:
    """Evaluate each model's shipped weights; 1 if any accuracy is off its record by more than 0.1 point."""
    from tinycnn.models import pretrained_info
    from tinycnn.publish import evaluate_shipped

    failed = 0
    for name in names:
        info = pretrained_info(name)
        accuracy = evaluate_shipped(name, data)
        ok = abs(accuracy - info["test_accuracy"]) <= 0.1
        failed += not ok
        print(f"{name}: {accuracy:.2f}% measured, {info['test_accuracy']:.2f}% recorded: {'ok' if ok else 'MISMATCH'}")
    return 1 if failed else 0
