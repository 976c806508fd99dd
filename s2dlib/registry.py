"""Small named registries (tasks, methods, filters), lm-evaluation-harness style."""
from __future__ import annotations


class Registry(dict):
    """name -> class. `@REG.register` adds a class under its `name`; `REG.build(name, **kw)` makes one."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, cls):
        if cls.name in self:
            raise ValueError(f"{self.kind} {cls.name!r} is registered twice ({self[cls.name].__qualname__}, {cls.__qualname__})")
        self[cls.name] = cls
        return cls

    def check(self, name: str) -> None:
        if name not in self:
            raise ValueError(f"{self.kind}={name!r}: allowed values are {', '.join(sorted(self))}")

    def build(self, name: str, **kwargs):
        self.check(name)
        return self[name](**kwargs)


def import_all(package: str, path) -> None:
    """Import every module of a package, so each unit registers itself: a new method or task is one new file."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{info.name}")
