"""System 2 methods (and System 1) register themselves on import; `get_method(name, **kwargs)` builds one."""
from . import bsm, cot, rar, s2a, system1  # noqa: F401  (registration)
from .base import METHODS, Method, MethodOutput, get_method

__all__ = ["METHODS", "Method", "MethodOutput", "get_method"]
