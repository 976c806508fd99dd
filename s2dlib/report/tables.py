"""Tables in the paper's layout with the paper's numbers beside ours, and the tables of one run's detail."""
from __future__ import annotations

import pandas as pd

from ..evaluate import metric_suffix, rate
from ..paper import paper_numbers, verdict_metric
from .cells import _ci, _diff, _interval, _label, _words


def show(df: pd.DataFrame, precision: int = 1):
    """A table for people: no index column, numbers to `precision` decimals, blanks where a value is missing."""
    return df.style.hide(axis="index").format(precision=precision, na_rep="")


def paper_rows(table: str, task: str) -> pd.DataFrame:
    """The paper's rows for one table and task (system, metrics...); missing cells are NaN."""
    rows = paper_numbers()["tables"].get(table, {}).get("tasks", {}).get(task, [])
    return pd.DataFrame(rows)


def results_table(rows: list[dict], table: str = "", task: str = "", metrics: list[str] | None = None) -> pd.DataFrame:
    """Our rows (each metric with its CI and n; tokens, no-answer count, seconds) with the paper's values of the same
    metrics and tokens in labelled columns. `metrics` defaults to ["accuracy"]."""
    ours = pd.DataFrame(rows)
    out = pd.DataFrame({"System": ours["system"]})
    metrics = metrics or ["accuracy"]
    if "k" in ours:  # maj@k rows
        out["k"] = ours["k"].astype("Int64")
    if metrics[0] in ours:
        for m in metrics:
            sfx, words = metric_suffix(m), _words(m)
            accuracy = m.startswith("accuracy")  # accuracy columns keep their short names ("95% CI" for the first)
            out[f"Accuracy{words} %" if accuracy else f"{_label(m)} %"] = ours[m].round(1)
            ci = f"{words.strip().capitalize()} 95% CI".strip() if accuracy else f"{_label(m)} 95% CI"
            out[ci] = [_ci(lo, hi) for lo, hi in zip(ours[f"ci_low{sfx}"], ours[f"ci_high{sfx}"])]
        out["Tokens / input"] = ours["tokens"].round(1)
        out["No answer"] = ours["no_answer"].astype("Int64")
        cut = "capped_inputs" if "capped_inputs" in ours else "capped" if "capped" in ours else None  # older runs: capped
        if cut:  # inputs with a reply that stopped at a token cap (any step): an answer may be cut off
            out["Inputs cut off"] = ours[cut].astype("Int64")
        for key, col in (("vs_system1", "vs System 1 (paired)"), ("vs_system2", "vs System 2 (paired)")):
            if key in ours:  # the difference in points, paired bootstrap 95% CI, McNemar p (Experiment.compare)
                out[col] = [_diff(c) if isinstance(c, dict) else "" for c in ours[key]]
        for m in metrics:
            out[f"n{_words(m)}"] = ours[f"n{metric_suffix(m)}"].astype("Int64")  # e.g. swap_inconsistent: pairs
        out["Seconds / input"] = ours["wall_s_per_input"].round(2)
    out["Status"] = ours["status"]
    model = paper_numbers().get("model", "paper")
    paper = paper_rows(table, task)
    if not paper.empty:
        lookup = paper.set_index("system")
        for col in [*metrics, "tokens"]:
            label = (f"Paper tokens ({model})" if col == "tokens" else f"Paper acc{_words(col)} % ({model})"
                     if col.startswith("accuracy") else f"Paper {_label(col).lower()} % ({model})")
            if col in lookup:
                out[label] = [lookup[col].get(s) if s in lookup.index else None for s in out["System"]]
    return out


def systems_table(rows: list[dict], systems: list[str], task: str = "") -> pd.DataFrame:
    """`results_table` of `systems` alone, in that order, each with its maj@k rows (no paper columns): e.g. System 1.5
    between System 1, Distill CoT and CoT."""
    base = lambda r: r.get("base_system") or r["system"]  # noqa: E731  (a maj@k row's system)
    picked = sorted((r for r in rows if base(r) in systems), key=lambda r: (systems.index(base(r)), r.get("k") or 1))
    return results_table(picked, task=task)


def target_lengths(filters: list[dict]) -> pd.DataFrame:
    """Per filter that picks whole samples (System 1.5 and its control): problems kept (and dropped for want of an
    uncut sample) and the generated tokens of its targets, of all majority-consistent samples and of the average CoT
    sample, with how much shorter the targets are than that average (negative: longer)."""
    names = {"targets": "Targets", "filter": "Filter", "kept": "Problems kept",
             "capped_dropped": "Dropped: all cut off", "target_tokens": "Target tokens",
             "consistent_tokens": "Consistent-sample tokens", "tokens_per_sample": "Tokens per CoT sample"}
    picked = pd.DataFrame([f for f in filters if "target_tokens" in f], columns=list(names))
    shorter = (100 * (1 - picked["target_tokens"] / picked["tokens_per_sample"])).round(1)
    return picked.rename(columns=names).assign(**{"Targets shorter than a sample %": shorter})


def metric_breakdown(rows: list[dict], metrics: list[str]) -> pd.DataFrame:
    """One cell per system and metric, 'accuracy [CI]' (e.g. accuracy per kind of user opinion)."""
    def cell(r: dict, m: str) -> str:
        sfx = metric_suffix(m)
        return f"{r[m]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}"

    out = {r["system"]: {f"{_words(m).strip() or m} %": cell(r, m) for m in metrics if m in r}
           for r in rows if r.get("status") == "ok"}
    return pd.DataFrame.from_dict(out, orient="index")


def outcome_breakdown(rows: list[dict], groups: dict[str, list[int]], seed: int = 0) -> pd.DataFrame:
    """Accuracy [95% CI] of every scored system on groups of test inputs (a group's name -> its inputs' indices), read
    from each row's per-input outcomes: a task's own breakdown (last-letter by name length, coin flip by flips)."""
    groups = {name: idx for name, idx in groups.items() if idx}
    return pd.DataFrame([{"System": r["system"], **{f"{name} (n={len(idx)}) %": _cell(rate("accuracy", [
        r["outcomes"][i] for i in idx], seed)) for name, idx in groups.items()}}
        for r in rows if r.get("status") == "ok" and "outcomes" in r])


def _cell(r: dict) -> str:
    return f"{r['accuracy']:.1f} {_ci(r['ci_low'], r['ci_high'])}"


def seed_table(rows: list[dict], table: str) -> pd.DataFrame:
    """The rows trained with several seeds (`Experiment.evaluate_seeds`): per seed its accuracy [CI] on the table's
    verdict metric and its paired differences against System 1 and System 2."""
    metric = verdict_metric(table)
    sfx = metric_suffix(metric)
    runs = [r for r in rows if r.get("seed") is not None and r.get("status") == "ok" and metric in r]
    return pd.DataFrame([{"System": r.get("base_system", r["system"]), "Seed": r["seed"],
                          f"{_label(metric)} % [95% CI]": f"{r[metric]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}",
                          "vs System 1 (paired)": _diff(r["vs_system1"]) if isinstance(r.get("vs_system1"), dict) else "",
                          "vs System 2 (paired)": _diff(r["vs_system2"]) if isinstance(r.get("vs_system2"), dict) else ""}
                         for r in sorted(runs, key=lambda r: (r.get("base_system", r["system"]), r["seed"]))])


def variants_table(records: list[dict]) -> pd.DataFrame:
    """Prompt variants (`Experiment.evaluate_variants`): per system, accuracy [CI] on each wording and the share of
    inputs whose answer changes between wordings."""
    cells: dict[str, dict[str, str]] = {}
    for r in records:
        metric = "accuracy" if "accuracy" in r else "answer_changes"
        sfx = metric_suffix(metric)
        col = f"{r['variant']} %" if metric == "accuracy" else "answer changes between variants %"
        cells.setdefault(r["system"], {})[col] = f"{r[metric]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}"
    return pd.DataFrame([{"System": k, **v} for k, v in cells.items()])


def pilot_table(record: dict) -> pd.DataFrame:
    """A dev-split pilot's rows (benchmarks/pilot_rar.py): accuracy [CI] overall and per gold answer, yes-share,
    tokens and cut-off inputs per step."""
    out = []
    for r in record["rows"]:
        row = {"System": r["system"], "Accuracy % [95% CI]": f"{r['accuracy']:.1f} {_ci(r['ci_low'], r['ci_high'])}"}
        for m in ("accuracy_yes", "accuracy_no", "yes_share"):
            if m in r:
                row[f"{_label(m)} %"] = round(r[m], 1)
        row["Tokens / input"] = round(r["tokens"], 1)
        row.update({f"Cut off{k.removeprefix('capped_inputs').replace('_', ' ')}": v for k, v in r.items()
                    if k.startswith("capped_inputs")})
        out.append(row)
    return pd.DataFrame(out)


def router_table(router: dict) -> pd.DataFrame:
    """The router's sweep on the test set: threshold, share sent to System 2, accuracy [CI], tokens, Pareto, chosen."""
    rows = []
    for r in router.get("test", []):
        rows.append({"threshold": r["threshold"], "sent to System 2 %": r["sent_pct"], "accuracy %": r["accuracy"],
                     "95% CI": _ci(r["ci_low"], r["ci_high"]), "tokens": r["tokens"],
                     "Pareto-optimal": "yes" if r.get("pareto") else "",
                     "chosen on dev": "yes" if r["threshold"] == router.get("chosen_threshold") else ""})
    return pd.DataFrame(rows)


def recipe_table(recipe: dict) -> pd.DataFrame:
    """The LoRA recipe of the final adapters and how it was chosen (validation trials, when there were any)."""
    trials = pd.DataFrame(recipe.get("trials", []))
    if trials.empty:
        return pd.DataFrame([{"lr": recipe["lr"], "epochs": recipe["epochs"], "chosen by": recipe["chosen_by"]}])
    trials["chosen"] = (trials["lr"] == recipe["lr"]) & (trials["epochs"] == recipe["epochs"])
    if "val_ci_low" in trials:
        trials["val_accuracy"] = [_val_interval(t) for t in recipe["trials"]]
        trials = trials.drop(columns=["val_ci_low", "val_ci_high"])
        return trials.rename(columns={"val_accuracy": "validation accuracy [95% CI]"})
    return trials.rename(columns={"val_accuracy": "validation accuracy %"})


def _val_interval(trial: dict) -> str:
    return _interval({"accuracy": trial["val_accuracy"], "ci_low": trial["val_ci_low"], "ci_high": trial["val_ci_high"]})


def recipe_note(recipe: dict) -> str:
    """One sentence: which recipe the final adapters use, and whether validation separated it from the runner-up."""
    name = f"lr {recipe['lr']:g}, {recipe['epochs']:g} epochs"
    trials = recipe.get("trials") or []
    if not trials:
        return f"Recipe: {name} ({recipe['chosen_by']})."
    chosen = next(t for t in trials if (t["lr"], t["epochs"]) == (recipe["lr"], recipe["epochs"]))
    others = [t for t in trials if t is not chosen]
    note = f"Recipe: {name}, chosen by {recipe['chosen_by']}"
    if not others:
        return note + "."
    runner = max(others, key=lambda t: t["val_accuracy"])
    runner_name = f"lr {runner['lr']:g}, {runner['epochs']:g} epochs: {runner['val_accuracy']:.1f}%"
    if "val_ci_low" not in chosen:
        return f"{note}; runner-up {runner_name} (no interval recorded)."
    if runner["val_accuracy"] >= chosen["val_ci_low"]:
        return (f"{note}: {_val_interval(chosen)}; the runner-up ({runner_name}) lies inside that interval, so "
                f"validation did not separate them: the choice is the better point estimate (grid order breaks ties), "
                f"not a shown effect.")
    return f"{note}: it beats the runner-up ({runner_name}) beyond its 95% interval."


def _tail(text: str, width: int) -> str:
    """The end of a reply, at most `width` characters, cut at a word boundary ('…' marks the cut)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[-width:]
    return "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut


def answers_table(exp, n: int = 5, width: int = 80) -> pd.DataFrame:
    """Gold answer and each evaluated system's extracted answer (and the end of its text) for the first n test inputs."""
    rows = []
    for i, ex in enumerate(exp.test[:n]):
        row = {"question": ex.question, "gold": ex.answer}
        for label, out in exp.outputs.items():
            answer = out.answers[i][0]
            row[label] = f"{'(no answer)' if answer is None else answer}  «{_tail(out.texts[i][0], width)}»"
        rows.append(row)
    return pd.DataFrame(rows)


def worked_example(exp, i: int = 0) -> pd.DataFrame:
    """One test input with every system's full reply, System 2's intermediate text included (what step 1 wrote, as
    step 2 read it: the rephrasing, the S2A extraction), and the answer read from it."""
    ex = exp.test[i]
    return pd.DataFrame([{"system": label, "step 1 (what step 2 read)": out.first[i][0] if out.first else "",
                          "reply": out.texts[i][0], "answer read": out.answers[i][0], "gold": ex.answer}
                         for label, out in exp.outputs.items() if " pairs)" not in label])


def provenance_table(prov: dict) -> pd.DataFrame:
    """One row per recorded field: nested dicts as `key.sub`, a list of records (the sessions) one row per entry."""
    flat = {}
    for k, v in prov.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
            flat.update({f"{k}[{i}]": ", ".join(f"{kk}={vv}" for kk, vv in e.items()) for i, e in enumerate(v)})
        else:
            flat[k] = v
    return pd.DataFrame({"": list(flat), "value": ["" if v is None else str(v) for v in flat.values()]})
