"""Tables in the paper's layout with the paper's numbers beside ours, the accuracy-vs-tokens figure, provenance."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .evaluate import metric_suffix
from .paper import GOLD, paper_numbers, verdict_metric


def show(df: pd.DataFrame, precision: int = 1):
    """A table for people: no index column, numbers to `precision` decimals, blanks where a value is missing."""
    return df.style.hide(axis="index").format(precision=precision, na_rep="")


def paper_rows(table: str, task: str) -> pd.DataFrame:
    """The paper's rows for one table and task (system, metrics...); missing cells are NaN."""
    rows = paper_numbers()["tables"].get(table, {}).get("tasks", {}).get(task, [])
    return pd.DataFrame(rows)


def _ci(lo, hi) -> str:
    return f"[{lo:.1f}, {hi:.1f}]" if pd.notna(lo) else ""


def _words(metric: str) -> str:
    """'accuracy_suggest_incorrect' -> ' suggest incorrect' (the part after the base metric), '' for 'accuracy'."""
    return metric_suffix(metric).replace("_", " ")


def _label(metric: str) -> str:
    """Column name of a metric: 'accuracy_biased' -> 'Accuracy biased', 'swap_inconsistent' -> 'Swap inconsistent'."""
    return metric.replace("_", " ").capitalize()


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


def metric_breakdown(rows: list[dict], metrics: list[str]) -> pd.DataFrame:
    """One cell per system and metric, 'accuracy [CI]' (e.g. accuracy per kind of user opinion)."""
    def cell(r: dict, m: str) -> str:
        sfx = metric_suffix(m)
        return f"{r[m]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}"

    out = {r["system"]: {f"{_words(m).strip() or m} %": cell(r, m) for m in metrics if m in r}
           for r in rows if r.get("status") == "ok"}
    return pd.DataFrame.from_dict(out, orient="index")


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


def plot_accuracy_vs_tokens(rows: list[dict], table: str = "", task: str = "", ax=None, metric: str = "accuracy"):
    """`metric` against mean generated tokens per input (log x), ours with CI bars; paper points where both are known.
    maj@k rows are drawn as one line per system through its k points, each labelled maj@k."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ours = pd.DataFrame([r for r in rows if r.get("status") == "ok"])
    lo, hi = f"ci_low{metric_suffix(metric)}", f"ci_high{metric_suffix(metric)}"
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    if not ours.empty:
        ours["source"] = "ours"
        if "k" in ours:
            sns.lineplot(data=ours, x="tokens", y=metric, hue="base_system", marker="o", markersize=9, estimator=None,
                         ax=ax)
            for k, x, y in zip(ours["k"], ours["tokens"], ours[metric]):
                ax.annotate(f"maj@{k}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
        else:
            sns.scatterplot(data=ours, x="tokens", y=metric, hue="system", s=90, ax=ax)
            _annotate(ax, ours["system"], ours["tokens"], ours[metric])
        ax.errorbar(ours["tokens"], ours[metric], yerr=[ours[metric] - ours[lo], ours[hi] - ours[metric]],
                    fmt="none", ecolor="grey", alpha=0.5)
    paper = paper_rows(table, task)
    if metric in paper:
        paper = paper.dropna(subset=[metric])
        placed = paper.dropna(subset=["tokens"]) if "tokens" in paper else paper.iloc[:0]
        ax.scatter(placed["tokens"], placed[metric], marker="x", color="black", label="paper (Llama-2-70B-chat)")
        for system, x, y in zip(placed["system"], placed["tokens"], placed[metric]):
            ax.annotate(f"{system} (paper)", (x, y), xytext=(4, -10), textcoords="offset points", fontsize=7)
        for system, y in zip(paper["system"], paper[metric]):  # no token count known: a level, not a point
            if system not in set(placed["system"]):
                ax.axhline(y, ls=":", lw=1, color="black", alpha=0.5)
                ax.annotate(f"paper: {system} {y:g}%", (0.01, y), xycoords=("axes fraction", "data"),
                            xytext=(0, 2), textcoords="offset points", fontsize=7, alpha=0.7)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_plain_log_formatter())
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel("mean generated tokens per input (log)")
    ax.set_ylabel(f"accuracy{_words(metric)} % (test), 95% CI")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_learning_curve(curve: list[dict], ax=None):
    """Accuracy (95% CI bars) of each distilled model against the kept training pairs it was trained on (log x)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = pd.DataFrame([p for p in curve if p.get("status") == "ok"])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    if df.empty:
        ax.text(0.5, 0.5, "no learning-curve point (learning_curve is empty or the filter kept too few)", ha="center")
        ax.axis("off")
        return ax
    sns.lineplot(data=df, x="n_pairs", y="accuracy", hue="curve", marker="o", estimator=None, ax=ax)
    for _, g in df.groupby("curve"):
        ax.errorbar(g["n_pairs"], g["accuracy"], yerr=[g["accuracy"] - g["ci_low"], g["ci_high"] - g["accuracy"]],
                    fmt="none", ecolor="grey", alpha=0.6, capsize=3)
    ax.set_xscale("log")
    ax.set_xticks(sorted(df["n_pairs"].unique()), labels=[str(n) for n in sorted(df["n_pairs"].unique())])
    ax.minorticks_off()
    ax.set_xlabel("training pairs (log)")
    ax.set_ylabel("accuracy % (test), 95% CI")
    ax.set_ylim(-2, 102)
    ax.legend(title=None, fontsize=8)
    return ax


def router_table(router: dict) -> pd.DataFrame:
    """The router's sweep on the test set: threshold, share sent to System 2, accuracy [CI], tokens, Pareto, chosen."""
    rows = []
    for r in router.get("test", []):
        rows.append({"threshold": r["threshold"], "sent to System 2 %": r["sent_pct"], "accuracy %": r["accuracy"],
                     "95% CI": _ci(r["ci_low"], r["ci_high"]), "tokens": r["tokens"],
                     "Pareto-optimal": "yes" if r.get("pareto") else "",
                     "chosen on dev": "yes" if r["threshold"] == router.get("chosen_threshold") else ""})
    return pd.DataFrame(rows)


def plot_router(rows: list[dict], router: dict, ax=None):
    """Accuracy against tokens per input (log x): the systems of the results table with CI bars, and the router's
    curve over its thresholds, Pareto-optimal router points filled and the dev-chosen one ringed."""
    import matplotlib.pyplot as plt

    ax = plot_accuracy_vs_tokens([r for r in rows if not r["system"].startswith("Router")], ax=ax)
    curve = pd.DataFrame(router.get("test", [])).sort_values("tokens")
    if curve.empty:
        return ax
    ax.plot(curve["tokens"], curve["accuracy"], "-", color="black", lw=1, label="router (threshold sweep)")
    front = curve[curve["pareto"]]
    ax.scatter(front["tokens"], front["accuracy"], color="black", s=25, zorder=3, label="router, Pareto-optimal")
    rest = curve[~curve["pareto"]]
    ax.scatter(rest["tokens"], rest["accuracy"], facecolor="white", edgecolor="black", s=25, zorder=3)
    for t, x, y in zip(curve["threshold"], curve["tokens"], curve["accuracy"]):
        ax.annotate(f"t={t:.2f}", (x, y), xytext=(3, -9), textcoords="offset points", fontsize=6)
    chosen = curve[curve["threshold"] == router.get("chosen_threshold")]
    ax.scatter(chosen["tokens"], chosen["accuracy"], facecolor="none", edgecolor="red", s=160, lw=1.5, zorder=4,
               label="router, threshold chosen on dev")
    ax.legend(fontsize=7, loc="best")
    plt.setp(ax.get_legend().get_texts(), fontsize=7)
    return ax


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


MIN_GAIN = {"table1": 20.0}  # issue 14's criterion for RaR; elsewhere any gain with separated intervals
NEGATIVE = {"table5"}  # tables where the paper reports that distillation fails (CoT on GSM8K)
# A ceiling counts only if it also rises where the input gives no cue (a control metric): on Table 2 the training
# opinions name the true answer in 2 of 3 templates, so true answers can teach "repeat the user's answer".
CONTROL = {"table2": ("accuracy_unbiased", "the training opinions name the true answer in 2 of 3 templates, so it learns "
                                           "to repeat the answer the user names, not the task")}
# A judge that names the same position every time scores this much: each pair is judged in both orders, so the right
# position alternates (gold verdicts here are A or B, never tie). A distilled judge must clear it (its CI above it), or
# it has learnt a position, not a verdict.
FLOOR = {"table4": (50.0, "the constant-position level", "every pair is judged in both orders, so always naming the "
                                                          "same position scores 50%")}
PILOT_N = 50  # fewer test inputs than this: the verdict says the run is a pilot


def _interval(r: dict, metric: str = "accuracy") -> str:
    sfx = metric_suffix(metric)
    return f"{r[metric]:.1f}% [{r[f'ci_low{sfx}']:.1f}, {r[f'ci_high{sfx}']:.1f}]"


def _above(a: dict, b: dict, metric: str) -> bool:
    """a's 95% CI of `metric` lies entirely above b's (separated intervals)."""
    sfx = metric_suffix(metric)
    return a[f"ci_low{sfx}"] > b[f"ci_high{sfx}"]


LEVEL = 10.0  # points: "level with" needs the paired 95% CI of the difference inside +-LEVEL


def _paired(a: dict, key: str, metric: str) -> dict | None:
    """a's paired comparison `key` (vs_system1 / vs_system2 / vs_distilled, `Experiment.compare`) on `metric`, if any."""
    cmp = a.get(key)
    return cmp if isinstance(cmp, dict) and cmp.get("metric") == metric else None


def _diff(cmp: dict) -> str:
    return f"{cmp['diff']:+.1f} points [{cmp['ci_low']:+.1f}, {cmp['ci_high']:+.1f}], McNemar p={cmp['p']:.2g}"


def _beats(a: dict, b: dict, key: str, metric: str) -> bool:
    """a beats b: the paired 95% CI of the difference lies above 0; without item outcomes (older runs), a's marginal
    CI lies above b's."""
    cmp = _paired(a, key, metric)
    return cmp["ci_low"] > 0 if cmp else _above(a, b, metric)


def _versus(a: dict, name: str, key: str, metric: str) -> str:
    """'beats' / 'is below' / 'is level with' / 'is not shown different from' `name`, by the paired CI (issue 36)."""
    cmp = _paired(a, key, metric)
    if cmp is None:
        return ""
    word = ("beats" if cmp["ci_low"] > 0 else "is below" if cmp["ci_high"] < 0 else
            "is level with" if -LEVEL <= cmp["ci_low"] and cmp["ci_high"] <= LEVEL else "is not shown different from")
    return f"{word} {name} ({_diff(cmp)})"


def verdict(rows: list[dict], table: str, metric: str | None = None) -> str:
    """The paper's claim for `table`, checked on our rows in words. The distilled model 'works' when it beats System 1
    by at least MIN_GAIN points (0 unless set) with a paired 95% CI of the difference above 0 (on the same test items;
    runs without item outcomes fall back to separated marginal CIs) while generating <= 10% of System 2's tokens; for
    the paper's claim that is REPRODUCED, for a negative-result table (NEGATIVE) the paper's failure is reproduced when
    System 2 beats System 1 and the distilled model does not. "Level with" System 2 needs the paired CI inside
    +-LEVEL points. The gold-label ceiling, when present, says whether System 1 can learn the task at this size at all:
    its row trained on all pairs counts; the learning curve stays descriptive (picking its best point would choose on
    the test set). Roles and metric: paper_numbers.json (`verdict_metric` where a table sets one)."""
    role = paper_numbers()["row_roles"][table]
    metric = metric or verdict_metric(table)
    system1, system2, distilled = role["system1"], role["system2"], role["distilled"]
    by = {r["system"]: r for r in rows if r.get("status") == "ok" and metric in r}
    if system1 not in by or distilled not in by:
        return f"Not decidable: {system1!r} or {distilled!r} has no {metric} result in this run."
    sfx, min_gain = metric_suffix(metric), MIN_GAIN.get(table, 0.0)
    s1, d, s2, gold = by[system1], by[distilled], by.get(system2), by.get(GOLD)
    paired = _paired(d, "vs_system1", metric) is not None
    gain, separated = d[metric] - s1[metric], _beats(d, s1, "vs_system1", metric)
    seeds = [d] + [r for r in by.values() if r.get("base_system") == distilled and "seed" in r]
    if len(seeds) > 1:  # the claim must hold for the seeds' mean and for every seed's paired test (issue 36)
        gain = sum(r[metric] for r in seeds) / len(seeds) - s1[metric]
        separated = all(_beats(r, s1, "vs_system1", metric) for r in seeds)
    cheap = s2 is not None and d["tokens"] <= 0.1 * s2["tokens"]
    floor, floor_short, floor_why = FLOOR.get(table, (None, "", ""))
    floor_name = f"{floor_short} ({floor_why})"  # its first mention explains it
    over_floor = floor is None or d[f"ci_low{sfx}"] > floor
    works = gain >= min_gain and separated and cheap and over_floor
    parts = [f"{system1} {_interval(s1, metric)}; {distilled} {_interval(d, metric)} at {d['tokens']:.0f} tokens per input"]
    if s2 is not None:
        parts.append(f"{system2} {_interval(s2, metric)} at {s2['tokens']:.0f} tokens")
    if gold is not None:
        parts.append(f"the gold-label ceiling {_interval(gold, metric)}")
    facts = f"{metric}: " + "; ".join(parts) + "."
    compared = [c for c in (_versus(d, system1, "vs_system1", metric), _versus(d, system2, "vs_system2", metric)) if c]
    if compared:
        facts += f" Paired on the same test items, {distilled} " + " and ".join(compared) + "."
    if len(seeds) > 1:
        values, each = [r[metric] for r in seeds], ", ".join(f"seed {r['seed']}: {r[metric]:.1f}%" for r in seeds)
        beaten = sum(_beats(r, s1, "vs_system1", metric) for r in seeds)
        facts += (f" Over {len(seeds)} training seeds ({each}): mean {sum(values) / len(values):.1f}%, range "
                  f"{min(values):.1f}-{max(values):.1f}; {beaten} of {len(seeds)} seeds beat {system1} in their paired test.")
    why = []
    control, cue = CONTROL.get(table, (None, ""))
    if gold is not None and control in gold and control in s1 and not _above(gold, s1, control):
        why.append(f"the gold-label ceiling does not rise on {control} ({_interval(gold, control)} vs System 1 "
                   f"{_interval(s1, control)}): {cue}; it bounds nothing here")
    elif gold is not None:
        if floor is not None and gold[f"ci_low{sfx}"] <= floor:
            why.append(f"the gold-label ceiling ({_interval(gold, metric)}) does not clear {floor_name}: trained on true "
                       "verdicts, the direct judge learns a position, not a verdict, so at this size it bounds nothing "
                       "and cannot tell whether better targets would help")
            floor_name = floor_short
        elif not _beats(gold, s1, "vs_system1", metric):
            why.append("even the gold-label ceiling does not beat System 1, so at this size the model does not learn "
                       "the task from direct answers at all; the targets are not the bottleneck")
        elif _beats(gold, d, "vs_distilled", metric):
            why.append("the ceiling beats System 1 and the distilled model, so System 1 can learn the task at this "
                       "size: the System 2 targets (or how many the filter kept) are what falls short")
        else:
            why.append("the ceiling beats System 1 but not the distilled model, so the System 2 targets teach about as "
                       "much as true answers: what System 1 learns from this many pairs with this recipe is the "
                       "bottleneck, not the targets")
    if not over_floor:
        position = (f"; it is swap-inconsistent on {d['swap_inconsistent']:.0f}% of pairs"
                    if "swap_inconsistent" in d else "")
        gained = ": its gain over System 1 is not a judgment" if gain > 0 else ""
        why.append(f"{distilled} does not clear {floor_name}{gained}{position}")
        if s1[f"ci_high{sfx}"] < floor:
            why.append("System 1 itself lies below that level, so beating it proves nothing")
    failing = [str(r["seed"]) for r in seeds if len(seeds) > 1 and not _beats(r, s1, "vs_system1", metric)]
    if failing:
        why.append(f"with seed {', '.join(failing)} the distilled model does not beat {system1}: the effect depends on "
                   "the training seed")
    s2_separated = s2 is not None and _beats(s2, s1, "vs_system1", metric)
    if s2 is not None and not s2_separated:
        why.append(f"{system2} itself does not beat System 1")
    joined = "; ".join(why)
    reasons = f" {joined[:1].upper()}{joined[1:]}." if why else ""
    n = d.get(f"n{sfx}")
    if n is not None and n < PILOT_N:  # a percentile bootstrap over a handful of inputs is rough, whatever it says
        reasons += f" Only {n} test inputs: a pilot, not a result."
    criterion = (f">= {min_gain:g} points over System 1" if min_gain else "above System 1") + \
        (", paired 95% CI of the difference above 0" if paired else ", separated 95% CIs (no item outcomes)") + \
        ", <= 10% of System 2's tokens" + (f", CI above {floor:g}%" if floor is not None else "")
    if table in NEGATIVE:
        head = ("NEGATIVE RESULT NOT REPRODUCED: the distilled model works here" if works else
                "PAPER'S NEGATIVE RESULT REPRODUCED: System 2 beats System 1, the distilled model does not"
                if s2_separated and not separated else
                "NOT DECIDABLE: System 2 does not beat System 1" if not s2_separated else
                "PARTIAL: the distilled model beats System 1 but misses the token criterion")
        return f"{head} (distillation works when {criterion}): {facts}{reasons}"
    if works:
        return f"REPRODUCED: {facts} The distilled model gains {gain:.1f} points over System 1."
    head = "PARTIAL" if gain > 0 and separated and over_floor else "NOT REPRODUCED"
    return f"{head} (criterion: {criterion}): {facts}{reasons}"


def verdicts(exps: pd.DataFrame, table: str) -> str:
    """One verdict line per experiment of `table` that ran (`verdict`), for the summary."""
    done = exps[(exps.paper_table == table) & (exps.status == "ok")]
    return "\n\n".join(f"**{e.task}**: {verdict(e.metrics['rows'], table)}"
                       for _, e in done.iterrows()) or \
        "No experiment of this table has run."


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


# ---- study summary (reads recorded metrics; recomputes nothing) ------------------------------------------------
def experiments(reports: str | Path) -> pd.DataFrame:
    """One row per expected experiment (every paper table/task) with its status: ok / failed / not run."""
    reports = Path(reports)
    runs_file = reports / "runs.json"
    runs = {r["notebook"]: r for r in json.loads(runs_file.read_text())["results"]} if runs_file.exists() else {}
    rows = []
    for table, tasks in paper_numbers()["notebooks"].items():
        for task, nb in tasks.items():
            mfile = reports / f"{nb}.metrics.json"
            run = runs.get(nb, {})
            status = run.get("status") or ("ok" if mfile.exists() else "not run")
            if status == "ok" and not mfile.exists():
                status = "failed"
            m = json.loads(mfile.read_text()) if mfile.exists() and status == "ok" else None
            # a run resumed or re-rendered from its cache costs what all its sessions took, not the last command
            prov = (m or {}).get("provenance", {})
            wall = prov.get("sessions_wall_s") or run.get("wall_s", prov.get("wall_s"))
            rows.append({"notebook": nb, "paper_table": table, "task": task, "status": status,
                         "error": run.get("error"), "wall_s": wall, "metrics": m})
    return pd.DataFrame(rows)


def paper_notebooks() -> set[str]:
    """The notebooks that some paper table maps (paper_numbers.json)."""
    return {nb for tasks in paper_numbers()["notebooks"].values() for nb in tasks.values()}


def other_experiments(reports: str | Path) -> dict[str, dict]:
    """Recorded metrics of notebooks that no paper table maps (a user's own method or task), by notebook name."""
    records = {f.name.removesuffix(".metrics.json"): f for f in sorted(Path(reports).glob("*.metrics.json"))}
    return {name: json.loads(f.read_text()) for name, f in records.items() if name not in paper_notebooks()}


def other_results(record: dict) -> pd.DataFrame:
    """`results_table` of an experiment outside the paper's tables, on every metric its rows carry a CI for."""
    rows = [r for r in record["rows"] if r.get("status") == "ok"]
    plain = {"system", "status", "tokens", "n", "no_answer", "capped", "capped_inputs", "capped_samples", "k",
             "base_system", "threshold", "sent_pct", "outcomes", "vs_system1", "vs_system2", "vs_distilled"}
    metrics = [k for k in (rows[0] if rows else {}) if k not in plain and not k.startswith(("ci_", "n_"))
               and f"ci_low{metric_suffix(k)}" in rows[0]]
    return results_table(record["rows"], metrics=metrics or None)


def _metrics(e) -> dict:
    """An experiment row's recorded metrics ({} when not run or failed; pandas turns a missing dict into NaN)."""
    return e.metrics if isinstance(e.metrics, dict) else {}


def glance_table(exps: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment that ran: System 1, System 2, the distilled model and the gold-label ceiling on the
    table's verdict metric (% [95% CI], tokens), the distilled model's paired difference with System 1, its seed
    spread, the verdict's head word and the paper's System 1 / distilled numbers (labelled as the paper's)."""
    out = []
    for _, e in exps[exps.status == "ok"].iterrows():
        table, m = e.paper_table, _metrics(e)
        metric, role = verdict_metric(table), paper_numbers()["row_roles"][table]
        sfx = metric_suffix(metric)
        rows = {r["system"]: r for r in m.get("rows", []) if r.get("status") == "ok" and metric in r}
        paper = {r["system"]: r for r in paper_numbers()["tables"][table]["tasks"].get(e.task, [])}
        pmetric = paper_numbers()["tables"][table]["metric"]

        def cell(name, tokens=True):
            r = rows.get(name)
            if r is None:
                return ""
            return f"{r[metric]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}" + (f", {r['tokens']:.0f} tok" if tokens else "")

        d = rows.get(role["distilled"], {})
        prov = m.get("provenance", {})
        out.append({"paper table": table.replace("table", ""), "task": e.task, "metric": metric,
                    "run": f"{prov.get('profile', '')}, {prov.get('n_test', '')} test / {prov.get('n_train', '')} train"
                           + (" judgments" if e.task == "pairwise_judge" else ""),
                    "System 1": cell(role["system1"]),
                    "System 2": f"{role['system2']}: {cell(role['system2'])}" if role["system2"] in rows else "",
                    "distilled": cell(role["distilled"]), "paired vs System 1": _paired_cell(d.get("vs_system1")) or "",
                    "seeds": _seed_cell(m.get("seeds", {}).get(role["distilled"])) or "1",
                    "gold-label ceiling": cell(GOLD, tokens=False),
                    "verdict": verdict(m.get("rows", []), table).split(":")[0].split(" (")[0],
                    f"paper's System 1 / distilled ({paper_numbers()['model']})": " / ".join(
                        "?" if paper.get(s, {}).get(pmetric) is None else f"{paper[s][pmetric]:g}"
                        for s in (role["system1"], role["distilled"])) + f" ({pmetric})"})
    return pd.DataFrame(out)


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (the README's glance table is written from `glance_table`)."""
    cells = lambda row: "| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"  # noqa: E731
    return "\n".join([cells(df.columns), cells(["---"] * len(df.columns)), *(cells(r) for r in df.itertuples(index=False))])


def comparison_table(exps: pd.DataFrame, table: str) -> pd.DataFrame:
    """Paper table `table`: per task and system, our metric with CI and tokens beside the paper's values."""
    spec = paper_numbers()["tables"][table]
    metric, model = spec["metric"], paper_numbers()["model"]
    out = []
    for _, e in exps[exps.paper_table == table].iterrows():
        ours = {r["system"]: r for r in _metrics(e).get("rows", [])}
        paper = {r["system"]: r for r in spec["tasks"].get(e.task, [])}
        lo, hi = f"ci_low{metric_suffix(metric)}", f"ci_high{metric_suffix(metric)}"
        for system in list(paper) + [s for s in ours if s not in paper]:
            r = ours.get(system, {})
            ok = r.get("status") == "ok"
            out.append({
                "task": e.task, "system": system,
                f"ours {metric} %": round(r[metric], 1) if ok and metric in r else None,
                "ours 95% CI": _ci(r[lo], r[hi]) if ok and lo in r else None,
                "ours tokens": round(r["tokens"], 1) if ok else None,
                "ours status": r.get("status", e.status if e.status != "ok" else "not in this experiment"),
                "ours vs System 1 (paired)": _paired_cell(r.get("vs_system1")),
                "ours training seeds": _seed_cell(_metrics(e).get("seeds", {}).get(system)),
                f"paper {metric} % ({model})": paper.get(system, {}).get(metric),
                f"paper tokens ({model})": paper.get(system, {}).get("tokens"),
            })
    return pd.DataFrame(out)


def _paired_cell(cmp) -> str | None:
    """A paired comparison for a table cell, naming its metric (Table 2's claim is read on known questions)."""
    return f"{_diff(cmp)} ({cmp['metric']})" if isinstance(cmp, dict) else None


def _seed_cell(summary) -> str | None:
    """'mean 55.0 (50.0-60.0) over 3 seeds; 3/3 beat System 1' from a metrics record's seed summary."""
    if not summary or len(summary.get("seeds", [])) < 2:
        return None
    n = len(summary["seeds"])
    return (f"mean {summary['mean']:.1f} ({summary['min']:.1f}-{summary['max']:.1f}) over {n} seeds"
            + ("; every seed beats System 1" if summary.get("every_seed_beats_system1") else ""))


def token_ratios(exps: pd.DataFrame) -> pd.DataFrame:
    """Per task: tokens of the distilled model / tokens of its System 2 teacher (ours and, where known, the paper's)."""
    roles, tables = paper_numbers()["row_roles"], paper_numbers()["tables"]
    out = []
    for _, e in exps.iterrows():
        role = roles[e.paper_table]
        ours = {r["system"]: r for r in _metrics(e).get("rows", []) if r.get("status") == "ok"}
        paper = {r["system"]: r for r in tables[e.paper_table]["tasks"].get(e.task, [])}

        def ratio(rows):
            s2, d = rows.get(role["system2"], {}).get("tokens"), rows.get(role["distilled"], {}).get("tokens")
            return round(d / s2, 3) if s2 and d else None

        out.append({"task": e.task, "System 2": role["system2"], "distilled": role["distilled"],
                    "ours: distilled / System 2 tokens": ratio(ours), "paper: distilled / System 2 tokens": ratio(paper),
                    "status": e.status})
    return pd.DataFrame(out)


ROUTER_KIND = "router (beyond the paper)"


def summary_figure(exps: pd.DataFrame):
    """Accuracy vs mean generated tokens, one panel per task run: System 1 / System 2 / distilled; paper points as x."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    roles, tables = paper_numbers()["row_roles"], paper_numbers()["tables"]
    points = []
    for _, e in exps.iterrows():
        metric, role = tables[e.paper_table]["metric"], roles[e.paper_table]
        kind = {v: k for k, v in role.items()}
        for r in _metrics(e).get("rows", []):
            if r.get("status") == "ok" and r.get("k", 1) == 1:  # maj@k > 1 points are in the experiment's own report
                sfx = metric_suffix(metric)
                k = ROUTER_KIND if r["system"].startswith("Router") else kind.get(r["system"], "ablation / oracle")
                points.append({"task": e.task, "system": r["system"], "kind": k,
                               "source": "ours", "tokens": r["tokens"], "score": r[metric],
                               "lo": r[f"ci_low{sfx}"], "hi": r[f"ci_high{sfx}"]})
        for r in tables[e.paper_table]["tasks"].get(e.task, []):
            if r.get(metric) is not None and r.get("tokens") is not None:
                points.append({"task": e.task, "system": r["system"], "kind": kind.get(r["system"], "ablation / oracle"),
                               "source": "paper", "tokens": r["tokens"], "score": r[metric], "lo": None, "hi": None})
    df = pd.DataFrame(points)
    if df.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no finished experiment yet", ha="center", va="center")
        ax.axis("off")
        return fig
    g = sns.relplot(data=df, x="tokens", y="score", hue="kind", style="source", col="task", col_wrap=3, s=110,
                    hue_order=[k for k in ("system1", "system2", "distilled", "ablation / oracle", ROUTER_KIND)
                               if k in set(df.kind)],
                    markers={"ours": "o", "paper": "X"}, height=3.6, facet_kws={"sharex": False})
    g.set(xscale="log", ylim=(-2, 102))
    for task, ax in g.axes_dict.items():  # every point named; ours with its 95% CI
        sub = df[df.task == task]
        ours = sub[sub.source == "ours"]
        ax.errorbar(ours["tokens"], ours["score"], yerr=[ours["score"] - ours["lo"], ours["hi"] - ours["score"]],
                    fmt="none", ecolor="grey", alpha=0.6, capsize=2)
        _annotate(ax, [r.system + (" (paper)" if r.source == "paper" else "") for r in sub.itertuples()],
                  sub["tokens"], sub["score"], fontsize=6)
        ax.xaxis.set_major_formatter(_plain_log_formatter())
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    g.set_axis_labels("mean generated tokens per input (log)", "accuracy / agreement % (95% CI)")
    return g.figure


def _annotate(ax, labels, xs, ys, fontsize=7) -> None:
    """Name every point; points that fall on one spot (same tokens and score) share one stacked label."""
    import math

    spots: dict = {}
    for label, x, y in zip(labels, xs, ys):
        spots.setdefault((round(5 * math.log10(max(x, 1e-9))), round(y / 4)), []).append((label, x, y))
    for group in spots.values():
        _, x, y = group[0]
        ax.annotate("\n".join(g[0] for g in group), (x, y), xytext=(5, 3), textcoords="offset points",
                    fontsize=fontsize, va="bottom")
    ax.margins(x=0.25)  # room for the labels of the rightmost points


def _plain_log_formatter():
    """Log-axis ticks as plain numbers (4, 10, 100) with no crowded minor labels."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _: f"{x:g}")


def provenance_overview(exps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, e in exps.iterrows():
        p = _metrics(e).get("provenance", {})
        rows.append({"notebook": e.notebook, "status": e.status, "error": e.error, "model": p.get("model_fingerprint"),
                     "profile": p.get("profile"), "n_train": p.get("n_train"), "n_test": p.get("n_test"),
                     "n_samples": p.get("n_samples"), "seed": p.get("seed"), "finished (UTC)": p.get("finished_utc"),
                     "wall s": e.wall_s, "stages s": p.get("stage_s"), "git": p.get("git_commit"),
                     "torch / transformers / peft": "/".join(str(p.get("packages", {}).get(k)) for k in ("torch", "transformers", "peft"))
                     if p else None})
    return pd.DataFrame(rows)


def headline_cells(e) -> str:
    """System 1 / System 2 / distilled: metric % [95% CI] and tokens per input, as <td> cells ('' when not run)."""
    import html

    spec, role = paper_numbers()["tables"][e.paper_table], paper_numbers()["row_roles"][e.paper_table]
    metric = spec["metric"]
    sfx = metric_suffix(metric)
    rows = {r["system"]: r for r in _metrics(e).get("rows", []) if r.get("status") == "ok"}
    cells = []
    for kind in ("system1", "system2", "distilled"):
        r = rows.get(role[kind])
        paired = _paired_cell(r.get("vs_system1")) if r is not None and kind == "distilled" else None
        cells.append("<td></td>" if r is None else
                     f"<td>{html.escape(role[kind])}: <b>{r[metric]:.1f}%</b> [{r[f'ci_low{sfx}']:.1f}, "
                     f"{r[f'ci_high{sfx}']:.1f}], {r['tokens']:.0f} tok"
                     + (f"<br><small>vs System 1, paired: {html.escape(paired)}</small>" if paired else "") + "</td>")
    return "".join(cells)


def _duration(seconds: float) -> str:
    """12308 -> '3 h 25 min', 754 -> '12.6 min', 38 -> '38 s'."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):d} min"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def write_index(reports: str | Path) -> Path:
    """reports/index.html: every experiment report and the summary with status and run time; self-contained."""
    import html

    reports = Path(reports)
    exps = experiments(reports)
    runs_file = reports / "runs.json"
    meta = json.loads(runs_file.read_text()) if runs_file.exists() else {}
    summary = {r["notebook"]: r for r in meta.get("results", [])}.get("summary", {})
    def row(name: str, table: str, task: str, headline: str, status: str, error, wall_s, prov: dict,
            said: str = "") -> str:
        link = f'<a href="{name}.html">{name}</a>' if (reports / f"{name}.html").exists() else name
        err = f'<div class="err">{html.escape(error)}</div>' if isinstance(error, str) else ""
        wall = _duration(wall_s) if isinstance(wall_s, (int, float)) and pd.notna(wall_s) else ""
        n = prov.get("n_test", "")
        inputs = f"{n // 2} pairs ({n} judgments)" if task == "pairwise_judge" and isinstance(n, int) else n
        return (f'<tr><td>{link}</td><td>{table}</td><td>{html.escape(str(task))}</td>{headline}'
                f'<td class="verdict">{html.escape(said)}</td>'
                f'<td class="{status.replace(" ", "-")}">{status}{err}</td><td>{wall}</td>'
                f'<td>{html.escape(str(prov.get("profile", "")))}</td>'
                f'<td>{html.escape(str(prov.get("model", "")))}, engine {prov.get("engine") or "hf"}, test inputs '
                f'{inputs}</td></tr>')  # runs before the engine was recorded used hf

    rows = [row(e.notebook, e.paper_table, e.task, headline_cells(e), e.status, e.error, e.wall_s,
                _metrics(e).get("provenance", {}), verdict(_metrics(e)["rows"], e.paper_table) if e.status == "ok" else "")
            for _, e in exps.iterrows()]
    rows += [row(name, "your experiment", rec.get("task", ""), "<td></td>" * 3, "ok", None,  # no paper roles: no
                 rec.get("provenance", {}).get("wall_s"), rec.get("provenance", {}))  # headline cells to pick
             for name, rec in other_experiments(reports).items()]
    s_status = summary.get("status", "ok" if (reports / "summary.html").exists() else "not run")
    s_link = '<a href="summary.html">summary</a>' if (reports / "summary.html").exists() else "summary"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>s2d reports</title><style>
body{{font-family:sans-serif;margin:2em;max-width:90em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.3em .8em}}
.ok{{color:#080}} .failed{{color:#b00}} .not-run{{color:#888}} .err{{font-size:.8em;color:#b00}}
.verdict{{font-size:.8em;max-width:40em}}</style></head><body>
<h1>s2d: Distilling System 2 into System 1 — reports</h1>
<p>Profile: <b>{html.escape(str(meta.get("profile", "?")))}</b>. Study summary (our tables beside the paper's): {s_link}
(<span class="{s_status.replace(" ", "-")}">{s_status}</span>).</p>
<p>The paper: <a href="https://arxiv.org/abs/2407.06023">Yu et al. 2024, arXiv:2407.06023</a> (Llama-2-70B-chat; its
numbers sit beside ours in each report and in the summary).</p>
<table><thead><tr><th>report</th><th>paper table</th><th>task</th><th>System 1</th><th>System 2</th><th>distilled</th>
<th>verdict</th><th>status</th><th>run time</th><th>profile</th><th>model</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></body></html>"""
    out = reports / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
