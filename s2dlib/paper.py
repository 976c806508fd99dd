"""The paper's numbers, the row roles its claims are checked on and the rows beyond it (`paper_numbers.json`), for every
layer to read."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PAPER_FILE = Path(__file__).parent / "paper_numbers.json"
GOLD = "Distill gold labels (oracle)"  # the ceiling row: trained on true answers, not a method of the paper


@lru_cache
def paper_numbers() -> dict:
    return json.loads(PAPER_FILE.read_text())


def roles(table: str) -> dict[str, str]:
    """Row labels of a table's System 1, System 2 and distilled rows."""
    return paper_numbers()["row_roles"][table]


def beyond_paper(table: str) -> dict[str, str]:
    """Row labels of `table`'s notebook that go beyond the paper (System 1.5 and its control on Table 5): no paper
    number, never a row of the table's verdict."""
    return paper_numbers().get("beyond_paper", {}).get(table, {})


def verdict_metric(table: str) -> str:
    """The metric a table's claim is checked on: its `verdict_metric` where set (e.g. Table 2: the biased inputs of
    questions the model knows), else the paper's metric."""
    spec = paper_numbers()["tables"][table]
    return spec.get("verdict_metric", spec["metric"])
