"""`ml calibrate`: choose a model file's calibration and abstain rule on validation photos and write them
into a copy of the file: the tag balance, the temperature, the abstain thresholds (global, or per tag when
that covers more photos at the target precision), the answer rule (the threshold of one sure tag together
with the probability mass a ranked list of up to `--list-max-tags` tags must reach otherwise, certified to
hold the right tag in at least `--list-target` of the answers; see ml.training.calibration) and the
recommended TTA (the gain of `--tta-check` copies over one, measured on a per-class subset). The held-out
photos are never read.

The worker serves what the file says: its suggestions, its confidence and its default TTA follow from it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ml.cli.evaluate import add_machine_arguments
from ml.training import data as ds

logger = logging.getLogger(__name__)
TAG_BALANCES = (0.0, 0.25, 0.5, 0.75, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file to calibrate")
    parser.add_argument("--data", required=True, help="photo folder in SUN397 layout")
    parser.add_argument("--split", required=True, help="split file with a validation part (from `ml split`)")
    parser.add_argument("--part", default="validation", choices=("validation", "train"),
                        help="photos to calibrate on; never the held-out ones (default: validation)")
    parser.add_argument("--output", required=True, help="the calibrated model file to write")
    parser.add_argument("--target-precision", type=float, default=0.90,
                        help="precision of suggestions the abstain rule keeps (default: 0.90)")
    parser.add_argument("--list-target", type=float, default=0.90,
                        help="share of answers (and of single tags) that must hold the right tag; 0: no "
                             "lists, the abstain threshold alone (default: 0.90)")
    parser.add_argument("--list-delta", type=float, default=0.10,
                        help="the answer rule's error level: the chance that it misses the target on new "
                             "photos of this kind (default: 0.10)")
    parser.add_argument("--list-max-tags", type=int, default=3, help="longest list offered (default: 3)")
    parser.add_argument("--list-max-mean-size", type=float, default=1.5,
                        help="most tags per answered photo, on average (default: 1.5)")
    parser.add_argument("--tta-check", type=int, default=8,
                        help="test-time copies compared against one for the recommended TTA; 1 skips the "
                        "check (default: 8)")
    parser.add_argument("--tta-per-class", type=int, default=10,
                        help="photos per class of the TTA check (default: 10)")
    parser.add_argument("--tta-min-gain", type=float, default=0.01,
                        help="accuracy gain TTA must bring to be recommended (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the TTA subset (default: 0)")
    add_machine_arguments(parser)


def scores(
    class_p: Any, matrix: Any, balance: float, temperature: float, truth: np.ndarray
) -> dict[str, float]:
    """Tag accuracy, weighted accuracy, NLL and expected calibration error at this balance and T."""
    from ml.serving.inference import tag_probabilities, temper
    from ml.tags import ALL_LABELS
    from ml.training.calibration import expected_calibration_error, tag_nll
    from ml.training.metrics import accuracy, weighted_accuracy

    tag_p = tag_probabilities(temper(class_p, temperature), matrix, balance).numpy()
    pred = tag_p.argmax(axis=1)
    return {"accuracy": accuracy(truth, pred),
            "weighted_accuracy": weighted_accuracy(truth, pred, len(ALL_LABELS)),
            "nll": tag_nll(tag_p, truth), "ece": expected_calibration_error(tag_p, truth)}


def run(args: argparse.Namespace) -> int:
    import torch

    from ml.cli.evaluate import load_classifier, predict_class_probabilities, true_labels
    from ml.serving.inference import label_matrix, tag_probabilities, temper
    from ml.serving.model import read_model_file, save_with_spec
    from ml.tags import ALL_LABELS, OTHER
    from ml.training.calibration import (
        choose_answer_rule,
        fit_temperature,
        global_rule,
        out_of_fold,
        per_tag_rule,
    )

    torch.set_num_threads(args.threads)
    root, output = Path(args.data), Path(args.output)
    samples = ds.read_split(Path(args.split), args.part)
    classifier = load_classifier(args, output.parent / "onnx")
    spec = classifier.spec
    if spec.target != "scenes":
        raise SystemExit("ml calibrate: only scene-target models (tags summed from scenes) are calibrated")
    truth = true_labels(samples, spec.remap)
    class_p = predict_class_probabilities(classifier, root, samples, 1, args.batch_size)
    matrix = label_matrix(spec)
    other = ALL_LABELS.index(OTHER)

    # Tag balance and temperature: per balance the NLL-optimal T, then the project's rule on the balance.
    sweep = []
    for balance in TAG_BALANCES:
        temperature = fit_temperature(class_p, matrix, balance, truth)
        sweep.append({"tag_balance": balance, "temperature": temperature,
                      **scores(class_p, matrix, balance, temperature, truth),
                      "uncalibrated": scores(class_p, matrix, balance, 1.0, truth)})
    chosen = max(sweep, key=lambda r: (r["accuracy"] + r["weighted_accuracy"], -r["tag_balance"]))
    balance, temperature = chosen["tag_balance"], chosen["temperature"]

    # The abstain rule at the target precision.
    tag_p = tag_probabilities(temper(class_p, temperature), matrix, balance).numpy()
    pred, confidence = tag_p.argmax(axis=1), tag_p.max(axis=1)
    one = global_rule(truth, pred, confidence, other=other, target=args.target_precision)
    per_tag = per_tag_rule(truth, pred, confidence, other=other, target=args.target_precision)
    # Per-tag thresholds only when they beat one threshold on photos they were not chosen on (two folds):
    # more coverage, and no less precision.
    folded = {name: out_of_fold(truth, pred, confidence, other=other, target=args.target_precision,
                                per_tag=name == "per_tag") for name in ("global", "per_tag")}
    better = (folded["per_tag"][0] >= folded["global"][0] + 0.01
              and folded["per_tag"][1] >= folded["global"][1] - 0.005)
    rule = per_tag if better else one
    tag_thresholds = {ALL_LABELS[i]: round(v, 4) for i, v in sorted(rule.per_tag.items())}

    # The answer rule: the threshold again, now with lists (the per-tag thresholds, if chosen, stay).
    answers = choose_answer_rule(
        tag_p, truth, tag_thresholds=tag_thresholds, fallback=rule.default, target=args.list_target,
        delta=args.list_delta, list_max_tags=args.list_max_tags, max_mean_size=args.list_max_mean_size,
        seed=args.seed) if args.list_target > 0 else None

    # Recommended TTA: the gain of --tta-check copies on a per-class subset, same calibration.
    tta_report: dict[str, Any] = {"checked": args.tta_check}
    recommended = 1
    if args.tta_check > 1:
        subset = ds.stratified_subset(samples, args.tta_per_class, args.seed)
        row = {sample.path: i for i, sample in enumerate(samples)}
        rows = [row[sample.path] for sample in subset]
        single = class_p[rows]  # their one-copy probabilities were computed above
        sub_truth = truth[rows]
        many = predict_class_probabilities(classifier, root, subset, args.tta_check, args.batch_size)
        tta_report |= {"photos": len(subset),
                       "tta1": scores(single, matrix, balance, temperature, sub_truth),
                       f"tta{args.tta_check}": scores(many, matrix, balance, temperature, sub_truth)}
        gain = tta_report[f"tta{args.tta_check}"]["accuracy"] - tta_report["tta1"]["accuracy"]
        tta_report["accuracy_gain"] = gain
        recommended = args.tta_check if gain >= args.tta_min_gain else 1

    file_spec, state = read_model_file(args.model)
    file_spec.tag_balance, file_spec.temperature = balance, temperature
    file_spec.threshold = answers.threshold if answers else rule.default
    file_spec.tag_thresholds = tag_thresholds
    file_spec.list_mass = answers.list_mass if answers else 0.0
    file_spec.list_max_tags = args.list_max_tags
    file_spec.recommended_tta = recommended
    file_spec.metrics["calibration"] = {
        "photos": len(samples), "part": args.part, "split": str(args.split),
        "target_precision": args.target_precision, "tag_balance_sweep": sweep,
        "global_rule": {"threshold": one.default, "coverage": one.coverage, "precision": one.precision,
                        "out_of_fold": dict(zip(("coverage", "precision"), folded["global"], strict=True))},
        "per_tag_rule": {"coverage": per_tag.coverage, "precision": per_tag.precision,
                         "out_of_fold": dict(zip(("coverage", "precision"), folded["per_tag"], strict=True))},
        "chosen": "per_tag" if rule is per_tag else "global", "tta": tta_report,
        "answer_rule": None if answers is None else {
            "threshold": answers.threshold, "list_mass": answers.list_mass, "target": args.list_target,
            "delta": args.list_delta, "max_tags": args.list_max_tags,
            "max_mean_size": args.list_max_mean_size, "p_value": answers.p_value,
            **answers.outcome.__dict__, "tested": answers.tested},
    }
    save_with_spec(output, file_spec, state)

    print_report(file_spec.metrics["calibration"])
    print(f"chosen: tag balance {balance}, temperature {temperature}, recommended TTA {recommended}; "
          f"wrote {output}")
    return 0


def print_report(report: dict[str, Any]) -> None:
    print(f"{'balance':>7} {'T':>5} {'accuracy':>8} {'weighted':>8} {'NLL':>6} {'ECE':>6}  at T=1: NLL  ECE")
    for r in report["tag_balance_sweep"]:
        plain = r["uncalibrated"]
        print(f"{r['tag_balance']:>7} {r['temperature']:>5} {r['accuracy']:>8.4f} "
              f"{r['weighted_accuracy']:>8.4f} {r['nll']:>6.3f} {r['ece']:>6.3f}  "
              f"{plain['nll']:>11.3f} {plain['ece']:>5.3f}")
    one, per_tag = report["global_rule"], report["per_tag_rule"]
    for name, rule in (("global threshold", one), ("per-tag thresholds", per_tag)):
        fold = rule["out_of_fold"]
        print(f"abstain at precision >= {report['target_precision']}, {name}: covers {rule['coverage']:.3f} "
              f"(precision {rule['precision']:.3f}); out of fold {fold['coverage']:.3f} "
              f"({fold['precision']:.3f})")
    print(f"using the {report['chosen']} rule (global threshold {one['threshold']:.2f})")
    print_answer_rule(report["answer_rule"])
    print(f"TTA check: {json.dumps(report['tta'])}")


def print_answer_rule(rule: dict[str, Any] | None) -> None:
    if rule is None:
        print("answer rule: off (--list-target 0): the abstain threshold alone, no lists")
        return
    print(f"answer rule: {len(rule['tested'])} candidates tested on the test half before the first failure")
    if rule["p_value"] == 1.0:
        print(f"answer rule: none certified at {rule['target']} (delta {rule['delta']}): threshold "
              f"{rule['threshold']}, no lists")
        return
    lists = f"lists reaching mass {rule['list_mass']}" if rule["list_mass"] else "no lists"
    print(f"answer rule: threshold {rule['threshold']}, {lists} (p = {rule['p_value']:.2g} <= "
          f"{rule['delta']}): answers {rule['answered']:.3f} of photos ({rule['list_share']:.3f} with a "
          f"list, holding the tag {rule['list_hit_rate']:.3f}); right tag in {rule['hit_rate']:.3f} of "
          f"answers, {rule['mean_size']:.2f} tags per answer, single tags right "
          f"{rule['single_precision']:.3f}")
