"""Experiment parameters: one dataclass whose field metadata holds each parameter's help and allowed values (checked
by one loop, one clear line per bad value), the parsing of parameters given as text, and named profiles."""
from __future__ import annotations

import dataclasses
import functools
import operator
import typing
from dataclasses import Field, dataclass, field, fields
from pathlib import Path

import yaml

from . import tiny  # noqa: F401  (registers model=tiny-random, a name the checks accept)
from .distill import QUANTIZE, SHARDING, LoraSFTConfig, check_hardware
from .engines import resolve_engine
from .engines.base import Sampling
from .engines.ct2 import PIP as CT2_PIP, available as ct2_available
from .engines.vllm import PIP as VLLM_PIP, available as vllm_available
from .filters import FILTERS, MIN_AGREEMENT
from .methods.rar import RESPOND_STYLES
from .models import DTYPES, check_model_name
from .tasks import TASKS, Task, get_task
from .tasks.qa import ANSWER_TYPES

PROFILES_DIR = Path(__file__).parent / "profiles"
ENGINES = ("auto", "hf", "ct2", "vllm")
RECIPE_NOTEBOOKS = "rar_last_letter, rar_coin_flip and bsm_judge"  # the notebooks that search lr x epochs
RAR_NOTEBOOKS = "rar_last_letter and rar_coin_flip"


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


@dataclass
class ExperimentConfig:
    """Everything one method x task experiment needs (defaults: a small run; profiles set the real sizes).

    Each field's metadata: `help`; where it applies, `choices` (the values, or a function giving them), bounds `ge`,
    `gt`, `le`, `lt` (of each element, for a list), `distinct` and `min_len` (lists), and `allowed`, the wording of the
    allowed values where the generated one would lose a meaning (e.g. temperature 0 is greedy)."""

    task: str = field(default="last_letter", metadata={
        "help": "the task: its data, prompts and scoring", "choices": lambda: sorted(TASKS)})
    k: int = field(default=2, metadata={
        "help": "words per name (last_letter) / people per question (coin_flip)", "ge": 1})
    model: str = field(default="qwen2.5-coder-1.5b-instruct", metadata={
        "help": "a packaged model name, a local model folder or an HF id"})
    engine: str = field(default="auto", metadata={
        "help": "auto (fastest installed for the hardware), hf (transformers), ct2 (CTranslate2 int8), vllm",
        "choices": ENGINES})
    tensor_parallel_size: int = field(default=1, metadata={
        "help": "GPUs per model (vllm only)", "ge": 1, "allowed": "integers >= 1 (above 1 only with engine=vllm)"})
    dtype: str = field(default="auto", metadata={
        "help": "auto = bf16 where the hardware has bf16 units, else fp32", "choices": DTYPES})
    n_train: int = field(default=16, metadata={"help": "unlabeled inputs for System 2 generation", "ge": 1})
    n_test: int = field(default=24, metadata={"help": "labelled test inputs every system is scored on", "ge": 1})
    train_file: str | None = field(default=None, metadata={
        "help": "a user's own data (JSONL/CSV with question, answer) instead of generated data; with test_file",
        "allowed": "None or an existing JSONL/CSV file"})
    test_file: str | None = field(default=None, metadata={
        "help": "the test split of a user's own data; with train_file",
        "allowed": "None or an existing JSONL/CSV file"})
    question_field: str = field(default="question", metadata={
        "help": "task=qa (your own data): the files' question field"})
    answer_field: str = field(default="answer", metadata={"help": "task=qa: the files' answer field"})
    answer_type: str = field(default="exact", metadata={
        "help": "task=qa: exact, number, choice (among `choices`) or regex (`answer_pattern`)",
        "choices": ANSWER_TYPES})
    choices: list[str] = field(default_factory=list, metadata={
        "help": "task=qa, answer_type=choice: the options an answer is one of"})
    answer_pattern: str = field(default="", metadata={
        "help": "task=qa, answer_type=regex: the regular expression that finds the answer"})
    prompt_suffix: str = field(default="", metadata={
        "help": "task=qa: what follows the question for System 1 (default: an answer-format line)"})
    n_samples: int = field(default=5, metadata={
        "help": "System 2 samples per input for the filter (self-consistency votes, USC candidates)",
        "ge": 1, "le": 64, "allowed": "1 to 64"})
    n_shots: int = field(default=0, metadata={
        "help": "worked examples for few-shot CoT, taken from the training pool (and then left out of it)",
        "ge": 0, "le": 16})
    maj_k: list[int] = field(default_factory=lambda: [1, 5, 10], metadata={
        "help": "maj@k evaluation over the first k of max(k) samples; the k=1 row carries the plain system label (the "
                "one the paper's tables use)", "ge": 1, "le": 64, "distinct": True, "min_len": 1})
    side_maj_k: list[int] = field(default_factory=list, metadata={
        "help": "maj@k of the CoT rows that no claim reads (few-shot CoT, System 1.5's control); maj@5 of a CoT "
                "system on 150 problems costs about an hour on 2 CPU cores (empty: maj_k)",
        "ge": 1, "le": 64, "distinct": True})
    temperature: float = field(default=0.5, metadata={
        "help": "sampling temperature of System 2", "ge": 0, "le": 2, "allowed": "0 (greedy) to 2"})
    top_p: float = field(default=0.9, metadata={
        "help": "nucleus sampling: the probability mass sampled", "gt": 0, "le": 1})
    top_k: int = field(default=20, metadata={"help": "sample among the k likeliest tokens (0: all)", "ge": 0})
    greedy_rephrase: bool = field(default=False, metadata={
        "help": "True: one greedy step 1 (RaR rephrasing, S2A extraction) shared by all samples"})
    filter: str = field(default="self_consistency", metadata={
        "help": "the label-free filter that turns System 2 outputs into training targets",
        "choices": lambda: sorted(FILTERS)})
    min_agreement: float = field(default=MIN_AGREEMENT, metadata={
        "help": "self_consistency: the majority answer's share of all N samples needed to keep an input",
        "ge": 0, "le": 1})
    margin: int = field(default=1, metadata={
        "help": "self_consistency: votes by which the majority answer must lead the runner-up", "ge": 0})
    max_new_tokens: int = field(default=160, metadata={"help": "token cap per System 2 step", "ge": 1})
    max_new_tokens_first: int = field(default=0, metadata={
        "help": "step 1 of a two-step method (RaR rephrasing, S2A extraction); 0 = max_new_tokens", "ge": 0})
    max_new_tokens_eval: int = field(default=0, metadata={
        "help": "System 2's cap per answering step on held-out inputs (test, dev, validation); 0 = max_new_tokens. "
                "Training targets keep max_new_tokens, so more room at test time does not regenerate them", "ge": 0})
    respond_style: str = field(default="format", metadata={
        "help": "RaR's answering step: format (the answer-format line only) or reason (asks to reason first, then the "
                "format line); see s2dlib/methods/rar.py", "choices": RESPOND_STYLES})
    max_new_tokens_direct: int = field(default=24, metadata={
        "help": "token cap of System 1 and the distilled models", "ge": 1})
    max_new_tokens_response: int = field(default=64, metadata={
        "help": "responses a task builds its data from (pairwise_judge: the pairs to judge)", "ge": 1})
    n_criteria: int = field(default=3, metadata={
        "help": "BSM: evaluation criteria the branch step writes (one solve call each)", "ge": 1, "le": 5})
    max_new_tokens_branch: int = field(default=64, metadata={
        "help": "BSM branch step (the criteria list); solve steps take max_new_tokens", "ge": 1})
    max_new_tokens_merge: int = field(default=64, metadata={"help": "BSM merge step (the verdict)", "ge": 1})
    batch_size: int = field(default=40, metadata={"help": "generation batch, in rows (prompts x samples)", "ge": 1})
    threads: int = field(default=0, metadata={"help": "torch threads for generation (0 = torch's default)", "ge": 0})
    n_val: int = field(default=0, metadata={
        "help": "training inputs held out (labels used) to choose lr x epochs; 0 = keep the profile's recipe; used by "
                f"{RECIPE_NOTEBOOKS} only", "ge": 0, "allowed": "integers 0 to n_train - 1"})
    lr_grid: list[float] = field(default_factory=list, metadata={
        "help": f"lrs tried on the validation split (empty: just lr); used by {RECIPE_NOTEBOOKS} only",
        "gt": 0, "lt": 1})
    epochs_grid: list[float] = field(default_factory=list, metadata={
        "help": f"epochs tried on the validation split (empty: just epochs); used by {RECIPE_NOTEBOOKS} only",
        "gt": 0})
    learning_curve: list[int] = field(default_factory=list, metadata={
        "help": f"kept-pair counts for the learning curve (empty: none); used by {RAR_NOTEBOOKS} only", "ge": 1})
    distill_system1: bool = field(default=True, metadata={
        "help": "RaR: the paper's Distill System 1 row (System 1's self-consistent answers distilled)"})
    gold_ceiling: bool = field(default=True, metadata={
        "help": "RaR: the gold-label ceiling (an oracle: true answers distilled with the same recipe)"})
    no_filter_ablation: bool = field(default=True, metadata={
        "help": "RaR: also distil the unfiltered first samples (an ablation, not a paper row)"})
    system15_control: bool = field(default=True, metadata={
        "help": "CoT: System 1.5's control, the longest majority-consistent CoT distilled (beyond the paper)"})
    n_dev: int = field(default=0, metadata={
        "help": "labelled inputs outside training and test: the router's threshold is chosen there (0: not chosen)",
        "ge": 0, "le": 1000})
    router_k: int = field(default=4, metadata={
        "help": "sampled answers of the distilled System 1 whose agreement is the router's confidence (0: no router)",
        "ge": 0, "le": 16})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank", "ge": 1})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (the update is scaled by alpha / r)", "gt": 0})
    epochs: float = field(default=2.0, metadata={"help": "training epochs over the kept pairs", "gt": 0})
    lr: float = field(default=2e-4, metadata={
        "help": "learning rate: the rate power runs chose on their validation splits (last-letter, 2026-12-03)",
        "gt": 0, "lt": 1})
    recipe_source: str = field(default="profile (not tuned)", metadata={
        "help": "where lr and epochs come from, shown in the report when no grid is searched (e.g. a pilot's file)"})
    train_batch_size: int = field(default=4, metadata={"help": "training pairs per optimizer step", "ge": 1})
    train_processes: int = field(default=1, metadata={
        "help": "training processes (torchrun on one node, e.g. one per GPU): DDP, or FSDP with sharding=fsdp",
        "ge": 1, "le": 64})
    sharding: str = field(default="none", metadata={
        "help": "none (each training process holds the whole model) or fsdp (torch FSDP2: each holds 1/N of the "
                "weights, gradients and optimiser states; for models too large for one device)", "choices": SHARDING})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "recompute activations in the backward pass: less memory, ~20-30% slower training"})
    quantize: str = field(default="none", metadata={
        "help": "none or 4bit (QLoRA: NF4 base weights through bitsandbytes, for one GPU; needs CUDA)",
        "choices": QUANTIZE})
    seed: int = field(default=0, metadata={"help": "seed of sampling, data splits and training", "ge": 0})
    seeds: list[int] = field(default_factory=list, metadata={
        "help": "more training seeds (LoRA init, data order) for the distilled rows a verdict rests on; each is "
                "evaluated on the same test items, System 2 generations are shared (empty: seed only)",
        "ge": 0, "distinct": True})
    profile: str = field(default="custom", metadata={
        "help": "the profile these values come from (custom: none)", "choices": lambda: (*profile_names(), "custom")})
    run_dir: str = field(default="runs", metadata={
        "help": "runs (cache, adapters, run log) go to <run_dir>/<profile>/<notebook>"})
    data_dir: str = field(default="data", metadata={"help": "generated and downloaded datasets go here"})

    def __post_init__(self):
        def need(ok, name, allowed=None):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: allowed values are "
                                 f"{allowed or allowed_values(FIELDS[name])}")

        for f in fields(self):
            need(is_allowed(f, getattr(self, f.name)), f.name)
        # What relates fields or needs the environment:
        check_model_name(self.model)
        check_hardware(self.lora())  # e.g. QLoRA on a machine without a CUDA GPU
        if self.engine == "vllm" and not vllm_available():
            raise ValueError(f"engine='vllm': vllm is not installed; install it with: {VLLM_PIP}")
        if self.engine == "ct2" and not ct2_available():
            raise ValueError(f"engine='ct2': ctranslate2 is not installed; install it with: {CT2_PIP}")
        need(self.tensor_parallel_size == 1 or resolve_engine(self.engine) == "vllm", "tensor_parallel_size")
        fits = sorted(n for n, f in FILTERS.items() if set(f.needs) <= TASKS[self.task].capabilities)
        need(self.filter in fits, "filter", f"{', '.join(fits)} for task {self.task!r}")
        need(self.n_val < self.n_train, "n_val")
        need(not (self.lr_grid or self.epochs_grid) or self.n_val > 0, "n_val",
             "integers >= 1 when lr_grid/epochs_grid is set")
        for name in ("train_file", "test_file"):
            need(getattr(self, name) is None or Path(getattr(self, name)).is_file(), name)
        need((self.train_file is None) == (self.test_file is None), "test_file" if self.train_file else "train_file",
             "a JSONL/CSV file when the other split is given (give both or neither)")
        self.sampling()  # Sampling relates two fields: temperature 0 (greedy) allows one sample only

    def check_inputs(self) -> None:
        """Checks that read files and disk but load no model: the user's data files (rows, overlap) and room for
        the model conversion. The runner calls this for every notebook before anything runs."""
        from .models import check_disk
        from .tasks import check_disjoint

        task = self.make_task()
        if self.train_file:
            train, test = task.load_splits(self.train_file, self.test_file, self.n_train + self.n_shots, self.n_test, self.seed)
            check_disjoint(train, test, "train_file/test_file")
        else:
            task.check_source(self.n_train + self.n_shots, self.n_test)
        check_disk(self.model)

    def make_task(self) -> Task:
        """The task, built with the parameters it takes (e.g. k)."""
        return get_task(self.task, **{p: getattr(self, p) for p in TASKS[self.task].params})

    def sampling(self, n: int | None = None) -> Sampling:
        """Settings for the N self-consistency samples of the System 2 generation stage (or n samples)."""
        return Sampling(n=n or self.n_samples, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                        max_new_tokens=self.max_new_tokens, seed=self.seed)

    def greedy(self) -> Sampling:
        return Sampling(n=1, temperature=0.0, max_new_tokens=self.max_new_tokens, seed=self.seed)

    def lora(self) -> LoraSFTConfig:
        return LoraSFTConfig(r=self.lora_r, alpha=self.lora_alpha, epochs=self.epochs, lr=self.lr,
                             batch_size=self.train_batch_size, seed=self.seed, dtype=self.dtype, sharding=self.sharding,
                             gradient_checkpointing=self.gradient_checkpointing, quantize=self.quantize)

    @classmethod
    def from_params(cls, params: dict) -> "ExperimentConfig":
        cls.check_names(params)
        return cls(**params)

    @classmethod
    def for_notebook(cls, notebook: str, ns: dict) -> "ExperimentConfig":
        """The config `notebook` runs, from its globals `ns`: the values of the profile `ns` names (`notebook_profile`),
        overridden by every config field `ns` sets to something other than None (its parameters cell's knobs, and
        what `s2d run` injects after that cell: your --set values). None means "the profile's value"."""
        given = {k: v for k, v in ns.items() if k in FIELDS and v is not None}
        profile = given.pop("profile", "custom")
        return cls(**{**(notebook_profile(profile, notebook) if profile != "custom" else {}), **given})

    @staticmethod
    def check_names(params: dict) -> None:
        """Every name in `params` is a parameter (a misspelt --set name fails instead of being ignored)."""
        unknown = sorted(set(params) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}: allowed parameters are {', '.join(sorted(FIELDS))}")

    def asdict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS: dict[str, Field] = {f.name: f for f in fields(ExperimentConfig)}
BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}
NOUNS = {int: "integers", float: "numbers", bool: "true or false", str: "text"}


@functools.cache
def field_types() -> dict[str, tuple[type, type | None, bool]]:
    """Each field's (type, element type of a list, None allowed), from its annotation: `list[int]` -> (list, int,
    False)."""
    out = {}
    for name, t in typing.get_type_hints(ExperimentConfig).items():
        optional = type(None) in typing.get_args(t)
        if optional:
            t = next(a for a in typing.get_args(t) if a is not type(None))
        out[name] = (typing.get_origin(t) or t, (typing.get_args(t) or (None,))[0], optional)
    return out


def _is(kind: type, value) -> bool:
    if kind in (int, float) and isinstance(value, bool):  # bool is an int subclass, but true is no number here
        return False
    return isinstance(value, {float: (int, float), list: (list, tuple)}.get(kind, kind))


def _choices(f: Field) -> list:
    c = f.metadata["choices"]
    return list(c() if callable(c) else c)  # a function where the values are known only at check time (profiles)


def is_allowed(f: Field, value) -> bool:
    """Whether `value` has field `f`'s type and meets its metadata (choices, bounds: of each element, for a list)."""
    kind, item, optional = field_types()[f.name]
    if value is None or not _is(kind, value):
        return value is None and optional
    m = f.metadata
    values = list(value) if kind is list else [value]
    if len(values) < m.get("min_len", 0) or any(item and not _is(item, v) for v in values):
        return False
    if m.get("distinct") and len(set(values)) < len(values):
        return False
    return all(op(v, m[b]) for v in values for b, (op, _) in BOUNDS.items() if b in m) and (
        "choices" not in m or all(v in _choices(f) for v in values))


def allowed_values(f: Field) -> str:
    """Field `f`'s allowed values in words, from its type and metadata: "integers 1 to 5", "a list of numbers in
    (0, 1)", "auto, hf, ct2, vllm"."""
    m = f.metadata
    if "allowed" in m:
        return m["allowed"]
    if "choices" in m:
        return ", ".join(map(str, _choices(f)))
    kind, item, optional = field_types()[f.name]
    lo = next(((b, m[b]) for b in ("ge", "gt") if b in m), None)
    hi = next(((b, m[b]) for b in ("le", "lt") if b in m), None)
    if lo and hi and (lo[0], hi[0]) == ("ge", "le"):
        span = f" {lo[1]:g} to {hi[1]:g}"
    elif lo and hi:
        span = f" in {'(' if lo[0] == 'gt' else '['}{lo[1]:g}, {hi[1]:g}{')' if hi[0] == 'lt' else ']'}"
    else:
        span = "".join(f" {BOUNDS[b][1]} {v:g}" for b, v in filter(None, (lo, hi)))
    if kind is list:
        text = f"a list of {'distinct ' if m.get('distinct') else ''}{'strings' if item is str else NOUNS[item]}{span}"
    else:
        text = NOUNS[kind] + span
    return text + (f" (at least {m['min_len']})" if m.get("min_len") else "") + (" or None" if optional else "")


def parse_value(name: str, value):
    """A parameter as text (`--set`) or as YAML read it (a profile) -> the value of the field's type the text means.
    A text field keeps the text as typed (`prompt_suffix=yes` stays "yes"); others are read as YAML. The config
    checks the result; a name that is no field is read as YAML (a notebook's own parameter)."""
    kind, item, optional = field_types().get(name, (None, None, True))
    if isinstance(value, str):
        if kind is str:
            return None if optional and yaml.safe_load(value) is None else value
        value = yaml.safe_load(value)
    if kind is list and item is float and isinstance(value, list):
        return [_number(v) for v in value]
    return _number(value) if kind in (float, None) else value


def _number(value):
    """YAML 1.1 reads 1e-3 (no dot) as a string: the number it means (or `value` unchanged where it means none)."""
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _profile_spec(profile: str) -> dict:
    if profile not in profile_names():
        raise ValueError(f"profile={profile!r}: allowed values are {', '.join(profile_names())}")
    return yaml.safe_load((PROFILES_DIR / f"{profile}.yaml").read_text()) or {}


def profile_covers(profile: str) -> list[str] | None:
    """The notebooks a profile runs when it names them (`covers:`); None: every notebook, each on the profile's
    `defaults` plus its own block under `notebooks:` if it has one (so a new notebook runs under every profile)."""
    return _profile_spec(profile).get("covers")


def notebook_profile(profile: str, notebook: str) -> dict:
    """The profile values `notebook` runs on when it names `profile` (its parameters cell, or `s2d run`): the profile's
    own (`load_profile`) where it covers the notebook; else those of the profile its `others:` names (quick covers
    last-letter alone, so the other notebooks opened in JupyterLab under it run short's sizes, `profile` included),
    else the profile's `defaults`. `s2d run` itself refuses a notebook its profile does not cover."""
    covers, other = profile_covers(profile), _profile_spec(profile).get("others")
    if covers is not None and notebook not in covers and other:
        return load_profile(other, notebook)
    return load_profile(profile, notebook)


def profile_blocks(profile: str) -> list[str]:
    """The notebooks a profile has a parameter block for."""
    return list(_profile_spec(profile).get("notebooks") or {})


def load_profile(profile: str, notebook: str) -> dict:
    """Parameters of `notebook` under `profile`: the profile's `defaults` updated by its per-notebook block."""
    spec = _profile_spec(profile)
    given = {**spec.get("defaults", {}), **(spec.get("notebooks", {}).get(notebook) or {})}
    return {**{k: parse_value(k, v) for k, v in given.items()}, "profile": profile}
