"""Tasks register themselves on import (every module here is imported); `get_task(name, **kwargs)` builds one."""
from ..registry import import_all
from .base import TASKS, Example, Task, check_disjoint, get_task, load_examples, save_examples, source_of

__all__ = ["TASKS", "Example", "Task", "check_disjoint", "get_task", "load_examples", "save_examples", "source_of"]

import_all(__name__, __path__)
