"""System 1.5 on GSM8K (issue 41, beyond the paper): the Table 5 run's System 1, Distill CoT, System 1.5 (the shortest
majority-consistent chain of thought distilled), its control (the longest) and CoT at each maj@k, with the paired
differences the notebook recorded (`Experiment.compare_pairs`) and a sentence that reads them. The cot_gsm8k report,
the summary and the README's glance block show them."""
from __future__ import annotations

import pandas as pd

from ..paper import beyond_paper, roles
from .cells import _ci, _diff

TABLE = "table5"


def system15_systems() -> list[str]:
    """The rows compared, from System 1 to CoT: System 1, Distill CoT, System 1.5, its control, CoT (zero-shot)."""
    role, beyond = roles(TABLE), beyond_paper(TABLE)
    return [role["system1"], role["distilled"], beyond["system15"], beyond["system15_control"], role["system2"]]


def _record(exps_or_record) -> dict:
    """The Table 5 metrics record of an `experiments` frame ({} when it did not run), or the record itself."""
    if isinstance(exps_or_record, pd.DataFrame):
        ok = exps_or_record[(exps_or_record.paper_table == TABLE) & (exps_or_record.status == "ok")]
        return next((m for m in ok.metrics if isinstance(m, dict)), {})
    return exps_or_record or {}


def _rows(record: dict) -> dict[tuple[str, int], dict]:
    return {(r.get("base_system") or r["system"], r.get("k") or 1): r for r in record.get("rows", [])
            if r.get("status") == "ok" and "accuracy" in r}


def system15_table(exps_or_record) -> pd.DataFrame:
    """One row per system of `system15_systems` that ran: per maj@k its accuracy % [95% CI] and generated tokens per
    problem (all k samples). Empty when the run has no System 1.5 row (runs before issue 41)."""
    rows, systems = _rows(_record(exps_or_record)), system15_systems()
    if not any(s == systems[2] for s, _ in rows):
        return pd.DataFrame()
    ks = sorted({k for _, k in rows})
    out = []
    for s in systems:
        if any((s, k) in rows for k in ks):
            cells = {"system": s}
            for k in ks:
                r = rows.get((s, k))
                cells[f"maj@{k} % [95% CI]"] = f"{r['accuracy']:.1f} {_ci(r['ci_low'], r['ci_high'])}" if r else ""
                cells[f"maj@{k} tokens"] = f"{r['tokens']:.0f}" if r else ""
            out.append(cells)
    return pd.DataFrame(out)


def pairs_table(exps_or_record) -> pd.DataFrame:
    """The recorded paired differences (system minus the other, points, paired bootstrap 95% CI, McNemar's p) with
    the counts of problems only one of the two got right."""
    return pd.DataFrame([{"system": p["a"], "minus": p["b"], "difference": _diff(p),
                          "only the system right": p["a_only"], "only the other right": p["b_only"], "n": p["n"]}
                         for p in _record(exps_or_record).get("pairs", [])])


def system15_finding(exps_or_record) -> str:
    """What the numbers say, in one paragraph: System 1.5 against CoT and System 1 at maj@1 (paired), its tokens as
    a share of CoT's, and against its control. Empty when the run has no System 1.5 row."""
    record = _record(exps_or_record)
    rows, (s1, _, s15, control, cot) = _rows(record), system15_systems()
    if (s15, 1) not in rows or (cot, 1) not in rows:
        return ""
    pairs = {(p["a"], p["b"]): p for p in record.get("pairs", [])}

    def against(other: str) -> str:
        p = pairs.get((s15, other))
        if p is None:
            return f"{other}: no paired comparison recorded"
        word = "above" if p["ci_low"] > 0 else "below" if p["ci_high"] < 0 else "not told apart from"
        return f"{word} {other} ({rows[(other, 1)]['accuracy']:.1f}%; {_diff(p)})"

    me, ref = rows[(s15, 1)], rows[(cot, 1)]
    text = (f"{s15} answers {me['accuracy']:.1f}% {_ci(me['ci_low'], me['ci_high'])} at maj@1 with "
            f"{me['tokens']:.0f} generated tokens per problem, {100 * me['tokens'] / ref['tokens']:.0f}% of "
            f"{cot}'s {ref['tokens']:.0f}: {against(cot)}; {against(s1)}")
    if (control, 1) in rows:
        text += f"; {against(control)} at {rows[(control, 1)]['tokens']:.0f} tokens"
    return text + "."
