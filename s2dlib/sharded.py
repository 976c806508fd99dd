"""Sharded LoRA training (`sharding="fsdp"`): torch FSDP2 (`fully_shard`) over every process of a torchrun launch.

Each process holds 1/N of the base weights, LoRA weights, gradients and optimiser states, so a model too large for one
device's memory trains over several (a 70B model in bf16 is ~140 GB). One loop for every device: nccl on GPUs, gloo on
CPUs (accelerate enables FSDP only on accelerators, so HF Trainer cannot run this path on a CPU, where the suite tests
it). The recipe is the Trainer path's: `answer_only_loss` normalised by the global batch's answer tokens, AdamW
(betas 0.9/0.999, eps 1e-8, no weight decay), linear decay to 0 without warm-up, gradients clipped at 1.0, bf16
autocast where the hardware has it. Data order differs (a shuffled `DistributedSampler`, not Trainer's length
grouping), so for one seed the adapter is not the Trainer path's, but it does not depend on the number of processes.
No mid-run checkpoints: a run killed before it ends starts again.
"""
from __future__ import annotations

import math
import os
import time

import torch


def shard(model) -> None:
    """FSDP2 units: each decoder layer (the classes HF names in `_no_split_modules`), then the rest as the root unit."""
    from torch.distributed.fsdp import fully_shard

    layer_types = set(getattr(model.get_base_model(), "_no_split_modules", None) or [])
    for module in model.modules():
        if type(module).__name__ in layer_types:
            fully_shard(module)
    fully_shard(model)


def train_sharded(model, data, collator, cfg, loss_fn, bf16: bool, micro: int, accum: int) -> dict:
    """Train the peft `model` in place over `data` (encoded pairs) with the Trainer path's `loss_fn(model, batch,
    n_items)`; returns steps, losses and seconds. `micro` rows per forward pass and `accum` passes per optimiser step
    on each process (`micro_batches`)."""
    import torch.distributed as dist
    from torch.utils.data import DataLoader, DistributedSampler

    for var, default in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29511"), ("RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(var, default)  # one process without torchrun: a group of one (nothing to shard)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
    model.to(device)
    shard(model)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data, batch_size=micro, sampler=sampler, collate_fn=collator)
    per_epoch = math.ceil(len(loader) / accum)
    total = math.ceil(cfg.epochs * per_epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: max(0.0, 1 - step / total))
    model.train()
    losses, step, start = [], 0, time.monotonic()

    while step < total:
        sampler.set_epoch(step // per_epoch)
        batches = list(loader)
        for first in range(0, len(batches), accum):
            group = [{k: v.to(device) for k, v in b.items()} for b in batches[first:first + accum]]
            items = torch.tensor(float(sum(int((b["labels"] != -100).sum()) for b in group)), device=device)
            dist.all_reduce(items)  # answer tokens of the global batch: every process normalises by the same count
            logged = torch.zeros((), device=device)
            for b in group:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = loss_fn(model, b, items)
                (loss * world).backward()  # FSDP averages gradients over processes; the loss is already global
                logged += loss.detach()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            dist.all_reduce(logged)
            losses.append(float(logged))
            step += 1
            if step >= total:
                break
    return {"steps": step, "losses": losses, "train_seconds": time.monotonic() - start, "world": world}


def full_state_dict(model) -> dict:
    """Every process takes part; rank 0 gets the full (unsharded) weights on the CPU, the others an empty dict."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
