"""Fixtures built by scripts and real tools: rpmbuild, the albs CLI and server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import albs

REPO = Path(__file__).resolve().parents[3]
UNIVERSE = Path(
    os.environ.get(
        "ALBS_UNIVERSE", "/work/shared/data/universe-bookworm.primary.xml.gz"
    )
)
T = TypeVar("T")
ALBS_BIN = Path(os.environ.get("ALBS_BIN", REPO / "target" / "debug" / "albs"))


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """Runs a command, failing the test with its stderr when it fails."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("ALBS_DATABASE_URL", None)
    out = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=full_env
    )
    assert out.returncode == 0, f"{args}: {out.stderr}"
    return out.stdout


def albs_cli(data: Path, *args: str | Path, env: dict[str, str] | None = None) -> str:
    return run(ALBS_BIN, "--data", data, *args, env=env)


@pytest.fixture(scope="session")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example dist-git repositories (git/, lookaside/)."""
    root = tmp_path_factory.mktemp("fx")
    run("bash", REPO / "examples" / "make-fixtures.sh", root)
    return root


@pytest.fixture(scope="session")
def universe() -> albs.Pool:
    """Debian bookworm's packages as an rpm-md primary.xml."""
    pool = albs.Pool("x86_64")
    assert pool.add_repo(UNIVERSE) == len(pool) > 60000
    return pool


SPEC = """\
Name: pytiny
Epoch: 2
Version: 1.4~rc1
Release: 3.el9
Summary: A tiny package for the albs bindings tests
License: MIT
BuildArch: noarch

%description
Nothing inside.

%files
"""


@pytest.fixture(scope="session")
def tiny_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A noarch RPM built by rpmbuild from a tiny spec."""
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "pytiny.spec"
    spec.write_text(SPEC)
    run("rpmbuild", "--define", f"_topdir {top}", "-bb", spec)
    (rpm,) = (top / "RPMS" / "noarch").glob("*.rpm")
    return rpm


@dataclass
class Ledger:
    """Two checkpoints of one log, proofs and the key that signed them."""

    key: str
    cp1: str
    cp2: str
    prove: dict[str, Any]
    consistency: list[str]


@pytest.fixture(scope="session")
def ledger(examples: Path, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """A ledger filled by `albs build` of two example packages."""
    data = tmp_path_factory.mktemp("ledger") / "data"
    look = examples / "lookaside"

    def build(name: str) -> None:
        albs_cli(data, "build", "--no-test", "--lookaside", look, examples / "git" / name)

    def checkpoint() -> str:
        return albs_cli(data, "ledger", "checkpoint", env={"ALBS_LEDGER_KEY": signer})

    build("albs-docs")
    keygen = subprocess.run(
        [str(ALBS_BIN), "--data", str(data), "ledger", "keygen", "--name", "albs.test/ledger"],
        capture_output=True,
        text=True,
        check=True,
    )
    signer = keygen.stdout.strip()
    key = keygen.stderr.strip().rsplit(" ", 1)[-1]
    cp1 = checkpoint()
    prove = json.loads(albs_cli(data, "ledger", "prove", "1"))
    build("hello-extras")
    cp2 = checkpoint()
    old, new = cp1.splitlines()[1], cp2.splitlines()[1]
    consistency = json.loads(albs_cli(data, "ledger", "consistency", old, new))["proof"]
    return Ledger(key, cp1, cp2, prove, consistency)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running albs server without build nodes, and an admin token."""

    url: str
    token: str


def start_server(data: Path, *extra: str | Path) -> Iterator[Server]:
    """Runs `albs server` on a free port until the fixture ends."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "ALBS_DATABASE_URL"}
    listen = url.removeprefix("http://")
    proc = subprocess.Popen(
        [str(ALBS_BIN), "--data", str(data), "server", "--listen", listen, *map(str, extra)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        anon = albs.Client(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                anon.build(1)
            except albs.ApiError:
                break  # the server answers (404: no build yet)
            except albs.UnreachableError:
                assert time.monotonic() < deadline, "the server did not start"
                assert proc.poll() is None, "the server exited"
                time.sleep(0.1)
        token = albs_cli(data, "token", "create", "--user", "py", "--admin").strip()
        yield Server(url, token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server without build nodes: builds stay pending."""
    yield from start_server(tmp_path_factory.mktemp("server") / "data")


@pytest.fixture(scope="session")
def building_server(
    tmp_path_factory: pytest.TempPathFactory, examples: Path
) -> Iterator[Server]:
    """A server with a build node in its process (rpmbuild without sandbox)."""
    data = tmp_path_factory.mktemp("building-server") / "data"
    yield from start_server(
        data, "--with-node", "--no-sandbox", "--lookaside", examples / "lookaside"
    )


def runs_beside_python(call: Callable[[], T]) -> tuple[T, float]:
    """Runs `call` while a Python thread ticks every 10 ms; returns its result
    and the share of the expected ticks that happened (about 1.0 when the
    call released the GIL, near 0 when it held it)."""
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    try:
        start = time.monotonic()
        result = call()
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        t.join()
    return result, ticks / max(elapsed / 0.01, 1.0)
