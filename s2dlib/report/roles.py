"""Each row's role in a figure (its colour and marker) and readable panel titles."""
from __future__ import annotations

import re

from ..paper import GOLD, beyond_paper, paper_numbers

ROUTER_KIND = "router (beyond the paper)"
BEYOND_KIND = "System 1.5 (beyond the paper)"  # the shortest consistent CoT distilled
CONTROL_KIND = "System 1.5's control: longest CoT"  # its control, apart so that no line seems to join them
ROLES = {  # role -> (colour, marker), in legend order; Okabe-Ito colours, distinct for colour-blind readers
    "System 1": ("#0072B2", "o"),
    "System 2 method or variant": ("#E69F00", "s"),
    "distilled": ("#009E73", "D"),
    "gold-label ceiling (oracle)": ("#CC79A7", "^"),
    "ablation (no filter / no USC)": ("#7F7F7F", "v"),
    ROUTER_KIND: ("#D55E00", "P"),
    BEYOND_KIND: ("#56B4E9", "X"),
    CONTROL_KIND: ("#000000", "h"),
}
S1, S2, DISTILLED, CEILING, ABLATION = list(ROLES)[:5]
TASK_NAMES = {"last_letter": "last-letter", "coin_flip": "coin flip", "sycophancy_qa": "TriviaQA with opinions",
              "pairwise_judge": "BSM judge", "gsm8k": "GSM8K"}


def role_of(system: str, table: str = "") -> str:
    """A row's role: its `row_roles` entry in `table` (paper_numbers.json) where it has one, else read from its name
    (Router..., the gold-label ceiling, an ablation '(no filter)' / '(no USC)', System 1.5 or its control, 'Distill
    ...'); any other row is a System 2 method or a variant of one (1-step RaR, few-shot CoT). ' maj@k' suffixes are
    ignored."""
    base = re.sub(r" maj@\d+$", "", system)
    named = {v: k for k, v in paper_numbers()["row_roles"].get(table, {}).items()}.get(base)
    if base.startswith("Router"):
        return ROUTER_KIND
    if base == GOLD or "(oracle)" in base:
        return CEILING
    if "(no " in base:
        return ABLATION
    if base == beyond_paper(table).get("system15_control"):
        return CONTROL_KIND
    if base in set(beyond_paper(table).values()):
        return BEYOND_KIND
    if named == "system1" or base == "System 1":
        return S1
    return DISTILLED if named == "distilled" or base.startswith("Distill") else S2


def panel_title(table: str, task: str) -> str:
    """'Table 1 · last-letter' for table1 / last_letter."""
    name = TASK_NAMES.get(task, task.replace("_", " "))
    return f"Table {table.removeprefix('table')} · {name}" if table else name
