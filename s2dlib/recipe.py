"""Beyond the five stages: the LoRA recipe chosen on a validation split of the training inputs (`choose_recipe`), and
the learning curve of a distilled model, its accuracy by training pairs (`learning_curve`). Both run an `Experiment`'s
distill and evaluate stages; the notebooks call them as its methods."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .evaluate import rate
from .filters import FilterResult


def choose_recipe(exp, targets: FilterResult) -> dict:
    """Pick lr x epochs (cfg.lr_grid x cfg.epochs_grid) on a validation split: the last cfg.n_val training inputs.
    Each candidate is trained on the targets of the other training inputs and scored, greedy, on the validation
    inputs' labels (labels used here only, never the test set). The final adapters then use the winner, trained
    on all training inputs. Without a grid the profile's recipe is kept and recorded as not tuned."""
    c = exp.cfg
    if not (c.n_val and (len(c.lr_grid) > 1 or len(c.epochs_grid) > 1)):
        return exp.recipe
    fit, val = list(range(len(exp.train) - c.n_val)), exp.train[-c.n_val :]
    trials = []
    for lr in c.lr_grid or [c.lr]:
        for epochs in c.epochs_grid or [c.epochs]:
            lora = replace(exp.lora, lr=lr, epochs=epochs)
            adapter = exp.distill(f"validation lr{lr:g} ep{epochs:g}", targets, only=fit, lora=lora)
            correct = []  # no adapter (nothing kept): NaN accuracy and interval
            if adapter is not None:
                out = exp.generate("system1", val, c.greedy(), adapter=adapter)
                # inputs without a known answer (a judge's unlabeled training pairs) are not scored
                correct = [exp.task.score(a[0], e) for a, e in zip(out.answers, val) if e.answer]
            score = rate("accuracy", correct, c.seed)
            trials.append({"lr": lr, "epochs": epochs, "val_accuracy": score["accuracy"],
                           "val_ci_low": score["ci_low"], "val_ci_high": score["ci_high"]})
    best = max((t for t in trials if t["val_accuracy"] == t["val_accuracy"]), key=lambda t: t["val_accuracy"],
               default=None)  # first of the best: grid order breaks ties
    if best is not None:
        exp.lora = replace(exp.lora, lr=best["lr"], epochs=best["epochs"])
    exp.recipe = {"chosen_by": f"validation accuracy on {c.n_val} training inputs (labels used only there)",
                  "lr": exp.lora.lr, "epochs": exp.lora.epochs, "trials": trials}
    return exp.recipe


def learning_curve(exp, label: str, targets: FilterResult, full_row: dict | None = None) -> list[dict]:
    """Accuracy of `label`'s distilled model trained on n of its kept pairs, for n in cfg.learning_curve (nested
    seeded subsets; sizes at or above the kept count are skipped) plus all kept pairs (`full_row`); none without
    cfg.learning_curve."""
    if not exp.cfg.learning_curve:
        return []
    kept = [i for i, t in enumerate(targets.targets) if t is not None]
    order = np.random.default_rng(exp.cfg.seed).permutation(kept).tolist()
    points = []
    for n in sorted(exp.cfg.learning_curve):
        if n >= len(kept):
            continue
        adapter = exp.distill(f"{label} ({n} pairs)", targets, only=order[:n])
        row = exp.score_system(f"{label} ({n} pairs)", "system1", adapter)[0]
        points.append({"curve": label, "n_pairs": n, **row})
    if full_row is not None and full_row.get("status") == "ok":
        points.append({"curve": label, "n_pairs": len(kept), **full_row})
    exp.curve = [p for p in exp.curve if p["curve"] != label] + points
    return points
