"""The client against a real albs server without build nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

import albs

from conftest import Server


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
