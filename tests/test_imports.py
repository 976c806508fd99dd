"""The package's layers: every import inside s2dlib (lazy ones too) points to the same or a lower layer, no cycles."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "s2dlib"
# lowest first; a module may import its own layer or those below (a package's __init__ sits with its modules)
LAYERS = [
    {"s2dlib", "registry", "provenance", "staging", "route", "paper", "pilot", "engines.base", "jsonio", "sharded"},
    {"tasks", "tasks.*"},
    {"evaluate"},  # metrics cluster by a task input's source question
    {"methods", "methods.*", "filters", "cache"},
    {"models"},
    {"tiny"},  # the plumbing model: its corpus comes from the tasks and methods; it registers itself with models
    {"engines", "engines.hf", "engines.ct2", "engines.vllm", "distill"},
    {"config"},
    {"pipeline", "recipe", "claims", "report", "report.*", "rar_study"},
    {"cli"},
]


def layer(module: str) -> int:
    short = module.removeprefix("s2dlib.") if module != "s2dlib" else module
    for i, names in enumerate(LAYERS):
        if short in names or any(n.endswith(".*") and short.startswith(n[:-1]) for n in names):
            return i
    raise AssertionError(f"{module}: not in any layer of tests/test_imports.py")


def modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imports() -> dict[str, set[str]]:
    mods = modules()
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                found = [t for t in (target, *(f"{target}.{a.name}" for a in node.names)) if t in mods]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names if a.name in mods]
            else:
                continue
            edges[m].update(t for t in found if t != m)
    return edges


def test_every_import_points_down_or_sideways():
    upward = [f"{m} -> {t}" for m, ts in imports().items() for t in ts if layer(t) > layer(m)]
    assert not upward, upward


def test_no_import_cycle():
    edges, seen, path = imports(), set(), []

    def visit(m):
        assert m not in path, f"import cycle: {' -> '.join(path[path.index(m):] + [m])}"
        if m in seen:
            return
        path.append(m)
        for t in sorted(edges[m]):
            visit(t)
        path.pop()
        seen.add(m)

    for m in sorted(edges):
        visit(m)
