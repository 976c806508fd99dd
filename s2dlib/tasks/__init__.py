"""Tasks register themselves on import; `get_task(name, **kwargs)` builds one."""
from . import coin_flip, gsm8k, last_letter, pairwise_judge, sycophancy  # noqa: F401  (registration)
from .base import TASKS, Example, Task, check_disjoint, get_task, load_examples, save_examples, source_of

__all__ = ["TASKS", "Example", "Task", "check_disjoint", "get_task", "load_examples", "save_examples", "source_of"]
