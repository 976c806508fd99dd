"""Shared by the backend tests: the last-letter direct prompts they generate from, and the reference backend."""
from s2dlib.engines.hf import HFEngine
from s2dlib.models import load_model
from s2dlib.tasks import get_task


def direct_prompts(n: int, seed: int = 5) -> list:
    task = get_task("last_letter")
    _, test = task.make_splits(0, n, seed=seed)
    return [[{"role": "user", "content": task.direct_prompt(e.question)}] for e in test]


def hf_engine(model_dir, batch_size: int = 8, adapter=None) -> HFEngine:
    """The transformers backend in fp32: the reference other backends are compared with."""
    model, tok, fp = load_model(str(model_dir), adapter=adapter, dtype="float32")
    return HFEngine(model, tok, fp, batch_size=batch_size)
