"""The typed stubs describe the extension module as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import albs

from conftest import REPO


def test_stubs_match_the_runtime() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "albs"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_error_kind_is_an_albs_error() -> None:
    kinds = [
        albs.ParseError,
        albs.RepoError,
        albs.UnsatisfiableError,
        albs.VerificationError,
        albs.ApiError,
        albs.UnreachableError,
        albs.IoError,
    ]
    assert all(issubclass(k, albs.AlbsError) for k in kinds)
    assert len(set(kinds)) == len(kinds)
    assert albs.AlbsError.__module__ == "albs"
    assert set(albs.__all__) <= set(dir(albs))


def test_the_python_code_type_checks() -> None:
    here = Path(__file__).resolve().parent
    sources = [here, here.parent / "python" / "albs", REPO / "examples" / "python"]
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, sources)],
        capture_output=True,
        text=True,
        cwd=here.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
