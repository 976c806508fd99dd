"""s2dlib: System 2 distillation (Yu et al. 2024) as small, tested units; see README.md."""
import warnings

# tqdm.auto (used inside datasets/transformers) warns in kernels without ipywidgets; our bars are plain text anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"


def at_project_root() -> None:
    """Work from the repository root when this package runs from a checkout (an editable install), so a notebook
    opened in JupyterLab reads and writes data/, runs/ and reports/ there wherever its kernel started."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").exists() and (root / "notebooks").is_dir():
        os.chdir(root)
