"""How many true answers does System 1 need? The gold-label ceiling's learning curve on one task, no System 2 at all:

    python benchmarks/ceiling_curve.py --task last_letter --n-train 100 --sizes 25 50 --json reports/benchmarks/x.json
    python benchmarks/ceiling_curve.py --notebook bsm_judge --task pairwise_judge --profile power --n-train 150 \
        --n-test 100 --set lr=0.0002 --json reports/benchmarks/y.json   # a judge: n counts pairs, both orders scored

Trains the same LoRA recipe as the experiment notebooks on the first n of `--n-train` labelled training inputs (nested
seeded subsets, `Experiment.learning_curve`, plus all of them) and scores each adapter, greedy, on the test split with
its 95% CI, beside System 1. The test split is the notebooks' for the same task, seed and n_test (the splits put the
test inputs first), so the rows sit beside a Table 1 run's. An ORACLE diagnostic that uses labels: it says whether the
distilled model is limited by its targets or by how much System 1 learns from this many pairs with this recipe.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="last_letter")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--n-train", type=int, default=100, help="labelled training inputs; the curve's last point")
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="*", default=[], help="smaller training sizes on the curve")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other parameters (lr, epochs, engine...)")
    ap.add_argument("--profile", default="medium", help="profile whose defaults apply (and run folder runs/<profile>/)")
    ap.add_argument("--notebook", default="rar_last_letter", help="whose block of the profile applies (its recipe, caps)")
    ap.add_argument("--json", type=Path, required=True, help="where the rows, trainings and provenance are written")
    args = ap.parse_args()

    from s2dlib import report
    from s2dlib.cli import notebook_names, parse_set
    from s2dlib.config import ExperimentConfig, load_profile
    from s2dlib.pipeline import Experiment

    if args.notebook not in notebook_names():
        sys.exit(f"ceiling_curve: error: --notebook {args.notebook!r}: allowed values are {', '.join(notebook_names())}")
    params = {**load_profile(args.profile, args.notebook), "task": args.task, "model": args.model,
              "n_train": args.n_train, "n_test": args.n_test, "n_dev": 0, "learning_curve": args.sizes,
              "profile": args.profile, **parse_set(args.set)}
    try:  # a bad value fails here, in one line, before any model loads
        cfg = ExperimentConfig.from_params(params)
        cfg.check_inputs()
    except ValueError as e:
        sys.exit(f"ceiling_curve: error: {e}")
    exp = Experiment(cfg, f"ceiling_{args.task}")
    with exp.stage("data"):
        exp.load_data()
    with exp.stage("evaluate"):
        exp.evaluate("System 1", "system1")
    with exp.stage("distill"):
        gold = exp.gold_targets()
        full = exp.evaluate(report.GOLD, "system1", adapter=exp.distill(report.GOLD, gold))[0]
    with exp.stage("learning curve"):
        # without smaller sizes the curve is its last point: all labelled inputs
        curve = exp.learning_curve(report.GOLD, gold, full_row=full) or [{"curve": report.GOLD, "n_pairs": gold.kept, **full}]
    record = {"rows": exp.rows, "curve": curve, "trainings": exp.trainings, "recipe": exp.recipe,
              "provenance": exp.provenance(), "config": params}
    if args.task == "pairwise_judge":  # which side each judge names: by position and by length (see verdict_bias)
        from s2dlib.tasks.pairwise_judge import verdict_bias
        record["bias"] = {label: verdict_bias([a[0] for a in out.answers], exp.test) for label, out in exp.outputs.items()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1, default=str))
    print(f"{args.task}: gold-label ceiling by training pairs ({cfg.model}, n_test={len(exp.test)}, seed {cfg.seed}, "
          f"LoRA r={cfg.lora_r}, {cfg.epochs:g} epochs, lr {cfg.lr:g})")
    s1, metric = exp.rows[0], next(iter(exp.task.metric_subsets(exp.test)))  # accuracy, or a judge's agreement
    print(f"  System 1            {s1[metric]:5.1f}% [{s1['ci_low']:.1f}, {s1['ci_high']:.1f}] {metric}")
    for p in curve:
        print(f"  gold, {p['n_pairs']:4d} pairs     {p[metric]:5.1f}% [{p['ci_low']:.1f}, {p['ci_high']:.1f}]")
    print("  stages (min): " + ", ".join(f"{k} {v / 60:.1f}" for k, v in exp.log.timings.items()))
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
