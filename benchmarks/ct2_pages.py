"""CTranslate2's CPU generation under the kernel's transparent-huge-page (THP) modes, side by side in one invocation.

    python benchmarks/ct2_pages.py --thp always madvise --json reports/benchmarks/ct2-pages-1.5b-<date>-<cpu>.json

At every decode step CTranslate2 copies each layer's KV cache into a freshly allocated, larger buffer, so a batch of
long prompts touches GBs of new memory per step, which the kernel must map and zero first: with THP `madvise` (a
common default) in 4 kB pages, with `always` in 2 MB ones. Each mode is measured in its own subprocess: the mode is
written before the model loads and the original mode restored at the end (writing it needs root; `--thp current`
measures the mode as it is). The workload is one greedy batch of `--rows` prompts of `--prompt-tokens` tokens each,
every row generating exactly `--new-tokens` tokens, like a BSM step's batch; per mode: wall seconds, generated tok/s,
minor page faults/s, user and system CPU seconds of the call. The JSON records the CPU model and its flags.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s2dlib.provenance import THP, cpu_info, transparent_hugepage  # noqa: E402

MODES = ("always", "madvise", "never", "current")


def measure(model: str, rows: int, prompt_tokens: int, new_tokens: int) -> dict:
    """One greedy batch on the CTranslate2 int8 engine; the resources of the generate call alone."""
    from s2dlib.engines.ct2 import CT2Engine

    eng = CT2Engine(model, batch_size=rows)
    vocab = len(eng.tok)
    # Token ids, not text: the cost is memory traffic, which depends on lengths only. Rows differ in their first token.
    batch = [eng.tok.convert_ids_to_tokens([(100 + 7 * r + j) % vocab for j in range(prompt_tokens)]) for r in range(rows)]
    eng.generator.generate_batch(batch[:1], max_length=2, sampling_topk=1)  # first-call set-up is not the workload
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = eng.generator.generate_batch(batch, max_length=new_tokens, min_length=new_tokens, sampling_topk=1,
                                       include_prompt_in_result=False)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    generated = sum(len(o.sequences_ids[0]) for o in out)
    return {"wall_s": round(wall, 4), "tokens": generated, "tok_s": round(generated / wall, 2),
            "minor_faults_per_s": round((r1.ru_minflt - r0.ru_minflt) / wall),
            "user_s": round(r1.ru_utime - r0.ru_utime, 2), "sys_s": round(r1.ru_stime - r0.ru_stime, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ct2_pages", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct", help="packaged model name or local folder")
    ap.add_argument("--thp", nargs="+", default=["current"], choices=MODES, help="THP modes to compare, in order")
    ap.add_argument("--rows", type=int, default=32, help="prompts in the batch (the engine's batch size)")
    ap.add_argument("--prompt-tokens", type=int, default=450, help="tokens per prompt")
    ap.add_argument("--new-tokens", type=int, default=48, help="tokens every row generates")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    for name in ("rows", "prompt_tokens", "new_tokens"):
        if getattr(a, name) < 1:
            ap.exit(1, f"ct2_pages: error: {name}={getattr(a, name)}: allowed values are integers >= 1\n")
    if a.child:
        print(json.dumps(measure(a.model, a.rows, a.prompt_tokens, a.new_tokens)))
        return 0
    original = transparent_hugepage()
    if any(m != "current" for m in a.thp) and (original is None or not os.access(THP, os.W_OK)):
        ap.exit(1, f"ct2_pages: error: --thp {' '.join(a.thp)}: setting a mode needs a writable {THP} (root); "
                   "allowed without it: current\n")
    results = []
    try:
        for mode in a.thp:
            if mode != "current":
                THP.write_text(mode)
            cmd = [sys.executable, __file__, "--child", "--model", a.model, "--rows", str(a.rows), "--prompt-tokens",
                   str(a.prompt_tokens), "--new-tokens", str(a.new_tokens)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = {"thp": transparent_hugepage(), **json.loads(done.stdout.strip().splitlines()[-1])}
            results.append(row)
            print(f"THP {row['thp']}: {row['wall_s']} s, {row['tok_s']} tok/s, {row['minor_faults_per_s']} minor "
                  f"faults/s, user {row['user_s']} s, sys {row['sys_s']} s", flush=True)
    finally:
        if original is not None and transparent_hugepage() != original:
            THP.write_text(original)
    if a.json:
        rec = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": a.model, "rows": a.rows,
               "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "cpu": cpu_info(), "results": results}
        Path(a.json).write_text(json.dumps(rec, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
