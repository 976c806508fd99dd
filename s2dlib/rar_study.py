"""The stages both Table 1 notebooks run (2-step Rephrase-and-Respond distillation: rar_last_letter, rar_coin_flip), one
call each on an `Experiment`: System 2's settings from the dev pilot, generation on the unlabeled training inputs, the
label-free filter, distillation, evaluation of the paper's rows, training seeds, the learning curve, the confidence
router, and the results in the paper's layout. Each notebook adds its task's own analysis between them.

Which optional rows run is the config's (`distill_system1`, `no_filter_ablation`, `gold_ceiling`, `seeds`,
`learning_curve`, `router_k`); every stage is timed under its name in the run log."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .filters import FilterResult
from .methods import MethodOutput
from .paper import GOLD
from .report import pilot_table, results_table, seed_table, verdict

TABLE = "table1"
SYSTEM2 = "rar_2step"  # the method whose answers are distilled
DISTILLED = "Distill 2-step RaR"
PILOTS = Path("reports/pilots")  # dev-split pilots (benchmarks/pilot_rar.py), one JSON per notebook


def pilot(exp) -> tuple[str, list[pd.DataFrame]]:
    """What the dev pilot that chose System 2's settings (caps, answering style, sampling) found, in words and tables;
    the test set never chooses anything. Without a pilot file: a line saying the profile's settings were not chosen so."""
    path = PILOTS / f"{exp.name}.json"
    if not path.exists():
        return f"no pilot for this notebook ({path}): the profile's settings were not chosen by one", []
    p = json.loads(path.read_text())
    lines = [f"pilot: {p['profile']} profile, {p['inputs']}, {p['started_utc']}, {p['cpu']['model']}",
             f"chosen: {p['chosen']}", *(f"  {k}: {why}" for k, why in p["chosen_by"].items()),
             "complete" if p.get("complete") else "INCOMPLETE: the pilot stopped before its last step",
             f"step 1 (rephrasing) lengths: {p.get('step1')}"]
    c = exp.cfg
    if c.max_new_tokens_eval:  # set in the profile after a run: say it beside the pilot's choice
        lines.append(f"this run: System 2 answers held-out inputs (test, dev) with max_new_tokens_eval = "
                     f"{c.max_new_tokens_eval}; training targets keep max_new_tokens = {c.max_new_tokens} "
                     "(the profile's comment says why)")
    tables = ([pilot_table(p)] if p.get("rows") else []) + ([pd.DataFrame(p["sampling"])] if p.get("sampling") else [])
    return "\n".join(lines), tables


def generate(exp, train: list) -> dict[str, MethodOutput]:
    """N sampled answers per unlabeled training input: System 1's (for the Distill System 1 row) and 2-step RaR's."""
    with exp.stage("generate"):
        samples = {"System 1": exp.generate("system1", train, exp.cfg.sampling())} if exp.cfg.distill_system1 else {}
        samples["2-step RaR"] = exp.generate(SYSTEM2, train, exp.cfg.sampling())
    return samples


def filter_targets(exp, samples: dict[str, MethodOutput]) -> dict[str, FilterResult]:
    """Training targets by distilled row: each system's self-consistent answers (no labels), the first sample of every
    input unfiltered (the filter's ablation), and the true answers (ORACLE: a ceiling, not a method of the paper)."""
    c = exp.cfg
    with exp.stage("filter"):
        targets = {"Distill System 1": exp.filter("System 1", samples["System 1"])} if "System 1" in samples else {}
        targets[DISTILLED] = exp.filter("2-step RaR", samples["2-step RaR"])
        if c.no_filter_ablation:
            targets[f"{DISTILLED} (no filter)"] = exp.filter("2-step RaR", samples["2-step RaR"], "none")
        if c.gold_ceiling:
            targets[GOLD] = exp.gold_targets()
    return targets


def distill(exp, targets: dict[str, FilterResult]) -> dict[str, Path | None]:
    """The LoRA recipe chosen on a validation split of the training inputs (when the profile gives a grid), then one
    adapter per distilled row (None where the filter kept nothing)."""
    with exp.stage("distill"):
        exp.choose_recipe(targets[DISTILLED])
        return {label: exp.distill(label, fr) for label, fr in targets.items()}


def evaluate(exp, adapters: dict[str, Path | None]) -> None:
    """Table 1's rows on the held-out test inputs, greedy: System 1, 1-step and 2-step RaR, every distilled model."""
    with exp.stage("evaluate"):
        exp.evaluate("System 1", "system1")
        exp.evaluate("1-step RaR", "rar_1step")
        exp.evaluate("2-step RaR", SYSTEM2)
        for label, adapter in adapters.items():
            exp.evaluate(label, "system1", adapter=adapter, trained=adapter is not None)


def seeds(exp, targets: dict[str, FilterResult], adapters: dict[str, Path | None]) -> str:
    """The rows a verdict rests on, trained again with every seed of `seeds` and scored on the same test items."""
    with exp.stage("seeds"):
        for label in (DISTILLED, f"{DISTILLED} (no filter)", GOLD):
            if exp.cfg.seeds and adapters.get(label):
                exp.evaluate_seeds(label, targets[label])
    return f"seeds: {exp.cfg.seeds}" if exp.cfg.seeds else "one training seed (seeds: [] in the profile)"


def learning_curve(exp, targets: dict[str, FilterResult]) -> list[dict]:
    """Distill 2-step RaR and the ceiling on nested subsets of their kept pairs (`learning_curve`)."""
    with exp.stage("learning curve"):
        for label in (label for label in (DISTILLED, GOLD) if label in targets):
            exp.learning_curve(label, targets[label], next((r for r in exp.rows if r["system"] == label), None))
    return exp.curve


def router(exp, adapters: dict[str, Path | None]) -> dict:
    """The confidence router between Distill 2-step RaR and 2-step RaR ({} without a distilled model or router_k)."""
    with exp.stage("router"):
        return exp.evaluate_router(adapters[DISTILLED], SYSTEM2) if adapters.get(DISTILLED) else {}


def results(exp, metrics: list[str] | None = None) -> tuple[str, pd.DataFrame, pd.DataFrame | None]:
    """Paired differences on the same test items, then the verdict on the paper's claim, Table 1 with the paper's
    numbers beside ours (on `metrics`, default accuracy) and, with several training seeds, each seed's row."""
    exp.compare(TABLE)
    return (verdict(exp.rows, TABLE), results_table(exp.rows, TABLE, exp.cfg.task, metrics=metrics),
            seed_table(exp.rows, TABLE) if exp.cfg.seeds else None)


def save(exp, metrics_path: str | None) -> dict:
    """The machine-readable record (`Experiment.save_metrics`) under Table 1 with 2-step RaR as System 2."""
    return exp.save_metrics(metrics_path, table=TABLE, system2=SYSTEM2)
