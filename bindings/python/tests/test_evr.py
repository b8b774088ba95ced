"""Version comparison, EVR and NEVRA parsing, package headers and digests."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

import albs

# rpm 4.18 answers (rpmvercmp test suite and rpm --eval lua rpm.vercmp).
KNOWN: list[tuple[str, str, int]] = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz.4", "8", -1),
    ("1.0010", "1.9", 1),
    ("1.05", "1.5", 0),
    ("010", "10", 0),
    ("fc4", "fc.4", 0),
    ("FC5", "fc4", -1),
    ("2a", "2.0", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0^git2", -1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
]


def rpm_vercmp(pairs: list[tuple[str, str]]) -> list[int]:
    """rpm's own answers, through its embedded Lua."""
    calls = " ".join(f'print(rpm.vercmp("{a}", "{b}"), " ")' for a, b in pairs)
    out = subprocess.run(
        ["rpm", "--eval", f"%{{lua: {calls}}}"], capture_output=True, text=True, check=True
    ).stdout
    return [int(x) for x in out.split()]


@pytest.mark.parametrize(("a", "b", "want"), KNOWN)
def test_vercmp_known_answers(a: str, b: str, want: int) -> None:
    assert albs.vercmp(a, b) == want
    assert albs.vercmp(b, a) == -want


def test_vercmp_agrees_with_rpm_on_every_pair() -> None:
    versions = sorted({v for a, b, _ in KNOWN for v in (a, b)})
    pairs = [(a, b) for a in versions for b in versions]
    assert [albs.vercmp(a, b) for a, b in pairs] == rpm_vercmp(pairs)


def test_evr_parses_compares_and_prints() -> None:
    e = albs.Evr("2:1.4~rc1-3.el9")
    assert (e.epoch, e.version, e.release) == (2, "1.4~rc1", "3.el9")
    assert str(e) == "2:1.4~rc1-3.el9"
    assert albs.Evr("1.0").release is None
    assert albs.Evr("1:0.1-1") > albs.Evr("9.9-9")
    assert albs.Evr("1.0-1") < albs.Evr("1.0-1.el9") < albs.Evr("1.0.1-1")
    assert albs.Evr("1.0-1") == albs.Evr("0:1.0-1")
    assert len({albs.Evr("1.0-1"), albs.Evr("0:1.0-1")}) == 1
    assert albs.Evr("1.0") != "1.0"
    with pytest.raises(TypeError):
        assert albs.Evr("1.0") < "2.0"  # type: ignore[operator]
    assert sorted(albs.Evr(t) for t in ["1.10", "1.9", "1.9~b"]) == [
        albs.Evr("1.9~b"),
        albs.Evr("1.9"),
        albs.Evr("1.10"),
    ]


def test_nevra_parses_and_names_its_file() -> None:
    n = albs.Nevra("bash-1:5.1.8-6.el9.x86_64")
    assert (n.name, n.epoch, n.version, n.release, n.arch) == (
        "bash",
        1,
        "5.1.8",
        "6.el9",
        "x86_64",
    )
    assert str(n) == "bash-1:5.1.8-6.el9.x86_64"
    assert n.evr == albs.Evr("1:5.1.8-6.el9")
    assert n.file_name() == "bash-5.1.8-6.el9.x86_64.rpm"
    assert albs.Nevra("a-1-2.noarch") < albs.Nevra("a-1-10.noarch")


@pytest.mark.parametrize("text", ["bash", "bash-1.0.x86_64", "x:1-2.noarch-"])
def test_bad_nevra_raises_parse_error(text: str) -> None:
    with pytest.raises(albs.ParseError):
        albs.Nevra(text)


def test_bad_epoch_raises_parse_error() -> None:
    with pytest.raises(albs.ParseError, match="epoch"):
        albs.Evr("x:1.0-1")
    assert issubclass(albs.ParseError, albs.AlbsError)


def test_read_header_of_an_rpmbuild_package(tiny_rpm: Path) -> None:
    n = albs.read_header(tiny_rpm)
    assert str(n) == "pytiny-2:1.4~rc1-3.el9.noarch"
    assert n.file_name() == tiny_rpm.name
    query = subprocess.run(
        ["rpm", "-qp", "--qf", "%{EPOCH}:%{VERSION}-%{RELEASE}", str(tiny_rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert n.evr == albs.Evr(query)


def test_read_header_errors(tmp_path: Path) -> None:
    with pytest.raises(albs.IoError, match="missing.rpm"):
        albs.read_header(tmp_path / "missing.rpm")
    junk = tmp_path / "junk.rpm"
    junk.write_bytes(b"not an rpm" * 100)
    with pytest.raises(albs.ParseError, match="junk.rpm"):
        albs.read_header(junk)


def test_sha256_file_matches_hashlib(tiny_rpm: Path, tmp_path: Path) -> None:
    assert albs.sha256_file(tiny_rpm) == hashlib.sha256(tiny_rpm.read_bytes()).hexdigest()
    with pytest.raises(albs.IoError):
        albs.sha256_file(tmp_path / "nothing")
