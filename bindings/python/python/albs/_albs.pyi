"""Type stubs of the albs extension module."""

from collections.abc import Sequence
from os import PathLike
from typing import Any, Self, final

__all__ = [
    "AlbsError",
    "ApiError",
    "Client",
    "Evr",
    "IoError",
    "Nevra",
    "ParseError",
    "Pool",
    "Repo",
    "RepoError",
    "UnreachableError",
    "UnsatisfiableError",
    "VerificationError",
    "add_updateinfo",
    "audit",
    "build_order",
    "build_order_srpms",
    "osv",
    "oval",
    "read_header",
    "sbom",
    "sha256_file",
    "updateinfo",
    "vercmp",
    "verify_checkpoint",
    "verify_provenance",
    "verify_record",
    "verify_repo",
    "write_repo",
]

_Path = str | PathLike[str]

class AlbsError(Exception):
    """Base class of every albs error."""

class ParseError(AlbsError):
    """Text or a file is not what it should be."""

class RepoError(AlbsError):
    """A repository could not be read."""

class UnsatisfiableError(AlbsError):
    """Install jobs cannot be satisfied."""

    lines: list[str]
    """One line per rule involved, "nothing provides" ones first."""

class VerificationError(AlbsError):
    """A checkpoint, record or consistency proof did not verify."""

class ApiError(AlbsError):
    """The server answered with an error."""

    status: int
    """The HTTP status."""

class UnreachableError(AlbsError):
    """The server could not be reached."""

class IoError(AlbsError):
    """A local file could not be read or written."""

@final
class Evr:
    """Epoch, version and release, ordered the way rpm orders them."""

    def __new__(cls, text: str) -> Self: ...
    @property
    def epoch(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def release(self) -> str | None: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __lt__(self, other: Evr, /) -> bool: ...
    def __le__(self, other: Evr, /) -> bool: ...
    def __gt__(self, other: Evr, /) -> bool: ...
    def __ge__(self, other: Evr, /) -> bool: ...

@final
class Nevra:
    """Name, epoch, version, release and architecture of a package."""

    def __new__(cls, text: str) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def release(self) -> str | None: ...
    @property
    def arch(self) -> str: ...
    @property
    def evr(self) -> Evr: ...
    def file_name(self) -> str: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __lt__(self, other: Nevra, /) -> bool: ...
    def __le__(self, other: Nevra, /) -> bool: ...
    def __gt__(self, other: Nevra, /) -> bool: ...
    def __ge__(self, other: Nevra, /) -> bool: ...

@final
class Pool:
    """A package pool for one machine architecture."""

    def __new__(cls, arch: str = "x86_64") -> Self: ...
    def add_repo(self, path: _Path) -> int:
        """Adds a primary.xml file or a repository directory; returns its package count."""
    def __len__(self) -> int: ...
    def install(self, names: list[str]) -> list[str]:
        """Sorted NEVRAs to install; raises UnsatisfiableError."""
    def add_installed(self, path: _Path) -> int:
        """Adds the installed system as rpm-md; returns its package count."""
    def solve(
        self,
        install: list[str] = ...,
        erase: list[str] = ...,
        update: list[str] = ...,
        update_all: bool = False,
        allow_erasing: bool = False,
    ) -> list[tuple[str, str]]:
        """The transaction for these jobs against the installed system: (action, description)."""
    def repoclosure(self) -> list[tuple[str, str]]:
        """(NEVRA, unresolved requires) of each package with a requires nothing provides."""
    def installcheck(self) -> list[tuple[str, str]]:
        """(NEVRA, reason) of each package that cannot be installed."""

@final
class Client:
    """A blocking client of an albs server."""

    def __new__(cls, url: str, token: str | None = None) -> Self: ...
    def submit(
        self,
        platform: str,
        arches: list[str],
        refs: list[str],
        wait: bool = False,
        dependency_order: bool = False,
    ) -> dict[str, Any]:
        """Submits a build of paths or URLs; returns the build."""
    def build(self, id: int) -> dict[str, Any]:
        """The build with this id (with its overall "state")."""
    def log(self, task: int, from_: int = 0) -> tuple[list[str], int, bool]:
        """(lines, next, done) of a task's log from line from_."""
    def download(self, sha256: str, dest: _Path) -> None:
        """Downloads an artifact by its sha256 to dest."""
    def cancel(self, id: int) -> dict[str, Any]:
        """Cancels a build; returns it."""
    def restart(self, id: int) -> dict[str, Any]:
        """Restarts the failed, timed-out and cancelled tasks of a build."""
    def platforms(self) -> list[dict[str, Any]]:
        """The platforms the server builds for."""
    def builds(
        self,
        package: str | None = None,
        owner: str | None = None,
        platform: str | None = None,
        state: str | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """One page of builds, newest first: {"builds": [...], "next": id or None}."""

def vercmp(a: str, b: str) -> int:
    """rpm's version comparison: -1, 0 or 1."""

def read_header(path: _Path) -> Nevra:
    """The NEVRA in an RPM file's header (arch "src" for source packages)."""

def sha256_file(path: _Path) -> str:
    """Lower-case hex sha256 of a file."""

def verify_checkpoint(note: str, key: str) -> tuple[str, int, str]:
    """(origin, size, root hex) of a signed checkpoint; raises VerificationError."""

def verify_record(
    record: bytes, index: int, proof: list[str], note: str, key: str
) -> None:
    """Checks that record sits at index in the log the checkpoint commits to."""

def audit(old: str, new: str, proof: list[str], key: str) -> None:
    """Checks that the newer checkpoint's log extends the older one's."""

def build_order(inputs: list[tuple[str, list[str], list[str]]]) -> dict[str, Any]:
    """Build order of (name, BuildRequires, provides) triples: steps, cycles, edges, external."""

def build_order_srpms(
    paths: Sequence[_Path], produces: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Build order of SRPM files; produces maps a source name to its binary provides."""

def write_repo(dir: _Path, rpms: Sequence[_Path]) -> dict[str, Any]:
    """Writes rpm-md repodata for rpms into dir: {"packages", "repomd", "data"}."""

def verify_repo(dir: _Path) -> list[dict[str, Any]]:
    """Checks every metadata file repomd.xml names; raises RepoError naming the bad one."""

@final
class Repo:
    """A repository under incremental, atomic publishing (holds its lock while open)."""

    def __new__(cls, dir: _Path, compression: str | None = None) -> Self: ...
    def add(self, paths: Sequence[_Path]) -> list[str]:
        """Adds (or updates) package files inside the repository; returns their NEVRAs."""
    def remove(self, specs: list[str]) -> list[str]:
        """Removes packages by NEVRA or path; returns the NEVRAs removed."""
    def publish(self) -> dict[str, Any]:
        """Publishes: new metadata first, repomd.xml last."""
    def revert(self) -> dict[str, Any]:
        """Serves the previous generation again, byte for byte."""
    def packages(self) -> list[tuple[str, str, str]]:
        """(nevra, href, sha256) of every package in the working set."""

def sbom(
    rpms: Sequence[_Path],
    platform: str,
    format: str = "cyclonedx-json",
    build_id: int | None = None,
    url: str | None = None,
    ledger: str | None = None,
) -> str:
    """An SBOM (cyclonedx-json, cyclonedx-xml or spdx) of one package, or of a build with build_id."""

def verify_provenance(envelope: str, key: str) -> dict[str, Any]:
    """Verifies a DSSE provenance envelope; returns the in-toto statement."""

def oval(platform: str, errata: _Path) -> str:
    """The OVAL 5.10 feed of a platform from the advisory JSON files in errata."""

def updateinfo(errata: _Path) -> str:
    """updateinfo.xml of the advisory JSON files in errata."""

def add_updateinfo(repo: _Path, errata: _Path) -> dict[str, Any]:
    """Adds the advisories in errata to a repository as its updateinfo."""

def osv(path: _Path) -> dict[str, Any]:
    """One advisory JSON file as an OSV record."""
