#!/usr/bin/env python3
"""Set up the project and run its main job or its checks, with nothing but Python.

    python3 dev.py demo    # install into .venv, then sync the examples (the main job)
    python3 dev.py test    # install into .venv, then format check, lint, types, tests

The virtual environment lives in ``.venv`` beside this file; it is created on first
use and refreshed whenever ``pyproject.toml`` changes. Extra arguments after ``test``
go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".divalto-installed"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def test(pytest_args: list[str]) -> None:
    run(PYTHON, "-m", "ruff", "format", "--check", ".")
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "mypy")
    run(PYTHON, "-m", "pytest", *pytest_args)


def demo() -> None:
    """Sync the bundled real shop exports into an embedded, simulated ERP.

    The state (journal, simulated ERP, report) goes to ``.divalto-sync/``: a
    second demo finds it and creates nothing; delete the folder to start over.
    """
    run(BIN / "divalto", "sync", "examples/data", "--state-dir", ".divalto-sync")


def main() -> None:
    command, *rest = sys.argv[1:] or ["help"]
    if command not in {"demo", "test"}:
        sys.exit(__doc__)
    ensure_environment()
    if command == "test":
        test(rest)
    else:
        demo()


if __name__ == "__main__":
    main()
