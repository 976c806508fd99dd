"""Experiment parameters as a dataclass with validation (one clear line per bad value) and named profiles."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from .distill import LoraSFTConfig
from .engines import resolve_engine
from .engines.base import Sampling
from .engines.ct2 import PIP as CT2_PIP, available as ct2_available
from .engines.vllm import PIP as VLLM_PIP, available as vllm_available
from .filters import FILTERS
from .methods.rar import RESPOND_STYLES
from .models import DTYPES, check_model_name
from .tasks import TASKS, Task, get_task

PROFILES_DIR = Path(__file__).parent / "profiles"
ENGINES = ("auto", "hf", "ct2", "vllm")


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


@dataclass
class ExperimentConfig:
    """Everything one method x task experiment needs (defaults: a small run; profiles set the real sizes)."""

    task: str = "last_letter"
    k: int = 2  # words per name (last_letter) / people per question (coin_flip)
    model: str = "qwen2.5-coder-1.5b-instruct"
    engine: str = "auto"  # auto (fastest installed for the hardware), hf (transformers), ct2 (CTranslate2 int8), vllm
    tensor_parallel_size: int = 1  # GPUs per model (vllm only)
    dtype: str = "auto"  # auto = bf16 where the hardware has bf16 units, else fp32
    n_train: int = 16  # unlabeled inputs for System 2 generation
    n_test: int = 24
    train_file: str | None = None  # a user's own data (JSONL/CSV with question, answer) instead of generated data
    test_file: str | None = None
    question_field: str = "question"  # task=qa (your own data): the files' question and answer fields
    answer_field: str = "answer"
    answer_type: str = "exact"  # task=qa: exact, number, choice (among `choices`) or regex (`answer_pattern`)
    choices: list = field(default_factory=list)
    answer_pattern: str = ""
    prompt_suffix: str = ""  # task=qa: what follows the question for System 1 (default: an answer-format line)
    n_samples: int = 5  # System 2 samples per input for the filter (self-consistency votes, USC candidates)
    n_shots: int = 0  # worked examples for few-shot CoT, taken from the training pool (and then left out of it)
    maj_k: list = field(default_factory=lambda: [1, 5, 10])  # maj@k evaluation over the first k of max(k) samples;
    # the k=1 row carries the plain system label (the one the paper's tables use)
    temperature: float = 0.5
    top_p: float = 0.9
    top_k: int = 20
    greedy_rephrase: bool = False  # True: one greedy step 1 (RaR rephrasing, S2A extraction) shared by all samples
    filter: str = "self_consistency"
    min_agreement: float = 0.6
    margin: int = 1
    max_new_tokens: int = 160  # per System 2 step
    max_new_tokens_first: int = 0  # step 1 of a two-step method (RaR rephrasing, S2A extraction); 0 = max_new_tokens
    respond_style: str = "format"  # RaR's answering step: format (the answer-format line only) or reason (asks to
    # reason first, then the format line); see s2dlib/methods/rar.py
    max_new_tokens_direct: int = 24  # System 1 and distilled models
    max_new_tokens_response: int = 64  # responses a task builds its data from (pairwise_judge: the pairs to judge)
    n_criteria: int = 3  # BSM: evaluation criteria the branch step writes (one solve call each)
    max_new_tokens_branch: int = 64  # BSM branch step (the criteria list); solve steps take max_new_tokens
    max_new_tokens_merge: int = 64  # BSM merge step (the verdict)
    batch_size: int = 40  # generation batch, in rows (prompts x samples)
    threads: int = 0  # torch threads for generation (0 = torch's default)
    n_val: int = 0  # training inputs held out (labels used) to choose lr x epochs; 0 = keep the profile's recipe
    lr_grid: list = field(default_factory=list)  # lrs tried on the validation split (empty: just lr)
    epochs_grid: list = field(default_factory=list)  # epochs tried on the validation split (empty: just epochs)
    learning_curve: list = field(default_factory=list)  # kept-pair counts for the learning curve (empty: none)
    distill_system1: bool = True  # RaR: the paper's Distill System 1 row (System 1's self-consistent answers distilled)
    gold_ceiling: bool = True  # RaR: the gold-label ceiling (an oracle: true answers distilled with the same recipe)
    no_filter_ablation: bool = True  # RaR: also distil the unfiltered first samples (an ablation, not a paper row)
    n_dev: int = 0  # labelled inputs outside training and test: the router's threshold is chosen there (0: not chosen)
    router_k: int = 4  # sampled answers of the distilled System 1 whose agreement is the router's confidence (0: none)
    lora_r: int = 16
    lora_alpha: int = 32
    epochs: float = 2.0
    lr: float = 2e-4  # the rate power runs chose on their validation splits (last-letter, 2026-12-03)
    train_batch_size: int = 4
    seed: int = 0
    seeds: list = field(default_factory=list)  # more training seeds (LoRA init, data order) for the distilled rows a
    # verdict rests on; each is evaluated on the same test items, System 2 generations are shared (empty: seed only)
    profile: str = "custom"
    run_dir: str = "runs"
    data_dir: str = "data"

    def __post_init__(self):
        def need(ok, name, allowed):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: allowed values are {allowed}")

        for f in fields(self):  # types first: YAML and --set hand over strings and bools where numbers belong
            v, kind = getattr(self, f.name), f.type.split(" | ")[0]
            ok = {"int": isinstance(v, int) and not isinstance(v, bool),
                  "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                  "bool": isinstance(v, bool), "str": isinstance(v, str) or (v is None and "None" in f.type),
                  "list": isinstance(v, (list, tuple)), "dict": isinstance(v, dict)}.get(kind, True)
            need(ok, f.name, {"int": "integers", "float": "numbers", "bool": "true or false", "str": "text",
                              "list": "lists", "dict": "mappings"}.get(kind, kind))

        need(self.task in TASKS, "task", ", ".join(sorted(TASKS)))
        check_model_name(self.model)
        need(self.engine in ENGINES, "engine", ", ".join(ENGINES))
        if self.engine == "vllm" and not vllm_available():
            raise ValueError(f"engine='vllm': vllm is not installed; install it with: {VLLM_PIP}")
        if self.engine == "ct2" and not ct2_available():
            raise ValueError(f"engine='ct2': ctranslate2 is not installed; install it with: {CT2_PIP}")
        need(isinstance(self.tensor_parallel_size, int) and self.tensor_parallel_size >= 1
             and (self.tensor_parallel_size == 1 or resolve_engine(self.engine) == "vllm"),
             "tensor_parallel_size", "integers >= 1 (above 1 only with engine=vllm)")
        need(self.dtype in DTYPES, "dtype", ", ".join(DTYPES))
        need(self.filter in FILTERS, "filter", ", ".join(sorted(FILTERS)))
        fits = sorted(n for n, f in FILTERS.items() if set(f.needs) <= TASKS[self.task].capabilities)
        need(self.filter in fits, "filter", f"{', '.join(fits)} for task {self.task!r}")
        need(self.profile in (*profile_names(), "custom"), "profile", ", ".join((*profile_names(), "custom")))
        for name in ("k", "n_train", "n_test", "n_samples", "max_new_tokens", "max_new_tokens_direct", "batch_size",
                     "max_new_tokens_response", "max_new_tokens_branch", "max_new_tokens_merge"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "integers >= 1")
        need(self.n_samples <= 64, "n_samples", "1 to 64")
        need(isinstance(self.max_new_tokens_first, int) and self.max_new_tokens_first >= 0, "max_new_tokens_first",
             "integers >= 0 (0: max_new_tokens)")
        need(self.respond_style in RESPOND_STYLES, "respond_style", ", ".join(RESPOND_STYLES))
        need(isinstance(self.n_criteria, int) and 1 <= self.n_criteria <= 5, "n_criteria", "integers 1 to 5")
        need(isinstance(self.n_shots, int) and 0 <= self.n_shots <= 16, "n_shots", "integers 0 to 16")
        need(isinstance(self.maj_k, (list, tuple)) and len(self.maj_k) > 0 and len(set(self.maj_k)) == len(self.maj_k)
             and all(isinstance(k, int) and 1 <= k <= 64 for k in self.maj_k), "maj_k", "a list of distinct integers 1 to 64")
        need(isinstance(self.n_val, int) and 0 <= self.n_val < self.n_train, "n_val", "integers 0 to n_train - 1")
        need(isinstance(self.lr_grid, (list, tuple)) and all(isinstance(x, (int, float)) and 0 < x < 1 for x in self.lr_grid),
             "lr_grid", "a list of numbers in (0, 1)")
        need(isinstance(self.epochs_grid, (list, tuple)) and all(isinstance(x, (int, float)) and x > 0 for x in self.epochs_grid),
             "epochs_grid", "a list of numbers > 0")
        need(not (self.lr_grid or self.epochs_grid) or self.n_val > 0, "n_val", "integers >= 1 when lr_grid/epochs_grid is set")
        need(isinstance(self.learning_curve, (list, tuple)) and all(isinstance(n, int) and n >= 1 for n in self.learning_curve),
             "learning_curve", "a list of integers >= 1 (kept pairs per point)")
        need(isinstance(self.n_dev, int) and 0 <= self.n_dev <= 1000, "n_dev", "integers 0 to 1000")
        need(isinstance(self.router_k, int) and 0 <= self.router_k <= 16, "router_k", "integers 0 to 16 (0: no router)")
        need(0.0 <= self.min_agreement <= 1.0, "min_agreement", "0 to 1 (share of all N samples)")
        need(isinstance(self.margin, int) and self.margin >= 0, "margin", "integers >= 0")
        need(isinstance(self.threads, int) and self.threads >= 0, "threads", "integers >= 0 (0 = default)")
        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "integers >= 0")
        need(isinstance(self.seeds, (list, tuple)) and len(set(self.seeds)) == len(self.seeds)
             and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds),
             "seeds", "a list of distinct integers >= 0 (training seeds; empty: seed only)")
        for name in ("train_file", "test_file"):
            need(getattr(self, name) is None or Path(getattr(self, name)).is_file(), name, "None or an existing JSONL/CSV file")
        need((self.train_file is None) == (self.test_file is None), "test_file" if self.train_file else "train_file",
             "a JSONL/CSV file when the other split is given (give both or neither)")
        self.sampling()  # temperature / top_p / top_k ranges
        self.lora()

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
                             batch_size=self.train_batch_size, seed=self.seed, dtype=self.dtype)

    @classmethod
    def from_params(cls, params: dict) -> "ExperimentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}: allowed parameters are {', '.join(sorted(known))}")
        return cls(**params)

    @classmethod
    def from_namespace(cls, ns: dict) -> "ExperimentConfig":
        """Build from a notebook's globals (its parameters cell plus papermill's injected values)."""
        return cls(**{f.name: ns[f.name] for f in fields(cls) if f.name in ns})

    def asdict(self) -> dict:
        return dataclasses.asdict(self)


def _profile_spec(profile: str) -> dict:
    if profile not in profile_names():
        raise ValueError(f"profile={profile!r}: allowed values are {', '.join(profile_names())}")
    return yaml.safe_load((PROFILES_DIR / f"{profile}.yaml").read_text()) or {}


def profile_covers(profile: str) -> list[str] | None:
    """The notebooks a profile runs when it names them (`covers:`); None: every notebook, each on the profile's
    `defaults` plus its own block under `notebooks:` if it has one (so a new notebook runs under every profile)."""
    return _profile_spec(profile).get("covers")


def profile_blocks(profile: str) -> list[str]:
    """The notebooks a profile has a parameter block for."""
    return list(_profile_spec(profile).get("notebooks") or {})


def load_profile(profile: str, notebook: str) -> dict:
    """Parameters of `notebook` under `profile`: the profile's `defaults` updated by its per-notebook block."""
    spec = _profile_spec(profile)
    return {**spec.get("defaults", {}), **(spec.get("notebooks", {}).get(notebook) or {}), "profile": profile}
