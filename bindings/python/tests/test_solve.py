"""The solver on Debian bookworm's universe and on a hand-made repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import albs

from conftest import UNIVERSE, runs_beside_python


def test_build_essential_installs(universe: albs.Pool) -> None:
    got = universe.install(["build-essential"])
    names = {albs.Nevra(n).name for n in got}
    assert {"build-essential", "gcc", "g++", "make", "libc6-dev", "dpkg-dev"} <= names
    assert got == sorted(got)
    assert len(got) == len(names), "one package per name"


def test_repoclosure_finds_the_54_broken_packages(universe: albs.Pool) -> None:
    broken = universe.repoclosure()
    assert len(broken) == 54
    nevras = [n for n, _ in broken]
    assert len(set(nevras)) == 54
    assert ("agda-bin-2.6.2.2-1.1.x86_64", "libghc-agda-dev < 2.6.2.2+~") in broken


def test_an_unknown_package_is_unsatisfiable(universe: albs.Pool) -> None:
    with pytest.raises(albs.UnsatisfiableError) as e:
        universe.install(["no-such-package-anywhere"])
    assert e.value.lines == ["no package is named no-such-package-anywhere"]
    assert "no-such-package-anywhere" in str(e.value)
    assert isinstance(e.value, albs.AlbsError)


def test_a_missing_repository_is_a_repo_error(tmp_path: Path) -> None:
    pool = albs.Pool()
    with pytest.raises(albs.RepoError, match="nothing.xml"):
        pool.add_repo(tmp_path / "nothing.xml")
    with pytest.raises(albs.RepoError):
        pool.add_repo(tmp_path)  # a directory without repodata/
    bad = tmp_path / "primary.xml"
    bad.write_text("<metadata><package>")
    with pytest.raises(albs.RepoError, match="primary.xml"):
        pool.add_repo(bad)


PRIMARY = """<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common"
          xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="4">
{packages}
</metadata>
"""


def package(name: str, arch: str, requires: list[str]) -> str:
    req = "".join(f'<rpm:entry name="{r}"/>' for r in requires)
    return f"""<package type="rpm">
  <name>{name}</name><arch>{arch}</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <format>
    <rpm:provides><rpm:entry name="{name}" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides>
    <rpm:requires>{req}</rpm:requires>
  </format>
</package>"""


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    path = tmp_path / "primary.xml"
    path.write_text(
        PRIMARY.format(
            packages="\n".join(
                [
                    package("app", "x86_64", ["lib"]),
                    package("lib", "x86_64", []),
                    package("broken", "noarch", ["missing-thing"]),
                    package("armonly", "aarch64", []),
                ]
            )
        )
    )
    return path


def test_installcheck_and_arch(small_repo: Path) -> None:
    pool = albs.Pool("x86_64")
    assert pool.add_repo(small_repo) == 4
    assert pool.install(["app"]) == ["app-1.0-1.x86_64", "lib-1.0-1.x86_64"]
    bad = dict(pool.installcheck())
    assert set(bad) == {"broken-1.0-1.noarch", "armonly-1.0-1.aarch64"}
    assert "missing-thing" in bad["broken-1.0-1.noarch"]
    assert pool.repoclosure() == [("broken-1.0-1.noarch", "missing-thing")]
    arm = albs.Pool("aarch64")
    arm.add_repo(small_repo)
    assert arm.install(["armonly"]) == ["armonly-1.0-1.aarch64"]
    with pytest.raises(albs.UnsatisfiableError):
        pool.install(["armonly"])


def test_loading_releases_the_gil() -> None:
    count, share = runs_beside_python(lambda: albs.Pool().add_repo(UNIVERSE))
    assert count > 60000
    assert share > 0.3, share


def test_build_order_from_triples() -> None:
    order = albs.build_order(
        [
            ("app", ["libfoo-devel >= 1.0", "gcc"], ["app"]),
            ("libfoo", [], ["libfoo", "libfoo-devel = 1.2-1"]),
            ("a", ["b"], ["a"]),
            ("b", ["a"], ["b"]),
        ]
    )
    names = [s["name"] for s in order["steps"]]
    assert names.index("libfoo") < names.index("app")
    assert order["cycles"] == [["a", "b"]]
    assert ["app", "libfoo", "libfoo-devel >= 1.0"] in order["edges"]
    assert ["app", "gcc"] in order["external"]
    with pytest.raises(albs.ParseError):
        albs.build_order([("x", [], []), ("x", [], [])])


SRPM_SPEC = """\
Name: {name}
Version: 1.0
Release: 1
Summary: build order test
License: MIT
{extra}
%description
x

%files
"""


def test_build_order_from_srpms(tmp_path: Path) -> None:
    srpms = []
    for name, extra in [
        ("app", "BuildRequires: libfoo-devel >= 1.0"),
        ("libfoo", "%package devel\nSummary: headers\n%description devel\nx\n%files devel"),
    ]:
        spec = tmp_path / f"{name}.spec"
        spec.write_text(SRPM_SPEC.format(name=name, extra=extra))
        top = tmp_path / name
        subprocess.run(
            ["rpmbuild", "--define", f"_topdir {top}", "-bs", str(spec)],
            check=True, capture_output=True,
        )
        srpms += list((top / "SRPMS").glob("*.src.rpm"))
    assert len(srpms) == 2
    # rpm 4.18 records the subpackages' provides in the SRPM header.
    order = albs.build_order_srpms(srpms)
    assert [s["name"] for s in order["steps"]] == ["libfoo", "app"]
    assert ["app", "libfoo", "libfoo-devel >= 1.0"] in order["edges"]
    assert order["external"] == []
    # `produces` overrides what a source package is taken to produce.
    told = albs.build_order_srpms(srpms, {"libfoo": ["libfoo = 1.0-1"]})
    assert ["app", "libfoo-devel >= 1.0"] in told["external"]
    assert told["edges"] == []
    with pytest.raises(albs.IoError):
        albs.build_order_srpms([tmp_path / "missing.src.rpm"])


def versioned(name: str, ver: str, requires: list[str]) -> str:
    return package(name, "x86_64", requires).replace('ver="1.0"', f'ver="{ver}"')


def test_update_and_erase_against_an_installed_system(tmp_path: Path) -> None:
    installed = tmp_path / "installed.xml"
    installed.write_text(
        PRIMARY.format(packages="\n".join([versioned("app", "1.0", ["lib"]), versioned("lib", "1.0", [])]))
    )
    available = tmp_path / "available.xml"
    available.write_text(PRIMARY.format(packages=versioned("lib", "2.0", [])))
    pool = albs.Pool("x86_64")
    assert pool.add_installed(installed) == 2
    pool.add_repo(available)
    assert pool.solve(update=["lib"]) == [("upgrade", "upgrade lib-1.0-1.x86_64 -> lib-2.0-1.x86_64")]
    assert pool.solve(update_all=True) == pool.solve(update=["lib"])
    # app requires lib: erasing lib alone is refused, with allow_erasing app goes too.
    with pytest.raises(albs.UnsatisfiableError) as e:
        pool.solve(erase=["lib"])
    assert any("lib" in line for line in e.value.lines)
    erased = pool.solve(erase=["lib"], allow_erasing=True)
    assert sorted(erased) == [("erase", "erase app-1.0-1.x86_64"), ("erase", "erase lib-1.0-1.x86_64")]
    assert pool.solve(install=["app"]) == []
