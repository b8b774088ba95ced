"""Repodata from Python: a full write and the incremental publisher, read back
by our solver and by createrepo_c's own tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import albs


def test_write_repo_is_read_by_the_solver_and_checks_out(tiny_rpm: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    rpm = shutil.copy(tiny_rpm, repo)
    summary = albs.write_repo(repo, [rpm])
    assert summary["packages"] == 1
    assert [d["type"] for d in summary["data"]] == ["primary", "filelists", "other"]
    checked = albs.verify_repo(repo)
    assert {f["href"] for f in checked} == {d["href"] for d in summary["data"]}
    pool = albs.Pool("x86_64")
    assert pool.add_repo(repo) == 1
    assert pool.install(["pytiny"]) == ["pytiny-2:1.4~rc1-3.el9.noarch"]
    # createrepo_c's modifyrepo reads our repomd.xml and adds to it.
    extra = tmp_path / "extra.xml"
    extra.write_text("<x/>")
    subprocess.run(["modifyrepo_c", str(extra), str(repo / "repodata")], check=True, capture_output=True)
    assert any(f["type"] == "extra" for f in albs.verify_repo(repo))


def test_incremental_publish_and_revert(tiny_rpm: Path, tmp_path: Path) -> None:
    dir = tmp_path / "inc"
    dir.mkdir()
    rpm = Path(shutil.copy(tiny_rpm, dir))
    r = albs.Repo(dir, "zst")
    assert r.add([rpm]) == ["pytiny-2:1.4~rc1-3.el9.noarch"]
    first = r.publish()
    assert first["packages"] == 1 and first["changed"]
    assert all(f.endswith(".zst") for f in first["files"])
    v1 = (dir / "repodata" / "repomd.xml").read_bytes()
    assert [p[0] for p in r.packages()] == ["pytiny-2:1.4~rc1-3.el9.noarch"]
    assert r.remove(["pytiny-2:1.4~rc1-3.el9.noarch"]) == ["pytiny-2:1.4~rc1-3.el9.noarch"]
    second = r.publish()
    assert second["packages"] == 0 and second["generation"] > first["generation"]
    assert (dir / "repodata" / "repomd.xml").read_bytes() != v1
    back = r.revert()
    assert back["generation"] == first["generation"]
    assert (dir / "repodata" / "repomd.xml").read_bytes() == v1, "revert restores repomd.xml byte for byte"
    albs.verify_repo(dir)
    with pytest.raises(albs.RepoError):
        r.remove(["nosuch-1-1.noarch"])
    with pytest.raises(albs.RepoError):
        albs.Repo(dir)  # locked by r
    with pytest.raises(albs.ParseError):
        albs.Repo(tmp_path / "other", "bz9")


def test_a_corrupt_metadata_file_is_named(tiny_rpm: Path, tmp_path: Path) -> None:
    repo = tmp_path / "bad"
    repo.mkdir()
    summary = albs.write_repo(repo, [shutil.copy(tiny_rpm, repo)])
    primary = next(d["href"] for d in summary["data"] if d["type"] == "primary")
    (repo / primary).write_bytes(b"garbage")
    with pytest.raises(albs.RepoError, match="primary"):
        albs.verify_repo(repo)
