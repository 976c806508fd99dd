"""The verdict policy: the paper's claim for a table checked on our rows, as fields (`judge`) and in words (`verdict`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..evaluate import metric_suffix
from ..paper import GOLD, paper_numbers, verdict_metric
from .cells import _diff, _interval


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
LEVEL = 10.0  # points: "level with" needs the paired 95% CI of the difference inside +-LEVEL


def _above(a: dict, b: dict, metric: str) -> bool:
    """a's 95% CI of `metric` lies entirely above b's (separated intervals)."""
    sfx = metric_suffix(metric)
    return a[f"ci_low{sfx}"] > b[f"ci_high{sfx}"]


def _paired(a: dict, key: str, metric: str) -> dict | None:
    """a's paired comparison `key` (vs_system1 / vs_system2 / vs_distilled, `Experiment.compare`) on `metric`, if any."""
    cmp = a.get(key)
    return cmp if isinstance(cmp, dict) and cmp.get("metric") == metric else None


def _beats(a: dict, b: dict, key: str, metric: str) -> bool:
    """a beats b: the paired 95% CI of the difference lies above 0; without item outcomes (older runs), a's marginal
    CI lies above b's."""
    cmp = _paired(a, key, metric)
    return cmp["ci_low"] > 0 if cmp else _above(a, b, metric)


def _versus(a: dict, name: str, key: str, metric: str) -> str:
    """'beats' / 'is below' / 'is level with' / 'is not shown different from' `name`, by the paired CI (issue 36)."""
    cmp = _paired(a, key, metric)
    return f"{_relation(cmp)} {name} ({_diff(cmp)})" if cmp else ""


def _relation(cmp: dict) -> str:
    """A paired comparison in words: its CI above 0, below 0, inside +-LEVEL, or none of these."""
    return ("beats" if cmp["ci_low"] > 0 else "is below" if cmp["ci_high"] < 0 else
            "is level with" if -LEVEL <= cmp["ci_low"] and cmp["ci_high"] <= LEVEL else "is not shown different from")


def _per_seed(seeds: list[dict], name: str, metric: str) -> str:
    """How each seed's paired test against System 2 (`name`) comes out, seeds grouped by outcome; "" without tests."""
    groups: dict[str, list[str]] = {}
    for r in seeds:
        cmp = _paired(r, "vs_system2", metric)
        if cmp is None:
            return ""
        groups.setdefault(_relation(cmp), []).append(str(r["seed"]))
    short = {"beats": "above", "is below": "below", "is level with": "level", "is not shown different from":
             "not shown different"}
    said = [f"{short[word]} (seed{'s' * (len(s) > 1)} {', '.join(s)})" for word, s in groups.items()]
    return f" Against {name}, paired per seed: " + ", ".join(said) + "."


@dataclass
class Verdict:
    """The paper's claim for one table checked on our rows (`judge`); `text` says it in words."""
    table: str
    metric: str
    outcome: str  # the head: REPRODUCED / PARTIAL / NOT REPRODUCED, a NEGATIVE table's own, or "Not decidable"
    gloss: str = ""  # what a NEGATIVE table's head means, said after it
    works: bool = False  # the distilled model meets the criterion
    gain: float | None = None  # points over System 1 (the seeds' mean where several); None: not decidable
    paired: dict | None = None  # the distilled model vs System 1 on the same items; None without item outcomes
    ceiling: dict | None = None  # the gold-label row, where the run has one
    facts: str = ""  # the numbers the verdict reads, as sentences
    criterion: str = ""  # what "works" asks of this run
    reasons: list[str] = field(default_factory=list)  # what the ceiling, floor, seeds and System 2 say, one clause each
    n: int | None = None  # the distilled model's test inputs
    n_seeds: int = 1  # training seeds of the distilled model (gain is their mean where several)

    def text(self) -> str:
        """The verdict in words, as the reports print it."""
        if self.gain is None:
            return f"{self.outcome}: {'; '.join(self.reasons)}."
        if self.outcome == "REPRODUCED":
            mean = f" (the mean of {self.n_seeds} seeds)" if self.n_seeds > 1 else ""
            return f"REPRODUCED: {self.facts} The distilled model gains {self.gain:.1f} points over System 1{mean}."
        joined = "; ".join(self.reasons)
        said = f" {joined[:1].upper()}{joined[1:]}." if self.reasons else ""
        if self.n is not None and self.n < PILOT_N:  # a percentile bootstrap over a handful of inputs is rough
            said += f" Only {self.n} test inputs: a pilot, not a result."
        if self.table in NEGATIVE:
            return f"{self.outcome}: {self.gloss} (distillation works when {self.criterion}): {self.facts}{said}"
        return f"{self.outcome} (criterion: {self.criterion}): {self.facts}{said}"


def judge(rows: list[dict], table: str, metric: str | None = None) -> Verdict:
    """The paper's claim for `table`, checked on our rows. The distilled model 'works' when it beats System 1 by at
    least MIN_GAIN points (0 unless set) with a paired 95% CI of the difference above 0 (on the same test items; runs
    without item outcomes fall back to separated marginal CIs) while generating <= 10% of System 2's tokens; for the
    paper's claim that is REPRODUCED, for a negative-result table (NEGATIVE) the paper's failure is reproduced when
    System 2 beats System 1 and the distilled model does not. "Level with" System 2 needs the paired CI inside
    +-LEVEL points. The gold-label ceiling, when present, says whether System 1 can learn the task at this size at all:
    its row trained on all pairs counts; the learning curve stays descriptive (picking its best point would choose on
    the test set). Roles and metric: paper_numbers.json (`verdict_metric` where a table sets one)."""
    role = paper_numbers()["row_roles"][table]
    metric = metric or verdict_metric(table)
    system1, system2, distilled = role["system1"], role["system2"], role["distilled"]
    by = {r["system"]: r for r in rows if r.get("status") == "ok" and metric in r}
    if system1 not in by or distilled not in by:
        return Verdict(table, metric, "Not decidable",
                       reasons=[f"{system1!r} or {distilled!r} has no {metric} result in this run"])
    sfx, min_gain = metric_suffix(metric), MIN_GAIN.get(table, 0.0)
    s1, d, s2, gold = by[system1], by[distilled], by.get(system2), by.get(GOLD)
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
        if s2 is not None:
            facts += _per_seed(seeds, system2, metric)
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
    paired = _paired(d, "vs_system1", metric)
    criterion = (f">= {min_gain:g} points over System 1" if min_gain else "above System 1") + \
        (", paired 95% CI of the difference above 0" if paired else ", separated 95% CIs (no item outcomes)") + \
        ", <= 10% of System 2's tokens" + (f", CI above {floor:g}%" if floor is not None else "")
    if table in NEGATIVE:
        outcome, gloss = (("NEGATIVE RESULT NOT REPRODUCED", "the distilled model works here") if works else
                          ("PAPER'S NEGATIVE RESULT REPRODUCED", "System 2 beats System 1, the distilled model does not")
                          if s2_separated and not separated else
                          ("NOT DECIDABLE", "System 2 does not beat System 1") if not s2_separated else
                          ("PARTIAL", "the distilled model beats System 1 but misses the token criterion"))
    else:
        outcome, gloss = ("REPRODUCED" if works else "PARTIAL" if gain > 0 and separated and over_floor
                          else "NOT REPRODUCED"), ""
    return Verdict(table, metric, outcome, gloss, works, gain, paired, gold, facts, criterion, why, d.get(f"n{sfx}"),
                   len(seeds))


def verdict(rows: list[dict], table: str, metric: str | None = None) -> str:
    """The paper's claim for `table`, checked on our rows, in words (`judge` says how it is decided)."""
    return judge(rows, table, metric).text()


def verdicts(exps: pd.DataFrame, table: str) -> str:
    """One verdict line per experiment of `table` that ran (`verdict`), for the summary."""
    done = exps[(exps.paper_table == table) & (exps.status == "ok")]
    return "\n\n".join(f"**{e.task}**: {verdict(e.metrics['rows'], table)}"
                       for _, e in done.iterrows()) or \
        "No experiment of this table has run."
