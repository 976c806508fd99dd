"""Whether a distilled model's gain holds up (issues 34-38): paired tests on the same test items (`compare`), the
subset of questions the model knows (`known_subset`), training seeds (`evaluate_seeds`, `seed_summary`) and prompt
variants (`evaluate_variants`). Each works on an `Experiment` after its rows are evaluated; the notebooks call them as
its methods."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .evaluate import paired_difference, rate
from .filters import FilterResult
from .paper import GOLD, roles, verdict_metric
from .tasks import source_of


def known_subset(exp, reference: str = "System 1") -> dict[str, list[int]]:
    """Add the task's subsets decided by `reference`'s outcomes (`Task.known_subsets`, e.g. the biased inputs of
    the questions System 1 answers right in their plain form) to every scored row, with CIs that resample
    questions. Call it after the rows are evaluated."""
    ref = next((r for r in exp.rows if r["system"] == reference and "outcomes" in r), None)
    if ref is None:
        raise ValueError(f"reference={reference!r}: allowed values are evaluated systems "
                         f"({', '.join(r['system'] for r in exp.rows if 'outcomes' in r)})")
    exp.known = exp.task.known_subsets(exp.test, ref["outcomes"])
    clusters = [source_of(e) for e in exp.test]
    for row in exp.rows:
        for metric, idx in exp.known.items():
            if "outcomes" in row:
                row.update(rate(metric, [row["outcomes"][i] for i in idx], exp.cfg.seed, [clusters[i] for i in idx]))
    return exp.known


def compare(exp, table: str) -> list[dict]:
    """Paired comparisons on the same test items (issue 36), on the table's verdict metric: every distilled row
    (a system that was trained) against the table's System 1 (`vs_system1`) and System 2 (`vs_system2`) rows, the
    gold-label ceiling also against the distilled row (`vs_distilled`), System 2 against System 1. Each is the
    difference in points with a paired bootstrap 95% CI over the marginal CIs' clusters and McNemar's exact p
    (`evaluate.paired_difference`). Call it after the rows (and `known_subset`) are evaluated."""
    role, metric = roles(table), verdict_metric(table)
    subsets = {**exp.task.metric_subsets(exp.test), **exp.known}
    idx = subsets.get(metric, list(range(len(exp.test))))
    clusters = [source_of(exp.test[i]) for i in idx]
    scored = {r["system"]: r for r in exp.rows if r.get("status") == "ok" and "outcomes" in r}
    trained = {t["system"] for t in exp.trainings}
    against = {"vs_system1": role["system1"], "vs_system2": role["system2"], "vs_distilled": role["distilled"]}
    done = []
    for row in exp.rows:
        name = row["system"]
        if name not in scored or not (name in trained or name == role["system2"]):
            continue
        keys = ("vs_system1",) if name not in trained else \
            ("vs_system1", "vs_system2", "vs_distilled") if name == GOLD else ("vs_system1", "vs_system2")
        for key in keys:
            other = against[key]
            if other in scored and other != name:
                row[key] = {"system": other, "metric": metric, **paired_difference(
                    [row["outcomes"][i] for i in idx], [scored[other]["outcomes"][i] for i in idx], clusters,
                    exp.cfg.seed)}
        done.append(row)
    return done


def compare_pairs(exp, pairs: list[tuple[str, str]]) -> list[dict]:
    """Paired differences a - b in accuracy on all test items for named rows that `compare`'s roles do not cover
    (e.g. System 1.5 against CoT at maj@5, or against its control), with `compare`'s paired bootstrap CI and
    McNemar's p. A pair naming a row that was not scored is left out. Kept as `exp.pairs` (the record's "pairs")."""
    scored = {r["system"]: r for r in exp.rows if r.get("status") == "ok" and "outcomes" in r}
    clusters = [source_of(e) for e in exp.test]
    exp.pairs = [{"a": a, "b": b, "metric": "accuracy", **paired_difference(
        scored[a]["outcomes"], scored[b]["outcomes"], clusters, exp.cfg.seed)}
        for a, b in pairs if a in scored and b in scored]
    return exp.pairs


def evaluate_seeds(exp, label: str, targets: FilterResult) -> list[dict]:
    """`label`'s distilled model trained again with every training seed of cfg.seeds (LoRA initialisation and data
    order; same pairs and recipe) and evaluated on the same test items, greedy. Rows "<label> (seed s)" carry
    `base_system` and `seed` (the run's own row gets `seed` too); `compare` gives each its paired tests and
    `seed_summary` the spread. The System 2 generations are not redone: only training depends on the seed."""
    main = next((r for r in exp.rows if r["system"] == label and r.get("status") == "ok"), None)
    if main is None:
        return []
    main["seed"] = exp.lora.seed
    rows = [main]
    for seed in (s for s in exp.cfg.seeds if s != exp.lora.seed):
        name = f"{label} (seed {seed})"
        adapter = exp.distill(name, targets, lora=replace(exp.lora, seed=seed))
        row = {**exp.score_system(name, "system1", adapter)[0], "base_system": label, "seed": seed}
        exp.record_row(row)
        rows.append(row)
    return rows


def seed_summary(exp, metric: str = "accuracy") -> dict[str, dict]:
    """Per system trained with several seeds (`evaluate_seeds`): each seed's `metric`, their mean, standard
    deviation and range, and whether every seed's paired CI against System 1 lies above 0."""
    out = {}
    for row in exp.rows:
        if row.get("seed") is None or "base_system" in row or metric not in row:
            continue
        runs = [row] + [r for r in exp.rows if r.get("base_system") == row["system"] and metric in r]
        values = [r[metric] for r in runs]
        beats = [r["vs_system1"]["ci_low"] > 0 for r in runs if isinstance(r.get("vs_system1"), dict)]
        out[row["system"]] = {"metric": metric, "seeds": [r["seed"] for r in runs], "values": values,
                              "mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1
                              else float("nan"), "min": float(min(values)), "max": float(max(values)),
                              "every_seed_beats_system1": bool(beats) and len(beats) == len(runs) and all(beats)}
    return out


def evaluate_variants(exp, systems: dict[str, str | Path | None]) -> list[dict]:
    """Direct systems (label -> adapter, None: the base model) on the task's prompt variants of every test input
    (`Task.prompt_variants`), greedy: accuracy per variant with its CI, and per system the share of test inputs
    whose answer changes between variants (`answer_changes`, with a CI). Empty when the task has no variants."""
    variants = [exp.task.prompt_variants(e) for e in exp.test]
    names = list(variants[0]) if variants and variants[0] else []
    norm = lambda a: None if a is None else exp.task.normalize(a)  # noqa: E731
    records = []
    for label, adapter in systems.items():
        answers = {}
        for name in names:
            examples = [replace(e, question=v[name]) for e, v in zip(exp.test, variants)]
            answers[name] = [a[0] for a in exp.generate("system1", examples, exp.cfg.greedy(), adapter).answers]
            correct = [exp.task.score(a, e) for a, e in zip(answers[name], exp.test)]
            records.append({"system": label, "variant": name, **rate("accuracy", correct, exp.cfg.seed)})
        changes = [len({norm(answers[n][i]) for n in names}) > 1 for i in range(len(exp.test))]
        records.append({"system": label, "variant": "answer changes between variants",
                        **rate("answer_changes", changes, exp.cfg.seed)})
    exp.variants = records
    return records
