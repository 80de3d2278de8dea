"""`ml`: the operator CLI. Each subcommand lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int`; modules are imported lazily so that
`ml remap` does not pay for importing torch."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each command is the module of its name in this package, with its one-line help.
COMMANDS: dict[str, str] = {
    "remap": "regenerate the SUN397 -> hashtag mapping from WordNet and the curated tables",
    "split": "write a train / validation / held-out split file, or extend one to more photos",
    "train": "fine-tune a backbone on a SUN397-layout photo folder",
    "evaluate": "accuracy, weighted accuracy, confusion matrix and abstain curve of a model",
    "calibrate": "choose a model's temperature, tag balance, abstain thresholds and TTA on validation photos",
    "compare": "two models on the same photos, paired: accuracy, coverage and McNemar's test of whether the "
               "candidate is better",
    "record": "write an `ml evaluate` report (its remap, tag balance and metrics) into a copy of the "
              "model file",
    "predict": "suggest hashtags for image files or folders",
    "ensemble": "combine trained models into one file that averages their probabilities",
    "quantize": "add an int8 ONNX graph (static quantization, calibrated on validation photos) to a model "
                "file, for the CPU worker",
    "feedback": "users' feedback as training data: `export` downloads rated photos into a labelled folder",
    "promote": "store a model file in the registry and make it the version every worker serves, or a canary",
    "models": "the versions in the model registry: active, canary, rollback targets and their metrics",
    "rollback": "undo the last promote: end the canary, or return to the previous active version",
    "canary": "`report`: the active version and its canary compared on users' 👍, corrections and admins' "
              "verdicts, with a recommendation",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (default: info)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module_name = f"{__name__}.{name}"
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(module=module_name)
        # Argument definitions are light; the heavy imports happen inside each module's run().
        importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in model files as the exact command
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return importlib.import_module(args.module).run(args)


if __name__ == "__main__":
    sys.exit(main())
