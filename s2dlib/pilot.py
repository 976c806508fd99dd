"""Helpers of the dev-split pilots (benchmarks/pilot_*.py) that choose a System 2 method's settings before a run."""
from __future__ import annotations

import numpy as np

CAPS = (64, 96, 128, 160, 192, 256, 320, 384, 448, 512)  # token caps a pilot may choose
MAX_CUT = 0.05  # share of replies a chosen cap may cut (issues 34/35)


def smallest_cap(lengths: list[int], generous: int) -> int:
    """The smallest cap in CAPS (up to the generous one) that cuts at most MAX_CUT of `lengths`; a reply that reached
    the generous cap counts as cut at every cap."""
    for cap in (c for c in CAPS if c <= generous):
        if np.mean([n >= cap for n in lengths]) <= MAX_CUT:
            return cap
    return generous


def length_record(lengths: list[int], generous: int, old_cap: int) -> dict:
    """Percentiles of a step's reply lengths, the chosen cap and the share each cap cuts."""
    cap = smallest_cap(lengths, generous)
    return {"generous_cap": generous, "chosen_cap": cap,
            "lengths_pct": {str(q): float(np.percentile(lengths, q)) for q in (50, 90, 95, 99, 100)},
            f"cut_at_profile_cap_{old_cap}_pct": 100 * float(np.mean([n >= old_cap for n in lengths])),
            "cut_at_chosen_cap_pct": 100 * float(np.mean([n >= cap for n in lengths]))}
