"""Generation and LoRA-training throughput of each installed backend, one invocation so ratios are comparable.

    python benchmarks/engines.py --models qwen2.5-coder-1.5b-instruct tiny-random --repeats 3 --json reports/engines.json

Each measurement runs in its own subprocess (a fresh model, its own peak RSS, summed over the process tree since vLLM
runs its engine in a child). Generation: generated tokens/s for greedy batch 1 (prompts one at a time), greedy batch 8
and 8 prompts x 8 samples, on a fresh prompt set per repeat (no prefix-cache hits across repeats). Backends: hf
(transformers, in the dtype `auto` picks here unless --dtype says otherwise), ct2 (CTranslate2 int8), vllm, and
llamacpp: the packaged GGUF in llama.cpp's in-process server (xllamacpp), measured for comparison only (no s2d backend:
no converter to GGUF ships for the tiny test model, so CI could not test one). The RaR workload row: 2-step RaR, greedy,
on 24 last-letter questions (256 new tokens per step): seconds, accuracy, and agreement of the answers with hf's.
Training: tokens/s (prompt + answer tokens) of `train_lora` per dtype. Figures are medians over the repeats.
A last row per model bounds every torch engine: the tok/s of 8 x 8 sampling if a decode step cost only its weight
GEMMs (64 rows, in the generation dtype, timed with torch) and attention, sampling and prefill were free.
The JSON records the CPU model and its flags: figures of different machines are never comparable.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _prompts(n: int, seed: int):
    from s2dlib.methods.rar import RAR_1STEP
    from s2dlib.tasks import get_task

    task = get_task("last_letter")
    _, test = task.make_splits(0, n, seed=seed)
    return [[{"role": "user", "content": RAR_1STEP.format(question=e.question)}] for e in test]


def _env() -> dict:
    """The environment variables that steer CPU threading."""
    return {k: v for k, v in os.environ.items() if k.startswith(("VLLM_CPU", "OMP_"))}


class LlamaCppRaw:
    """The packaged GGUF in xllamacpp's in-process server (`slots` sequences decoded in parallel)."""

    def __init__(self, model: str, slots: int = 64):
        import xllamacpp
        from transformers import AutoTokenizer

        from s2dlib.models import PACKAGED, _assemble, cache_dir, resolve_model

        gguf = cache_dir() / "gguf" / f"{model}.gguf"
        if not gguf.exists():
            gguf.parent.mkdir(parents=True, exist_ok=True)
            _assemble(PACKAGED[model], gguf)
        self.tok = AutoTokenizer.from_pretrained(resolve_model(model)[0])
        p = xllamacpp.CommonParams()
        p.model.path, p.n_parallel, p.n_ctx, p.warmup = str(gguf), slots, slots * 640, False
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = len(os.sched_getaffinity(0))
        self.server, self.slots = xllamacpp.Server(p), slots

    def generate(self, prompts, sampling, desc=""):
        """One request holding every prompt (the server runs them in parallel slots) with n completions each: the
        server's binding holds the GIL, so requests from threads would run one after another."""
        from s2dlib.engines.base import Completion, render

        ids = [self.tok(render(self.tok, m), add_special_tokens=False)["input_ids"] for m in prompts]
        r = self.server.handle_completions({
            "prompt": ids, "n_predict": sampling.max_new_tokens, "temperature": sampling.temperature, "n_cmpl": sampling.n,
            "top_k": sampling.top_k, "top_p": sampling.top_p, "seed": sampling.seed, "cache_prompt": False})
        choices = [c for res in (r if isinstance(r, list) else [r]) for c in res["choices"]]
        if len(choices) != len(prompts) * sampling.n:
            raise RuntimeError(f"llama.cpp returned {len(choices)} completions for {len(prompts)} x {sampling.n}")

        def completion(c):  # usage counts one completion per prompt: count each text's tokens, + the end token
            n = len(self.tok(c["text"], add_special_tokens=False)["input_ids"]) + (c.get("finish_reason") == "stop")
            return Completion(c["text"].strip(), min(n, sampling.max_new_tokens))

        flat = [completion(c) for c in choices]
        return [flat[j : j + sampling.n] for j in range(0, len(flat), sampling.n)]


def _engine(backend: str, model: str, dtype: str):
    if backend == "ct2":
        from s2dlib.engines.ct2 import CT2Engine

        return CT2Engine(model, batch_size=64)
    if backend == "llamacpp":
        return LlamaCppRaw(model)
    if backend == "vllm":
        from s2dlib.engines.vllm import VLLMEngine

        return VLLMEngine(model, dtype)
    from s2dlib.engines.hf import HFEngine
    from s2dlib.models import load_model

    return HFEngine(*load_model(model, dtype=dtype), batch_size=64)


def bench_generation(backend: str, model: str, dtype: str, repeats: int, max_new_tokens: int) -> dict:
    from s2dlib.engines.base import Sampling

    eng = _engine(backend, model, dtype)
    greedy = Sampling(max_new_tokens=max_new_tokens)
    eng.generate(_prompts(2, seed=999), greedy)  # warm-up (vLLM compiles / allocates on first use)
    cases = {
        "greedy_b1": lambda ps: [c for p in ps[:4] for c in eng.generate([p], greedy)],
        "greedy_b8": lambda ps: eng.generate(ps, greedy),
        "sample_8x8": lambda ps: eng.generate(ps, Sampling(n=8, temperature=0.7, max_new_tokens=max_new_tokens, seed=1)),
    }
    out: dict = {"env": _env()}  # what the run used, the engine's own CPU defaults included
    for name, run in cases.items():
        rates = []
        for r in range(repeats):
            ps = _prompts(8, seed=100 * r + len(name))
            t0 = time.perf_counter()
            done = run(ps)
            rates.append(sum(c.n_tokens for cs in done for c in cs) / (time.perf_counter() - t0))
        out[f"{name}_tok_s"] = round(statistics.median(rates), 1)
    return out


def bench_rar(backend: str, model: str, dtype: str, n: int = 24) -> dict:
    """The notebook's System 2 step as a workload: 2-step RaR, greedy, on n last-letter test questions."""
    from s2dlib.engines.base import Sampling
    from s2dlib.methods import get_method
    from s2dlib.tasks import get_task

    eng = _engine(backend, model, dtype)
    task = get_task("last_letter")
    _, test = task.make_splits(0, n, seed=0)
    t0 = time.perf_counter()
    out = get_method("rar_2step", max_new_tokens=256).run(eng, task, [e.question for e in test], Sampling())
    seconds = time.perf_counter() - t0
    answers = [a[0] for a in out.answers]
    return {"rar_seconds": round(seconds, 1), "rar_accuracy": round(100 * sum(task.score(a, e) for a, e in zip(answers, test)) / n, 1),
            "rar_tokens": sum(t[0] for t in out.tokens), "answers": answers}


def bench_training(model: str, dtype: str, repeats: int, tmp: Path) -> dict:
    from s2dlib.distill import LoraSFTConfig, encode_pair, train_lora
    from s2dlib.models import load_model

    _, tok, _ = load_model(model, dtype="float32")
    pairs = [(m[0]["content"], "Let me think step by step about the last letters of each word. The answer is \"xy\".")
             for m in _prompts(32, seed=7)]
    cfg = LoraSFTConfig(epochs=1, batch_size=8, dtype=dtype)
    tokens = sum(len(encode_pair(tok, p, a, cfg.max_len)["input_ids"]) for p, a in pairs)
    rates = [tokens / train_lora(model, pairs, tmp / f"adapter{r}", cfg)["train_seconds"] for r in range(repeats)]
    return {"train_tok_s": round(statistics.median(rates), 1)}


def bench_gemm_bound(model: str, dtype: str, repeats: int, rows: int = 64) -> dict:
    """Upper bound on decode tok/s at `rows` sequences: `rows` / (time of one step's linear-layer GEMMs)."""
    from collections import Counter

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from s2dlib.models import compute_dtype, resolve_model

    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(resolve_model(model)[0]))
    shapes = Counter(tuple(m.weight.shape) for m in net.modules() if isinstance(m, torch.nn.Linear))
    dt = compute_dtype(dtype)
    step = 0.0
    for (n_out, n_in), count in shapes.items():
        x, w = torch.randn(rows, n_in, dtype=dt), torch.randn(n_out, n_in, dtype=dt)
        for _ in range(3):  # warm-up: oneDNN builds its kernel (AMX, AVX512) on the first calls of a shape
            x @ w.T
        times = []
        for _ in range(max(repeats, 10)):  # one call is too noisy to be a bound, whatever --repeats says
            t0 = time.perf_counter()
            x @ w.T
            times.append(time.perf_counter() - t0)
        step += count * statistics.median(times)
    return {"sample_8x8_tok_s": round(rows / step, 1)}


def run_measured(argv: list[str]) -> dict:
    """Run one worker subprocess; its JSON result plus the peak RSS of its process tree (GB)."""
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.2)
    lines = [line for line in proc.stdout.read().splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"error": f"worker {' '.join(argv)} exited with {proc.returncode}"}
    return {**json.loads(lines[-1]), "peak_rss_gb": round(peak / 1e9, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b-instruct", "tiny-random"])
    ap.add_argument("--backends", nargs="+", default=None, help="default: every installed one (hf, ct2, vllm, llamacpp)")
    ap.add_argument("--dtype", default="auto", help="generation dtype of the torch backends (auto: what dtype=auto picks)")
    ap.add_argument("--rar", type=int, default=24, help="questions of the RaR workload row (0: skip)")
    ap.add_argument("--train-dtypes", nargs="*", default=["bfloat16", "float32"], help="LoRA training runs (none: skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--json", default="engines.json", help="where the results go")
    ap.add_argument("--worker", choices=["gen", "rar", "train", "gemm"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    a = ap.parse_args()
    import s2dlib.tiny  # noqa: F401  (registers model=tiny-random)

    if a.worker == "gen":
        print(json.dumps(bench_generation(a.backend, a.model, a.dtype, a.repeats, a.max_new_tokens)))
        return
    if a.worker == "rar":
        print(json.dumps(bench_rar(a.backend, a.model, a.dtype, a.rar)))
        return
    if a.worker == "train":
        print(json.dumps(bench_training(a.model, a.dtype, a.repeats, Path(a.tmp))))
        return
    if a.worker == "gemm":
        print(json.dumps(bench_gemm_bound(a.model, a.dtype, a.repeats)))
        return

    import importlib.util

    from s2dlib.models import compute_dtype
    from s2dlib.provenance import cpu_info, package_versions

    installed = {"ct2": "ctranslate2", "vllm": "vllm", "llamacpp": "xllamacpp"}
    backends = a.backends or ["hf", *(b for b, mod in installed.items() if importlib.util.find_spec(mod))]
    dtype = str(compute_dtype(a.dtype)).removeprefix("torch.")
    common = ["--repeats", str(a.repeats), "--max-new-tokens", str(a.max_new_tokens), "--rar", str(a.rar)]
    meta = {"argv": sys.argv[1:], "versions": package_versions(["torch", "transformers", "peft", "ctranslate2", "vllm",
                                                                "vllm-cpu", "xllamacpp"]),
            "repeats": a.repeats, "max_new_tokens": a.max_new_tokens, "dtype": dtype, "cpu": cpu_info(),
            "env": _env(), "time": time.ctime()}
    out, rows = Path(a.json), []

    def record(row: dict) -> None:  # written after every run, so an interrupted benchmark keeps what it measured
        rows.append(row)
        print(row, flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            for b in backends:
                if b == "llamacpp" and model == "tiny-random":
                    continue  # no GGUF of the tiny model
                label = {"ct2": "int8", "llamacpp": "gguf"}.get(b, dtype)
                record({"model": model, "run": f"generate {b} {label}",
                        **run_measured(["--worker", "gen", "--model", model, "--backend", b, "--dtype", dtype, *common])})
            if a.rar:
                ref = None
                for b in backends:
                    if b == "llamacpp" and model == "tiny-random":
                        continue
                    row = run_measured(["--worker", "rar", "--model", model, "--backend", b, "--dtype", dtype, *common])
                    answers = row.pop("answers", None)
                    if b == "hf":
                        ref = answers
                    elif ref and answers:
                        row["rar_agree_with_hf_pct"] = round(100 * sum(x == y for x, y in zip(ref, answers)) / len(ref), 1)
                    record({"model": model, "run": f"RaR workload {b}", **row})
            for dt in a.train_dtypes:
                record({"model": model, "run": f"train lora {dt}", **run_measured(
                    ["--worker", "train", "--model", model, "--dtype", dt, "--tmp", f"{tmp}/{model}-{dt}", *common])})
            record({"model": model, "run": f"GEMM bound {dtype}",
                    **run_measured(["--worker", "gemm", "--model", model, "--dtype", dtype, *common])})
    cols = ["greedy_b1_tok_s", "greedy_b8_tok_s", "sample_8x8_tok_s", "rar_seconds", "rar_accuracy",
            "rar_agree_with_hf_pct", "train_tok_s", "peak_rss_gb"]
    print(f"\nCPU: {meta['cpu']}")
    print(f"{'model':<30}{'run':<26}" + "".join(f"{c.removesuffix('_tok_s'):>22}" for c in cols))
    for r in rows:
        print(f"{r['model']:<30}{r['run']:<26}" + "".join(f"{r.get(c, '-')!s:>22}" for c in cols) + f"  {r.get('error', '')}")
    print(f"\nwritten: {a.json}")


if __name__ == "__main__":
    main()
