"""System 2 methods (and System 1) register themselves on import (every module here is imported).

`build_method(name, cfg, task)` builds one from the config (each class's `from_config` reads the fields it uses),
`get_method(name, **kwargs)` from explicit arguments."""
from ..registry import import_all
from .base import METHODS, Method, MethodOutput, build_method, get_method

__all__ = ["METHODS", "Method", "MethodOutput", "build_method", "get_method"]

import_all(__name__, __path__)
