"""Task = data (generated or loaded) + prompt suffix + answer extraction + scoring. Registered by name."""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..jsonio import read_jsonl
from ..registry import Registry

TASKS = Registry("task")
register = TASKS.register


def get_task(name: str, **kwargs) -> "Task":
    return TASKS.build(name, **kwargs)


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    answer: str
    meta: dict = field(default_factory=dict)


# Phrases after which a model states its final answer; the last match in a text wins.
ANSWER_PHRASE = re.compile(
    r"(?:final answer|the answer|answer|result|output)\s*(?:is|would be|will be|:|=)\s*:?\s*", re.IGNORECASE
)
QUOTED = re.compile(r"[\"“”'‘’`*]+([^\"“”'‘’`*\n]{1,40}?)[\"“”'‘’`*]+")


def package_dir(package: str, pip: str, sub: str = "") -> Path:
    """The folder of an installed package's data (its `sub` folder, in whichever location of a namespace package has
    it), found without importing it; a missing package names its install line."""
    spec = importlib.util.find_spec(package)
    folders = [Path(p) / sub for p in (spec and spec.submodule_search_locations) or []]
    found = next((f for f in folders if f.is_dir()), None)
    if found is None:
        raise ModuleNotFoundError(f"package {package!r}{f' with {sub}/' if sub else ''} is missing; install it with: {pip}")
    return found


def after_answer_phrase(text: str) -> str | None:
    """The text that follows the last 'the answer is' / 'answer:' phrase, or None."""
    matches = list(ANSWER_PHRASE.finditer(text))
    return text[matches[-1].end() :] if matches else None


class Task:
    """A task: its data, how an answer is read from text and scored, and the capabilities methods and filters use.

    `capabilities` names the optional parts a task provides, so a filter's `needs` is checked when the config is built:
    "swap_partners" (which inputs are the same pair in the other order) and "unswap" (a verdict read in the other
    order)."""

    name: str = ""
    direct_suffix: str = ""  # appended to the question for System 1 / distilled prompts
    final_format: str = ""  # appended to a System 2 step that answers, so the final answer can be read back
    params: tuple[str, ...] = ()  # experiment parameters the constructor takes (e.g. "k"), config fields of that name
    needs_responses: bool = False  # its generated data is built from the model's own responses (make_splits(respond=))
    capabilities: frozenset[str] = frozenset()
    restricted_data: str = ""  # why generations from this task's data may not be committed (`s2d archive`); "" = none

    def swap_partners(self, examples: list[Example]) -> list[int | None]:
        """Index of each input's swapped twin (None: none); a task with the "swap_partners" capability defines it."""
        raise ValueError(f"task={self.name!r}: has no swapped inputs; allowed tasks declare the 'swap_partners' capability")

    def bias_kept(self, example: Example, text: str) -> bool | None:
        """Whether a rewrite of the input (e.g. S2A's extraction) still carries the input's bias; None where the input
        has none or the task cannot tell."""
        return None

    def unswap(self, answer: str) -> str:
        """An answer given to the swapped input, read in the original order ("unswap" capability)."""
        raise ValueError(f"task={self.name!r}: has no swapped inputs; allowed tasks declare the 'unswap' capability")

    def load(self, path: str | Path) -> list[Example]:
        """A user's split (JSONL/CSV with question and answer columns)."""
        return load_examples(path)

    def check_source(self, n_train: int, n_test: int) -> None:
        """Fail before any model loads when the task's own data cannot supply these sizes (default: nothing to check)."""

    def worked_solution(self, example: Example) -> str:
        """The reasoning and final answer of a labelled example, for few-shot demonstrations."""
        raise ValueError(f"task={self.name!r}: has no worked solutions; few-shot demonstrations need a task that has them")

    def make_splits(self, n_train: int, n_test: int, seed: int) -> tuple[list[Example], list[Example]]:
        raise NotImplementedError

    def load_splits(self, train_file, test_file, n_train: int, n_test: int, seed: int) -> tuple[list[Example], list[Example]]:
        """A user's own data files instead of `make_splits` (default: each file read by `load`, then cut to size)."""
        return self.load(train_file)[:n_train], self.load(test_file)[:n_test]

    def metric_subsets(self, examples: list[Example]) -> dict[str, list[int]]:
        """Metric name -> indices of the test inputs it is computed on."""
        return {"accuracy": list(range(len(examples)))}

    def answer_outcomes(self, answers: list[str | None], examples: list[Example]) -> dict[str, tuple[list[bool], list]]:
        """Metrics of the answers other than one input's correctness (e.g. position consistency of a judge over a
        pair's two orders, the share of 'yes' answers): metric name -> (outcomes, their bootstrap clusters). Default:
        none."""
        return {}

    def data_stats(self, examples: list[Example]) -> dict:
        """Facts about a split that a reader needs to trust a metric (e.g. how often a judge pair's right response is
        the longer one), recorded in the metrics JSON. Default: none."""
        return {}

    def prompt_variants(self, example: Example) -> dict[str, str]:
        """Rewordings of an input that keep its answer (e.g. names in another order), by variant name, the input as
        trained first: how much a system's answer depends on the wording. Default: none."""
        return {}

    def known_subsets(self, examples: list[Example], reference: list[bool]) -> dict[str, list[int]]:
        """Metric subsets decided by a reference system's outcomes on the same inputs (e.g. the biased inputs of the
        questions System 1 answers right in their plain form): metric name -> indices. Default: none."""
        return {}

    def extract(self, text: str) -> str | None:
        """Pull the final answer out of free text; None when there is none."""
        raise NotImplementedError

    def normalize(self, answer: str) -> str:
        return answer.strip().lower()

    def score(self, prediction: str | None, example: Example) -> bool:
        return prediction is not None and self.normalize(prediction) == self.normalize(example.answer)

    def format_target(self, answer: str) -> str:
        """The distillation target: the final answer alone, in a form `extract` reads back."""
        return f'The answer is "{answer}".'

    def direct_prompt(self, question: str) -> str:
        return f"{question}\n{self.direct_suffix}" if self.direct_suffix else question


def source_of(e: Example) -> str:
    """The underlying question: variants of one question (e.g. with different user opinions) share meta['source']."""
    return e.meta.get("source", e.question)


def check_disjoint(train: list[Example], test: list[Example], what: str = "data") -> None:
    overlap = {source_of(e) for e in train} & {source_of(e) for e in test}
    if overlap:
        raise ValueError(f"{what}: {len(overlap)} question(s) appear in both train and test, e.g. {sorted(overlap)[0]!r}")


def save_examples(examples: list[Example], path: Path) -> None:
    """Write a split as JSONL (HF datasets' JSON format), so a run's data can be inspected and reloaded."""
    import datasets

    datasets.disable_progress_bars()  # a bar per tiny file only clutters the reports
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(e), "meta": json.dumps(e.meta, sort_keys=True)} for e in examples]
    datasets.Dataset.from_list(rows).to_json(str(path), lines=True, force_ascii=False)


def load_examples(path: str | Path, question_field: str = "question", answer_field: str = "answer") -> list[Example]:
    """Load a user's JSONL/CSV split with question/answer columns (HF datasets); bad rows fail with file and row."""
    import datasets
    from datasets import load_dataset

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    kind = {".jsonl": "json", ".json": "json", ".csv": "csv"}.get(path.suffix)
    if kind is None:
        raise ValueError(f"data file {str(path)!r}: allowed formats are .jsonl, .json, .csv")
    if path.suffix == ".jsonl":
        list(read_jsonl(path))  # names a malformed line; datasets' own error does not
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        ds = load_dataset(kind, data_files=str(path), split="train")
    except Exception as e:  # datasets raises several types for malformed files; one line is what a user needs
        raise ValueError(f"data file {str(path)!r} is malformed: {str(e).splitlines()[0]}") from None
    out = []
    for i, row in enumerate(ds):
        q, a = row.get(question_field), row.get(answer_field)
        if not isinstance(q, str) or not q.strip() or a is None or not str(a).strip():
            raise ValueError(f"data file {str(path)!r} row {i + 1}: needs non-empty {question_field!r} and {answer_field!r}")
        meta = row.get("meta")
        out.append(Example(str(row.get("id") or f"{path.stem}-{i}"), q, str(a), json.loads(meta) if isinstance(meta, str) else {}))
    return out
