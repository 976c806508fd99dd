"""LoRA SFT of the same model on (System 1 prompt -> final answer): chat template, loss on the answer tokens only.

Uses HF Trainer, so the same call runs under `torchrun --nproc_per_node N` (DDP; gloo on CPU, nccl on GPU); `batch_size`
is the global batch, split over the processes, so N processes train the same model as one. Command line (what torchrun
launches): `python -m s2dlib.distill --model M --pairs pairs.jsonl --out DIR [--epochs ...]`, pairs as JSONL rows
{"prompt": ..., "answer": ...}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from . import tiny  # noqa: F401  (registers model=tiny-random: a training child gets the name)
from .jsonio import read_jsonl

IGNORE = -100
# Tokens of one forward/backward pass. Measured on the 1.5B (bf16 autocast, 24 GB machine, 2026-12-02): 8 rows of ~80
# tokens peaked at 16.8 GB; 8 judge prompts of up to 395 tokens were OOM-killed. Larger batches run as accumulation steps.
TOKENS_PER_MICRO_BATCH = 1024
# A run killed mid-training (a session's end, OOM) resumes from its last checkpoint; a 300-pair judge adapter trains
# for ~40 min on a 2-core CPU. Checkpoints hold the LoRA weights, optimiser, scheduler and RNG states (~0.2 GB).
CHECKPOINT_EVERY_S = 300.0
# glibc raises its mmap threshold as large blocks are freed, after which activations of varying length come from the
# heap and fragment it. Whole GSM8K chains (125 pairs of 107-430 tokens, 1.5B, 2026-12-08) grew the training
# process to 21.7 GB and it was OOM-killed at step 26 of 32; resumed with a fixed threshold, the same batches ran in
# 9-15 GB.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
SHARDING = ("none", "fsdp")
QUANTIZE = ("none", "4bit")
SCALE_FIELDS = ("sharding", "gradient_checkpointing", "quantize")  # added after adapters were trained


@dataclass(frozen=True)
class LoraSFTConfig:
    """LoRA and optimisation settings for distillation (TRL-style defaults for small SFT sets)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"
    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 4
    grad_accum: int = 1
    max_len: int = 1024  # a pair longer than this is refused, never cut (a cut would drop the answer: no loss signal)
    seed: int = 0
    dtype: str = "auto"  # bf16 autocast where the hardware has bf16 units, else fp32
    sharding: str = "none"  # none (DDP under torchrun: a full copy per process) or fsdp (s2dlib/sharded.py)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~20-30% slower
    quantize: str = "none"  # none or 4bit (QLoRA: NF4 base weights through bitsandbytes; needs a CUDA GPU)

    def __post_init__(self):
        # a profile's `epochs: 2` and the child's parsed 2.0 must give one run_key (else a finished adapter is retrained)
        for name in ("epochs", "lr", "dropout"):
            object.__setattr__(self, name, float(getattr(self, name)))  # frozen: set once, here
        for name, value, ok, allowed in [
            ("sharding", self.sharding, self.sharding in SHARDING, ", ".join(SHARDING)),
            ("quantize", self.quantize, self.quantize in QUANTIZE, ", ".join(QUANTIZE)),
            ("lora_r", self.r, self.r >= 1, "integers >= 1"),
            ("lora_alpha", self.alpha, self.alpha > 0, "> 0"),
            ("lora_dropout", self.dropout, 0 <= self.dropout < 1, "0 <= dropout < 1"),
            ("epochs", self.epochs, self.epochs > 0, "> 0"),
            ("lr", self.lr, 0 < self.lr < 1, "0 < lr < 1"),
            ("train_batch_size", self.batch_size, self.batch_size >= 1, "integers >= 1"),
            ("grad_accum", self.grad_accum, self.grad_accum >= 1, "integers >= 1"),
            ("max_len", self.max_len, self.max_len >= 8, "integers >= 8"),
        ]:
            if not ok:
                raise ValueError(f"{name}={value!r}: allowed values are {allowed}")


def encode_pair(tokenizer, prompt: str, answer: str, max_len: int) -> dict:
    """Token ids of the chat-formatted (prompt, answer) with labels masked to IGNORE on the prompt part."""
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": answer}], tokenize=False)
    if not full.startswith(head):
        raise ValueError("the chat template does not render the prompt as a prefix of prompt+answer; cannot mask it")
    p = tokenizer(head, add_special_tokens=False)["input_ids"]
    c = tokenizer(full[len(head) :], add_special_tokens=False)["input_ids"]
    if len(p) + len(c) > max_len:  # cutting the end would drop the answer, the only tokens with a loss
        raise ValueError(f"max_len={max_len}: allowed values are >= the longest training pair; this pair is "
                         f"{len(p) + len(c)} tokens ({prompt[:60]!r}...)")
    return {"input_ids": p + c, "attention_mask": [1] * (len(p) + len(c)), "labels": [IGNORE] * len(p) + c}


def answer_only_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """Next-token loss on the answer tokens, computing the LM head only over the batch's answer span.

    Rows are left-padded, so every row's answer sits in its last positions: the head (151k-wide for Qwen) runs on the
    last `span + 1` positions instead of the whole sequence. Padding shifts absolute positions only, which rotary
    attention does not see; position ids count from each row's first real token anyway.
    """
    labels, mask = inputs["labels"], inputs["attention_mask"]
    answer = labels != IGNORE
    span = int((answer.shape[1] - answer.int().argmax(1)).max())  # longest answer, counted from its first token
    out = model(input_ids=inputs["input_ids"], attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                logits_to_keep=span + 1)
    logits = out.logits[:, :-1].float()  # position t predicts token t+1; the last position predicts nothing
    target = labels[:, -span:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else answer.sum())


def micro_batches(per_device: int, longest: int, budget: int = TOKENS_PER_MICRO_BATCH) -> tuple[int, int]:
    """(micro-batch size, accumulation steps) that hold one device's batch of `per_device` rows: the largest divisor
    of `per_device` whose rows of the longest pair fit in `budget` tokens (at least one row). The optimiser step, and
    so the recipe, is the same (Trainer normalises the loss by the answer tokens of all accumulation steps); only the
    activations in memory at once shrink."""
    micro = next((m for m in range(per_device, 0, -1) if per_device % m == 0 and m * longest <= budget), 1)
    return micro, per_device // micro


def run_key(model_name: str, pairs: list[tuple[str, str]], cfg: LoraSFTConfig) -> str:
    """What an adapter is a function of: the base weights (fp32 masters), the pairs and the recipe. Two systems whose
    filters kept the same pairs share one adapter (trained, converted and evaluated once)."""
    from .models import resolve_model

    fingerprint = f"{resolve_model(model_name)[1]}:float32"
    defaults = asdict(LoraSFTConfig())
    recipe = {k: v for k, v in asdict(cfg).items() if k not in SCALE_FIELDS or v != defaults[k]}  # keys of adapters
    # trained before these fields existed stay valid
    blob = json.dumps({"model": fingerprint, "pairs": pairs, "cfg": recipe}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def trained_record(out_dir: str | Path, key: str) -> dict | None:
    """The record of the adapter in out_dir if it is this exact run, finished."""
    record_file = Path(out_dir) / "s2d_train.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        if record.get("key") == key:
            return record
    return None


def train_lora(model_name: str, pairs: list[tuple[str, str]], out_dir: str | Path, cfg: LoraSFTConfig) -> dict:
    """Train (or reuse, if this exact run finished before) a LoRA adapter; returns its record with the loss log."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    class AnswerOnlyTrainer(Trainer):
        """Trainer with `answer_only_loss`, normalised as Trainer normalises a model's own loss: by the answer tokens of
        the whole global batch (all gradient-accumulation steps and processes), times the processes DDP averages over."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.model_accepts_loss_kwargs = True  # so Trainer counts num_items_in_batch and does not rescale for GA

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_only_loss(model, inputs, num_items_in_batch)
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                loss = loss * self.accelerator.num_processes
            return (loss, None) if return_outputs else loss

    class CheckpointEvery(TrainerCallback):
        """Save a checkpoint when CHECKPOINT_EVERY_S seconds have passed since the last one (a step count would be
        minutes on a GPU and an hour on a CPU)."""

        def __init__(self, folder: Path, before: float):
            self.folder, self.before = folder, before  # seconds trained before the checkpoint this run resumed from
            self.start = self.last = time.monotonic()

        def on_save(self, args, state, control, **kwargs):  # training seconds up to this checkpoint, for the record
            (self.folder / "s2d_seconds").write_text(str(self.before + time.monotonic() - self.start))

        def on_step_end(self, args, state, control, **kwargs):
            # Runs after Trainer's own flow callback, which asks for a save at the last step: the adapter is saved anyway.
            control.should_save = state.global_step < state.max_steps and time.monotonic() - self.last >= CHECKPOINT_EVERY_S
            if control.should_save:
                self.last = time.monotonic()

    from .models import compute_dtype, load_model

    if not pairs:
        raise ValueError("no training pairs: the filter kept no example")
    out_dir = Path(out_dir)
    key = run_key(model_name, pairs, cfg)
    if (done := trained_record(out_dir, key)) is not None:
        return done
    check_hardware(cfg)
    bf16 = compute_dtype(cfg.dtype) == torch.bfloat16
    if cfg.quantize == "4bit":  # QLoRA: NF4 base weights, bf16 compute; LoRA weights stay in fp32
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model, tok, fingerprint = load_model(model_name, dtype="bfloat16", quantization_config=quant,
                                             device_map={"": int(os.environ.get("LOCAL_RANK", 0))})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
        fingerprint += "+nf4"
    elif cfg.sharding == "fsdp" and bf16:  # frozen base weights in bf16 (half the memory); LoRA weights stay fp32
        model, tok, fingerprint = load_model(model_name, dtype="bfloat16")
    else:
        model, tok, fingerprint = load_model(model_name, dtype="float32")  # fp32 master weights; bf16 via autocast

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.batch_size % world:
        raise ValueError(f"train_batch_size={cfg.batch_size}: allowed values are multiples of the {world} processes")
    set_seed(cfg.seed)
    tok.padding_side = "left"  # answers end every row: the LM head runs on the answer span only (answer_only_loss)
    data = Dataset.from_list([encode_pair(tok, p, a, cfg.max_len) for p, a in pairs])
    model = get_peft_model(model, LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                             target_modules=cfg.target_modules, task_type="CAUSAL_LM"))
    if cfg.gradient_checkpointing and cfg.quantize == "none":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if (tmp / "s2d_key").exists() and (tmp / "s2d_key").read_text() != key:
        shutil.rmtree(tmp, ignore_errors=True)  # checkpoints of another run (other pairs or recipe)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "s2d_key").write_text(key)
    micro, accum = micro_batches(cfg.batch_size // world, max(len(r) for r in data["input_ids"]))
    collator = DataCollatorForSeq2Seq(tok, label_pad_token_id=IGNORE, padding=True)
    if cfg.sharding == "fsdp":
        from .sharded import full_state_dict, train_sharded

        run = {**train_sharded(model, data, collator, cfg, answer_only_loss, bf16, micro, cfg.grad_accum * accum),
               "resumed_from_step": None}
        state, main_process = full_state_dict(model), int(os.environ.get("RANK", "0")) == 0
    else:
        resume = get_last_checkpoint(tmp)  # None, or the folder of the highest step
        before = float((tmp / "s2d_seconds").read_text()) if resume and (tmp / "s2d_seconds").exists() else 0.0
        args = TrainingArguments(
            output_dir=str(tmp), num_train_epochs=cfg.epochs, learning_rate=cfg.lr, per_device_train_batch_size=micro,
            gradient_accumulation_steps=cfg.grad_accum * accum, lr_scheduler_type="linear", logging_steps=1,
            save_strategy="steps", save_steps=10**9, save_total_limit=1,  # saves come from CheckpointEvery
            report_to=[], seed=cfg.seed, data_seed=cfg.seed, bf16=bf16, use_cpu=not torch.cuda.is_available(),
            remove_unused_columns=False, disable_tqdm=False, train_sampling_strategy="group_by_length",  # less padding
        )
        trainer = AnswerOnlyTrainer(model=model, args=args, train_dataset=data, data_collator=collator,
                                    callbacks=[CheckpointEvery(tmp, before)])
        result = trainer.train(resume_from_checkpoint=resume)
        run = {"steps": trainer.state.global_step, "train_seconds": before + result.metrics["train_runtime"],
               "resumed_from_step": int(Path(resume).name.split("-")[1]) if resume else None,
               "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}
        state, main_process = None, trainer.is_world_process_zero()
    # the arithmetic actually used: dtype "auto" trains in bf16 on one CPU and in fp32 on another under the same key
    precision = "nf4 base, bf16 compute" if cfg.quantize == "4bit" else "bf16 autocast" if bf16 else "fp32"
    record = {
        "key": key, "model": fingerprint, "n_pairs": len(pairs), "config": asdict(cfg), "precision": precision,
        "train_seconds": run["train_seconds"], "steps": run["steps"], "resumed_from_step": run["resumed_from_step"],
        "losses": run["losses"], "n_answer_tokens": sum(sum(l != IGNORE for l in row) for row in data["labels"]),
    }
    if main_process:
        for stale in (*tmp.glob("checkpoint-*"), tmp / "s2d_key", tmp / "s2d_seconds"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
        model.save_pretrained(tmp, state_dict=state)
        (tmp / "s2d_train.json").write_text(json.dumps(record, indent=1))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    return record


def check_hardware(cfg: LoraSFTConfig) -> None:
    """One line, before any model loads, where this machine cannot run what `cfg` asks for."""
    import importlib.util

    if cfg.quantize == "4bit" and not torch.cuda.is_available():
        raise ValueError("quantize='4bit': allowed values are none on a machine without a CUDA GPU (QLoRA's 4-bit "
                         "base weights run on bitsandbytes' GPU kernels)")
    if cfg.quantize == "4bit" and importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("quantize='4bit': bitsandbytes is not installed; install it with: pip install bitsandbytes")
    if cfg.sharding == "fsdp" and cfg.quantize == "4bit":
        raise ValueError("sharding='fsdp': allowed values are none with quantize='4bit' (QLoRA is the one-GPU option)")


def _flag(name: str) -> str:
    # --lora-r, not --r: torchrun would take --r as an abbreviation of its own options
    return f"lora-{name}" if name in ("r", "alpha", "dropout") else name.replace("_", "-")


def train_lora_isolated(model_name: str, pairs: list[tuple[str, str]], out_dir: str | Path, cfg: LoraSFTConfig,
                        processes: int = 1) -> dict:
    """`train_lora` in a child process (the command line below), or in `processes` of them under torchrun (DDP, or
    FSDP with `sharding="fsdp"`). Training the 1.5B peaks near 20 GB; in the notebook's own process that heap stays
    allocated and the next model load after it was OOM-killed at 24 GB. A child gives it all back when it exits."""
    import subprocess

    out_dir = Path(out_dir)
    if (done := trained_record(out_dir, run_key(model_name, pairs, cfg))) is not None:
        return done
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    pairs_file = out_dir.with_name(f"{out_dir.name}.pairs.jsonl")
    pairs_file.write_text("".join(json.dumps({"prompt": p, "answer": a}, ensure_ascii=False) + "\n" for p, a in pairs),
                          encoding="utf-8")
    flags = [x for f in fields(LoraSFTConfig) for x in (f"--{_flag(f.name)}", str(getattr(cfg, f.name)))]
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    subprocess.run([sys.executable, *launch, "-m", "s2dlib.distill", "--model", model_name, "--pairs", str(pairs_file),
                    "--out", str(out_dir), *flags], check=True, env={**MALLOC_ENV, **os.environ})
    return json.loads((out_dir / "s2d_train.json").read_text())


class PendingAdapter(os.PathLike):
    """An adapter whose training run finished on another machine (its record is archived, its weights are not): the
    completions archived from it are served under its training key, and it is trained here only when a generation
    misses them (`materialize`, called by the engine slot before it loads a model)."""

    def __init__(self, path: Path, key: str, train):
        self.path, self.key, self._train = Path(path), key, train

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def materialize(self) -> Path:
        if trained_record(self.path, self.key) is None:
            self._train()
        return self.path


def main(argv: list[str] | None = None) -> None:
    """Train one adapter from a JSONL file of pairs; the entry point `torchrun` / `accelerate launch` start."""
    ap = argparse.ArgumentParser(prog="python -m s2dlib.distill", description=main.__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", required=True, help="JSONL rows with prompt and answer")
    ap.add_argument("--out", required=True, help="adapter folder")
    for f in fields(LoraSFTConfig):
        kind = (lambda v: v.lower() in ("1", "true", "yes")) if isinstance(f.default, bool) else type(f.default)
        ap.add_argument(f"--{_flag(f.name)}", dest=f.name, type=kind, default=f.default)
    args = vars(ap.parse_args(argv))
    pairs = [(row["prompt"], row["answer"]) for _, row in read_jsonl(args.pop("pairs"))]
    model, out = args.pop("model"), args.pop("out")
    rec = train_lora(model, pairs, out, LoraSFTConfig(**args))
    if int(os.environ.get("RANK", "0")) == 0:
        losses = rec["losses"] or [float("nan")]
        print(f"{out}: {rec['steps']} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}, {rec['train_seconds']:.0f} s "
              f"(losses per step: {out}/s2d_train.json)", file=sys.stderr)  # a log line: reports keep the table


if __name__ == "__main__":
    main()
