"""What evaluating a distilled model costs per engine: one trained LoRA adapter answers the test questions, greedy.

    python benchmarks/adapter_serving.py --engine ct2 --adapter runs/power/rar_last_letter/adapters/distill_2step_rar \
        --test data/last_letter/k2-seed0-train300-test200/test.jsonl

ct2 serves the adapter merged into the base weights and converted to int8 (once, cached by the adapter's hash; the
load time below excludes a first conversion); vllm merges it on a CPU too (each load: merge, then start the model) and
serves it unmerged as a `LoRARequest` on a GPU. Prompts go in chunks so a
slow engine still prints its rate before it is stopped. Prints one JSON line per chunk and one for the whole run,
with the CPU model and flags.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s2dlib.config import ENGINES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", required=True, choices=[e for e in ENGINES if e != "auto"])
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--test", required=True, help="JSONL of test examples (question, answer)")
    ap.add_argument("--task", default="last_letter")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--chunk", type=int, default=25)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    a = ap.parse_args()

    from s2dlib.config import ExperimentConfig
    from s2dlib.engines import make_engine
    from s2dlib.engines.base import Sampling
    from s2dlib.methods import get_method
    from s2dlib.provenance import cpu_info
    from s2dlib.tasks import get_task
    from s2dlib.tasks.base import load_examples

    task, test = get_task(a.task), load_examples(a.test)
    t0 = time.perf_counter()
    engine = make_engine(ExperimentConfig(model=a.model, engine=a.engine, task=a.task), adapter=a.adapter)
    load = time.perf_counter() - t0
    method, greedy = get_method("system1", max_new_tokens=a.max_new_tokens), Sampling(max_new_tokens=a.max_new_tokens)
    correct, tokens, t0 = [], [], time.perf_counter()
    for i in range(0, len(test), a.chunk):
        part = test[i : i + a.chunk]
        out = method.run(engine, task, [e.question for e in part], greedy)
        correct += [task.score(ans[0], e) for ans, e in zip(out.answers, part)]
        tokens += [t[0] for t in out.tokens]
        print(json.dumps({"engine": a.engine, "answered": len(correct), "seconds": round(time.perf_counter() - t0, 1)}),
              flush=True)
    print(json.dumps({"engine": a.engine, "fingerprint": engine.fingerprint, "load_s": round(load, 1),
                      "generate_s": round(time.perf_counter() - t0, 1), "n": len(test),
                      "accuracy": 100 * sum(correct) / len(correct), "tokens_per_input": sum(tokens) / len(tokens),
                      "cpu": cpu_info()}))


if __name__ == "__main__":
    main()
