"""A validation-split pilot that chooses BSM's token caps before a run (issue 35), never on the test set:

    python benchmarks/pilot_bsm.py --profile power --json reports/pilots/bsm_judge.json

Runs Branch-Solve-Merge, greedy, with generous caps on the run's validation training pairs (the last `n_val` training
inputs of the same profile, seed and sizes; both orders of each pair) for each number of criteria in --criteria, and
records per step (branch, solve: a judgment's longest criterion call, merge) the reply lengths and the smallest cap
that cuts <= 5% of them, the agreement on the pairs whose label is known and the tokens per judgment. The BSM paper
lets the branch step propose its own criteria; the number kept is chosen here: the most criteria whose tokens per
judgment stay within --budget (default: no limit) and whose every step fits the generous cap (<= 5% cut), so the choice
is one of cost, said in the record. The pilot works in the run's own folder (runs/<profile>/bsm_judge/): the run reuses
the responses it sampled, and its cost is a session of the run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="power")
    ap.add_argument("--criteria", type=int, nargs="+", default=[3, 5], help="numbers of criteria to try")
    ap.add_argument("--generous", type=int, nargs=3, default=[384, 384, 256], metavar=("BRANCH", "SOLVE", "MERGE"))
    ap.add_argument("--budget", type=float, default=float("inf"), help="tokens per judgment the choice may spend")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other parameters (engine, model, n_val...)")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()

    from s2dlib.cli import parse_set
    from s2dlib.config import ExperimentConfig, load_profile
    from s2dlib.evaluate import rate
    from s2dlib.methods import build_method
    from s2dlib.pilot import MAX_CUT, length_record
    from s2dlib.pipeline import Experiment
    from s2dlib.provenance import environment
    from s2dlib.tasks import source_of

    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    cfg = ExperimentConfig.from_params({**load_profile(args.profile, "bsm_judge"), **parse_set(args.set)})
    if not cfg.n_val:
        raise SystemExit(f"profile {args.profile!r}: the pilot needs a validation split of the training pairs (n_val)")
    exp = Experiment(cfg, "bsm_judge")  # the run's own folder: the run reuses the responses the pilot made
    train, _ = exp.load_data()
    val = train[len(train) - cfg.n_val:]  # whole pairs: a pair's two orders are consecutive and n_val is even
    branch, solve, merge = args.generous
    old = {"branch": cfg.max_new_tokens_branch, "solve": cfg.max_new_tokens, "merge": cfg.max_new_tokens_merge}
    rows = []
    for n in args.criteria:
        c = replace(cfg, n_criteria=n, max_new_tokens_branch=branch, max_new_tokens=solve, max_new_tokens_merge=merge)
        out = build_method("bsm", c, exp.task).run(exp.engine(), exp.task, [e.question for e in val], c.greedy())
        labelled = [(a[0], e) for a, e in zip(out.answers, val) if e.answer]
        row = {"n_criteria": n, "judgments": len(val), "tokens": sum(t[0] for t in out.tokens) / len(val),
               **rate("agreement", [exp.task.score(a, e) for a, e in labelled], cfg.seed,
                      [source_of(e) for _, e in labelled]),
               "steps": {k: length_record([t[0] for t in v], args.generous[i], old[k])
                         for i, (k, v) in enumerate(out.step_tokens.items())}}
        rows.append(row)
        print(f"{n} criteria: agreement {row['agreement']:.1f}% on {row['n']} labelled judgments, "
              f"{row['tokens']:.0f} tokens; caps {[s['chosen_cap'] for s in row['steps'].values()]}")
    # a setting whose step is cut more than MAX_CUT even at the generous cap cannot be given room: not eligible
    room = [r for r in rows if all(s["cut_at_chosen_cap_pct"] <= 100 * MAX_CUT for s in r["steps"].values())]
    if not room:
        raise SystemExit(f"every setting has a step cut > {MAX_CUT:.0%} at the generous caps {args.generous}: raise them")
    best = max([r for r in room if r["tokens"] <= args.budget] or room[:1], key=lambda r: r["n_criteria"])
    chosen = {"n_criteria": best["n_criteria"], "max_new_tokens_branch": best["steps"]["branch"]["chosen_cap"],
              "max_new_tokens": best["steps"]["solve"]["chosen_cap"],
              "max_new_tokens_merge": best["steps"]["merge"]["chosen_cap"]}
    record = {"pilot": "bsm_judge", "profile": args.profile, "model": cfg.model, "model_fingerprint": exp.engines.fingerprint,
              "seed": cfg.seed, "inputs": {"validation judgments (last n_val training inputs)": len(val)},
              "split": "validation training pairs of the run (labels used only for the agreement diagnostic); the test "
                       "set is never read", "rows": rows, "chosen": chosen,
              "chosen_by": {"max_new_tokens_*": f"per step, the smallest cap cutting <= {MAX_CUT:.0%} of its replies",
                            "n_criteria": f"the most criteria whose every step fits its cap (<= {MAX_CUT:.0%} cut "
                                          f"at most at the generous caps) within {args.budget:g} tokens per judgment"},
              "started_utc": started.isoformat(timespec="seconds"), "wall_s": round(time.perf_counter() - t0, 1),
              **environment()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1, default=str))
    print("chosen:", chosen, f"({record['wall_s']:.0f} s) ->", args.json)


if __name__ == "__main__":
    main()
