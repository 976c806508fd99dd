"""How a number reads in a table cell or a verdict: an interval, a paired difference, a metric's name."""
from __future__ import annotations

import pandas as pd

from ..evaluate import metric_suffix


def _ci(lo, hi) -> str:
    return f"[{lo:.1f}, {hi:.1f}]" if pd.notna(lo) else ""


def _words(metric: str) -> str:
    """'accuracy_suggest_incorrect' -> ' suggest incorrect' (the part after the base metric), '' for 'accuracy'."""
    return metric_suffix(metric).replace("_", " ")


def _label(metric: str) -> str:
    """Column name of a metric: 'accuracy_biased' -> 'Accuracy biased', 'swap_inconsistent' -> 'Swap inconsistent'."""
    return metric.replace("_", " ").capitalize()


def _interval(r: dict, metric: str = "accuracy") -> str:
    sfx = metric_suffix(metric)
    return f"{r[metric]:.1f}% [{r[f'ci_low{sfx}']:.1f}, {r[f'ci_high{sfx}']:.1f}]"


def _diff(cmp: dict) -> str:
    return f"{cmp['diff']:+.1f} points [{cmp['ci_low']:+.1f}, {cmp['ci_high']:+.1f}], McNemar p={cmp['p']:.2g}"
