"""Offline verification of ledger checkpoints made by the albs CLI."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

import albs

from conftest import Ledger


def test_checkpoint_verifies(ledger: Ledger) -> None:
    origin, size, root = albs.verify_checkpoint(ledger.cp1, ledger.key)
    assert origin == "albs.test/ledger"
    assert size == ledger.prove["size"] == int(ledger.cp1.splitlines()[1])
    assert bytes.fromhex(root) == base64.b64decode(ledger.cp1.splitlines()[2])


@pytest.mark.parametrize(
    "alter",
    [
        lambda note: note.replace("albs.test/ledger\n", "albs.test/other\n", 1),
        lambda note: note.replace(note.splitlines()[1], str(int(note.splitlines()[1]) + 1), 1),
        lambda note: note.split("\n\n")[0] + "\n",
        lambda note: "",
    ],
)
def test_an_altered_checkpoint_is_refused(ledger: Ledger, alter: Callable[[str], str]) -> None:
    with pytest.raises(albs.VerificationError):
        albs.verify_checkpoint(alter(ledger.cp1), ledger.key)


def test_a_checkpoint_under_another_key_is_refused(ledger: Ledger) -> None:
    # Same name, another key id: the note carries no signature by it.
    other = ledger.key.split("+")
    other[1] = "00000000"
    with pytest.raises(albs.VerificationError):
        albs.verify_checkpoint(ledger.cp1, "+".join(other))


def test_a_record_verifies_and_an_edited_one_does_not(ledger: Ledger) -> None:
    record: bytes = ledger.prove["record"].encode()
    proof: list[str] = ledger.prove["proof"]
    index: int = ledger.prove["index"]
    albs.verify_record(record, index, proof, ledger.cp1, ledger.key)
    albs.verify_record(record, index, proof, ledger.cp1, ledger.key)
    edited = record.replace(b'"srpm"', b'"rpm"')
    assert edited != record
    with pytest.raises(albs.VerificationError):
        albs.verify_record(edited, index, proof, ledger.cp1, ledger.key)
    with pytest.raises(albs.VerificationError):
        albs.verify_record(record, index + 1, proof, ledger.cp1, ledger.key)
    with pytest.raises(albs.ParseError):
        albs.verify_record(record, index, ["zz"], ledger.cp1, ledger.key)


def test_the_log_only_grows(ledger: Ledger) -> None:
    albs.audit(ledger.cp1, ledger.cp2, ledger.consistency, ledger.key)
    with pytest.raises(albs.VerificationError):
        albs.audit(ledger.cp2, ledger.cp1, ledger.consistency, ledger.key)
    wrong = [hashlib.sha256(h.encode()).hexdigest() for h in ledger.consistency]
    with pytest.raises(albs.VerificationError):
        albs.audit(ledger.cp1, ledger.cp2, wrong, ledger.key)
