"""A dev-split pilot that chooses RaR's System 2 settings before a run (issue 34), never on the test set:

    python benchmarks/pilot_rar.py --notebook rar_coin_flip --profile power --json reports/pilots/rar_coin_flip.json

On the labelled inputs outside the test set that the run itself holds out (the last `n_val` training inputs and the
`n_dev` dev inputs of the same profile, seed and sizes), in this order:
1. **Step-1 cap**: greedy rephrasings with a generous cap; the chosen cap is the smallest of CAPS that cuts <= 5% of them.
2. **Answering style**: 2-step RaR (greedy; with --one-step 1-step RaR too) with each `respond_style` (the format line
   alone, or a request to reason before it), beside System 1; each row's accuracy with its 95% CI, per gold answer, yes-share, cut-off counts
   per step and the step-2 length at which <= 5% are cut. The style with the higher 2-step accuracy is chosen.
3. **Sampling for self-consistency**: `n_samples` answers per input with one shared greedy rephrasing and with a sampled
   rephrasing per answer; per setting the kept share and the kept targets' accuracy (labels as a diagnostic only).
Writes every row, the choices and the provenance to `--json`; the notebook's report shows that file. The pilot works in
the run's own folder (runs/<profile>/<notebook>/): the run reuses its generations, and its cost is a session of the run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", default="rar_coin_flip")
    ap.add_argument("--profile", default="power")
    ap.add_argument("--generous", type=int, default=512, help="the cap of the length measurement (tokens)")
    ap.add_argument("--n-sampling", type=int, default=30, help="pilot inputs of the sampling step (the first ones)")
    ap.add_argument("--one-step", action="store_true", help="also try each style on 1-step RaR (by default 1-step RaR "
                                                             "takes the style 2-step RaR chose)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other parameters (engine, model...)")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()

    from s2dlib.cli import parse_set
    from s2dlib.config import ExperimentConfig, load_profile
    from s2dlib.evaluate import accuracy_row, paired_difference, rate
    from s2dlib.filters import build_filter, filter_stats
    from s2dlib.methods import build_method
    from s2dlib.methods.base import user
    from s2dlib.methods.rar import RAR_REPHRASE, RESPOND_STYLES
    from s2dlib.pilot import CAPS, MAX_CUT, length_record, smallest_cap
    from s2dlib.pipeline import Experiment
    from s2dlib.provenance import environment
    from s2dlib.tasks import source_of

    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    cfg = ExperimentConfig.from_params({**load_profile(args.profile, args.notebook), **parse_set(args.set)})
    if not cfg.n_val and not cfg.n_dev:
        raise SystemExit(f"profile {args.profile!r}: the pilot needs labelled inputs outside the test set (n_val or n_dev)")
    exp = Experiment(cfg, args.notebook)  # the run's own folder: the run reuses what the pilot generated
    train, _ = exp.load_data()
    pilot = train[len(train) - cfg.n_val:] + exp.dev  # labelled, never the test set
    task, engine, questions = exp.task, exp.engine(), [e.question for e in pilot]
    record = {"pilot": args.notebook, "profile": args.profile, "model": cfg.model,
              "model_fingerprint": exp.engines.fingerprint, "seed": cfg.seed,
              "inputs": {"validation (last n_val training inputs)": cfg.n_val, "dev": len(exp.dev),
                         "sampling step (first of those)": min(args.n_sampling, len(pilot))},
              "split": "validation + dev inputs of the run (labelled, outside the test set); the test set is never read",
              "complete": False, "started_utc": started.isoformat(timespec="seconds"), **environment(),
              "chosen": {}, "chosen_by": {
                  "max_new_tokens_first": f"smallest of {list(CAPS)} cutting <= {MAX_CUT:.0%} of greedy rephrasings",
                  "respond_style": "higher 2-step RaR accuracy on the pilot inputs (fewer tokens breaks a tie)",
                  "max_new_tokens": f"smallest cap cutting <= {MAX_CUT:.0%} of the chosen style's step-2 replies",
                  "greedy_rephrase": "higher kept-target accuracy among settings keeping >= 1/3 of the inputs"}}

    def save(**parts) -> None:
        """Write what is finished after each step: an interrupted pilot keeps its finished steps ("complete": false)."""
        record.update(parts, wall_s=round(time.perf_counter() - t0, 1))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1, default=str))
    clusters = [source_of(e) for e in pilot]

    def scored(label: str, answers, tokens, **extra) -> dict:
        correct = [task.score(a, e) for a, e in zip(answers, pilot)]
        row = {"system": label, **extra, **accuracy_row(correct, tokens, sum(a is None for a in answers), cfg.seed,
                                                        task.metric_subsets(pilot), clusters)}
        for metric, (outcomes, groups) in task.answer_outcomes(answers, pilot).items():
            row.update(rate(metric, outcomes, cfg.seed, groups))
        row["outcomes"] = [int(c) for c in correct]
        print(f"{label}: {row['accuracy']:.1f}% [{row['ci_low']:.1f}, {row['ci_high']:.1f}], {row['tokens']:.0f} tokens")
        return row

    # 1. step-1 cap from the length of greedy rephrasings
    greedy = replace(cfg.greedy(), max_new_tokens=args.generous)
    first = engine.generate([user(RAR_REPHRASE.format(question=q)) for q in questions], greedy, desc="rephrase lengths")
    step1 = length_record([r[0].n_tokens for r in first], args.generous, cfg.max_new_tokens_first or cfg.max_new_tokens)
    cap1 = step1["chosen_cap"]
    print("step 1:", step1)
    save(step1=step1, chosen={"max_new_tokens_first": cap1})

    # 2. answering style, greedy, with generous step-2 caps (the chosen cap comes from the lengths)
    rows = [scored("System 1", *(lambda o: ([a[0] for a in o.answers], [t[0] for t in o.tokens]))(
        build_method("system1", cfg, task).run(engine, task, questions, cfg.greedy())))]
    step2_lengths = {}
    for style in RESPOND_STYLES:
        c = replace(cfg, respond_style=style, max_new_tokens=args.generous, max_new_tokens_first=cap1)
        for method, label in (("rar_2step", "2-step RaR"), ("rar_1step", "1-step RaR"))[: 2 if args.one_step else 1]:
            out = build_method(method, c, task).run(engine, task, questions, c.greedy())
            cut = {k: sum(r[0] for r in v) for k, v in out.step_capped.items()}
            rows.append(scored(f"{label} ({style})", [a[0] for a in out.answers], [t[0] for t in out.tokens],
                               style=style, method=method, capped_inputs=sum(r[0] for r in out.capped),
                               **{f"capped_inputs_{k}": v for k, v in cut.items()}))
            if method == "rar_2step":
                step2_lengths[style] = [t[0] for t in out.step_tokens["respond"]]
    two = {r["style"]: r for r in rows if r.get("method") == "rar_2step"}
    style = max(two, key=lambda s: (two[s]["accuracy"], -two[s]["tokens"]))
    cap2 = smallest_cap(step2_lengths[style], args.generous)
    styles = list(two)
    between = paired_difference(two[styles[1]]["outcomes"], two[styles[0]]["outcomes"], clusters, cfg.seed)
    print(f"style: {style} ({styles[1]} - {styles[0]}: {between['diff']:+.1f} [{between['ci_low']:+.1f}, "
          f"{between['ci_high']:+.1f}]); step-2 cap {cap2}")
    save(rows=rows, style_diff={"a": styles[1], "b": styles[0], **between},
         chosen={"max_new_tokens_first": cap1, "respond_style": style, "max_new_tokens": cap2})

    # 3. sampling for self-consistency: a shared greedy rephrasing vs one sampled rephrasing per answer
    sub = pilot[: args.n_sampling]
    sampling = []
    for shared in (True, False):
        c = replace(cfg, respond_style=style, max_new_tokens=cap2, max_new_tokens_first=cap1, greedy_rephrase=shared)
        out = build_method("rar_2step", c, task).run(engine, task, [e.question for e in sub], c.sampling())
        res = build_filter(c.filter, c, task).apply(out, sub)
        stats = filter_stats(task, sub, out, res)
        sampling.append({"greedy_rephrase": shared, "n_inputs": len(sub), **{k: stats[k] for k in (
            "kept", "kept_pct", "kept_target_acc", "sample_acc", "no_answer_pct", "tokens_per_sample", "capped_inputs",
            "capped_samples")}, "unanimous_pct": 100 * float(np.mean([len({task.normalize(a) for a in row if a}) <= 1
                                                                         for row in out.answers]))})
        print("sampling:", sampling[-1])
        save(sampling=sampling)
    usable = [s for s in sampling if s["kept_pct"] >= 100 / 3] or sampling
    best = max(usable, key=lambda s: (s["kept_target_acc"], s["kept_pct"]))

    save(sampling=sampling, complete=True, chosen={**record["chosen"], "greedy_rephrase": best["greedy_rephrase"]})
    print("chosen:", record["chosen"], f"({record['wall_s']:.0f} s) ->", args.json)


if __name__ == "__main__":
    main()
