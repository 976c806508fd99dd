"""Do two recorded runs of a notebook give the same greedy answers? E.g. the transformers and the vLLM backend:

    python benchmarks/compare_runs.py reports/power/rar_last_letter.metrics.json /path/to/vllm_run/rar_last_letter.metrics.json

Each run's experiment is rebuilt from the config in its metrics file and the greedy evaluation of the base-model
systems is replayed from that run's completion cache (a complete run generates nothing; run it from the directory the
runs ran in). Prints, per system, on how many test inputs the final answers and the full texts agree, and the inputs
where they differ. Distilled systems are not compared: their adapters were trained on each run's own samples.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RAR_SYSTEMS = ["System 1=system1", "1-step RaR=rar_1step", "2-step RaR=rar_2step"]


def replay(metrics: Path, systems: dict[str, str]) -> tuple[dict, list, dict]:
    """(config, test examples, {system: MethodOutput}) of one recorded run, from its cache."""
    from s2dlib.config import ExperimentConfig
    from s2dlib.pipeline import Experiment

    rec = json.loads(metrics.read_text())
    cfg = ExperimentConfig.from_params(rec["config"])
    exp = Experiment(cfg, rec["experiment"])
    _, test = exp.load_data()
    outs = {label: exp.generate(method, test, cfg.greedy()) for label, method in systems.items()}
    exp.release_engine()  # one model in memory at a time
    return rec["config"], test, outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="metrics.json of the first run")
    ap.add_argument("b", type=Path, help="metrics.json of the second run")
    ap.add_argument("--systems", nargs="+", default=RAR_SYSTEMS, metavar="LABEL=METHOD",
                    help="base-model systems to compare (default: the RaR notebooks')")
    a = ap.parse_args()
    systems = dict(s.split("=", 1) for s in a.systems)
    cfg_a, test, out_a = replay(a.a, systems)
    cfg_b, test_b, out_b = replay(a.b, systems)
    if [e.question for e in test] != [e.question for e in test_b]:
        sys.exit("the two runs have different test sets: nothing to compare")
    print(f"A: {a.a} (engine={cfg_a['engine']})\nB: {a.b} (engine={cfg_b['engine']})\n")
    for label in systems:
        ans_a, ans_b = [r[0] for r in out_a[label].answers], [r[0] for r in out_b[label].answers]
        txt_a, txt_b = [r[0] for r in out_a[label].texts], [r[0] for r in out_b[label].texts]
        same = sum(x == y for x, y in zip(ans_a, ans_b))
        print(f"{label}: answers agree on {same}/{len(test)}, texts on {sum(x == y for x, y in zip(txt_a, txt_b))}"
              f"/{len(test)}; tokens per input {_mean(out_a[label].tokens):.1f} vs {_mean(out_b[label].tokens):.1f}")
        for i, (x, y) in enumerate(zip(ans_a, ans_b)):
            if x != y:
                print(f"  input {i} (label {test[i].answer!r}): A {x!r} / B {y!r}")


def _mean(tokens: list[list[int]]) -> float:
    return sum(r[0] for r in tokens) / len(tokens)


if __name__ == "__main__":
    main()
