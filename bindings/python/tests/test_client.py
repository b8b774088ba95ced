"""The client against real albs servers: one without build nodes, one with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import albs

from conftest import Server, runs_beside_python


def test_a_build_without_nodes_stays_pending(server: Server, examples: Path) -> None:
    client = albs.Client(server.url, server.token)
    repo = examples / "git" / "hello"
    build = client.submit("almalinux-9", ["x86_64"], [str(repo)])
    assert build["state"] == "pending"
    assert build["platform"] == "almalinux-9"
    assert build["refs"] == [{"type": "git", "url": str(repo)}]
    tasks = build["tasks"]
    assert tasks and all(t["state"] == "pending" for t in tasks)
    again = client.build(build["id"])
    assert again["id"] == build["id"]
    assert again["state"] == "pending"
    lines, next_line, done = client.log(tasks[0]["id"])
    assert (lines, next_line, done) == ([], 0, False)


def test_without_a_token_submitting_is_refused(server: Server, examples: Path) -> None:
    with pytest.raises(albs.ApiError) as e:
        albs.Client(server.url).submit("almalinux-9", [], [str(examples / "git" / "hello")])
    assert e.value.status == 401


def test_unknown_things_are_api_errors(server: Server, tmp_path: Path) -> None:
    client = albs.Client(server.url, server.token)
    with pytest.raises(albs.ApiError) as e:
        client.build(999999)
    assert e.value.status == 404
    with pytest.raises(albs.ApiError) as e:
        client.download("ab" * 32, tmp_path / "f")
    assert e.value.status == 404
    assert not (tmp_path / "f").exists()
    with pytest.raises(albs.ParseError):
        client.download("nothex", tmp_path / "f")


def test_an_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(albs.UnreachableError):
        albs.Client("http://127.0.0.1:9").build(1)


def test_a_build_with_a_node_succeeds_and_downloads(
    building_server: Server, examples: Path, tmp_path: Path
) -> None:
    client = albs.Client(building_server.url, building_server.token)
    refs = [str(examples / "git" / "albs-docs")]
    build, share = runs_beside_python(lambda: client.submit("almalinux-9", ["x86_64"], refs, wait=True))
    assert share > 0.3, "waiting for the build released the GIL"
    assert build["state"] == "succeeded", build
    artifacts = [a for t in build["tasks"] for a in t["artifacts"]]
    assert sorted(a["name"] for a in artifacts) == [
        "albs-docs-2.1-3.el9.noarch.rpm",
        "albs-docs-2.1-3.el9.src.rpm",
    ]
    for a in artifacts:
        dest = tmp_path / a["name"]
        client.download(a["sha256"], dest)
        assert albs.sha256_file(dest) == a["sha256"]
        assert albs.read_header(dest).file_name() == a["name"]
    lines, next_line, done = client.log(build["tasks"][0]["id"])
    assert done and lines and next_line == len(lines)


def test_the_example_script_follows_a_build(
    building_server: Server, examples: Path, tmp_path: Path
) -> None:
    script = Path(__file__).resolve().parents[3] / "examples" / "python" / "submit_build.py"
    env = {**os.environ, "ALBS_SERVER": building_server.url, "ALBS_TOKEN": building_server.token}
    out = subprocess.run(
        [sys.executable, str(script), "--arch", "x86_64", "--poll", "0.2"]
        + ["--download", str(tmp_path), str(examples / "git" / "albs-docs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "build " in out.stderr and ": succeeded" in out.stderr
    assert "x86_64] " in out.stdout, "the arch task's log was followed"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "albs-docs-2.1-3.el9.noarch.rpm",
        "albs-docs-2.1-3.el9.src.rpm",
    ]
    env.pop("ALBS_TOKEN")
    refused = subprocess.run(
        [sys.executable, str(script), str(examples / "git" / "albs-docs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "(401)" in refused.stderr


def test_ctrl_c_interrupts_waiting_for_a_build(server: Server, examples: Path) -> None:
    code = (
        "import sys, albs\n"
        "c = albs.Client(sys.argv[1], sys.argv[2])\n"
        "print('waiting', flush=True)\n"
        "try:\n"
        "    c.submit('almalinux-9', ['x86_64'], [sys.argv[3]], wait=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    repo = str(examples / "git" / "hello")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, server.url, server.token, repo],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "waiting\n"
    time.sleep(1.0)  # the build is pending forever: no node
    assert proc.poll() is None, "still waiting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert out == "interrupted\n"
    assert proc.returncode == 0


def test_list_cancel_restart_and_platforms(server: Server, examples: Path) -> None:
    client = albs.Client(server.url, server.token)
    names = [p["name"] for p in client.platforms()]
    assert "almalinux-9" in names
    repo = examples / "git" / "albs-docs"
    build = client.submit("almalinux-9", ["x86_64"], [str(repo)], dependency_order=True)
    assert build["options"]["dependency_order"] is True
    page = client.builds(package="albs-docs", state="pending", limit=500)
    assert build["id"] in [b["id"] for b in page["builds"]]
    assert all(b["state"] == "pending" for b in page["builds"])
    cancelled = client.cancel(build["id"])
    assert cancelled["state"] == "cancelled"
    assert build["id"] not in [b["id"] for b in client.builds(state="pending", limit=500)["builds"]]
    restarted = client.restart(build["id"])
    assert restarted["state"] == "pending"
    with pytest.raises(albs.ParseError):
        client.builds(state="sideways")
    with pytest.raises(albs.ApiError) as e:
        albs.Client(server.url).cancel(build["id"])
    assert e.value.status == 401
