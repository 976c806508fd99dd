import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1))
if WORKERS > 1:  # share the cores among pytest-xdist workers instead of oversubscribing them
    from s2dlib.provenance import usable_cores

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // WORKERS)))
# The longest files first (papermill runs of every notebook, crash-and-resume runs: ~4-5 of the suite's ~11 minutes),
# so the other worker works through the short ones meanwhile instead of both waiting on them at the end.
LONGEST_FIRST = ("test_notebooks.py", "test_reliability.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def s2d_cache(tmp_path_factory):
    """One cache dir per test session, so the tiny model is built once and nothing touches the user's cache."""
    path = os.environ.get("S2D_TEST_CACHE") or str(tmp_path_factory.mktemp("s2d_cache"))
    os.environ["S2D_CACHE"] = path
    return Path(path)


@pytest.fixture(scope="session")
def tiny_model(s2d_cache):
    import s2dlib.tiny  # noqa: F401  (registers model=tiny-random)
    from s2dlib.models import resolve_model

    path, fingerprint = resolve_model("tiny-random")
    return path


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1280,2000"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium through Selenium, as a reader opens a report; skipped where it is not installed."""
    import shutil

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Chromium/ChromeDriver not installed (Debian packages chromium, chromium-driver); .ci/run installs them")
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        opts.add_argument(flag)
    b = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=opts)
    yield b
    b.quit()


class ScriptedEngine:
    """A fake backend: answers from a function of (prompt text, sample index); counts what it generates."""

    def __init__(self, reply, fingerprint="scripted@0"):
        self.reply, self.fingerprint, self.calls, self.generated, self.batches = reply, fingerprint, 0, 0, []

    def generate(self, prompts, sampling, desc=""):
        from s2dlib.engines.base import Completion

        self.calls += 1
        self.batches.append(len(prompts))
        out = [[Completion(self.reply(m[-1]["content"], i), 5 + i) for i in range(sampling.n)] for m in prompts]
        self.generated += sum(map(len, out))
        return out


@pytest.fixture
def scripted():
    return ScriptedEngine
