"""SBOMs, provenance checks, updateinfo, OVAL and OSV from Python, on a
package built by `albs build` and its real ledger records; the validators
of scripts/py-tools.sh, createrepo_c's repodata and oscap are the oracles."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import albs

from conftest import ALBS_BIN, REPO, albs_cli

PY_TOOLS = REPO / "target" / "py-tools"

CDX_CHECK = """
import sys
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
v = make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_5)
errors = v.validate_str(open(sys.argv[1]).read())
sys.exit(1 if errors else 0)
"""


@pytest.fixture(scope="module")
def built(examples: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(data dir, the noarch RPM, its sha256) of `albs build` of albs-docs."""
    data = tmp_path_factory.mktemp("sbom") / "data"
    out = json.loads(
        albs_cli(data, "build", "--no-test", "--json", "--lookaside", examples / "lookaside",
                 examples / "git" / "albs-docs")
    )
    rpm = out["refs"][0]["arches"][0]["rpms"][0]
    (path,) = list(data.glob(f"results/almalinux-9/*/{rpm['name']}"))
    return data, path, rpm["sha256"]


def test_a_package_sbom_carries_its_ledger_record(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    data, rpm, sha = built
    ledger = albs_cli(data, "ledger", "find", sha, "--json")
    doc = albs.sbom([rpm], "almalinux-9", ledger=ledger)
    text = json.dumps(json.loads(doc))
    assert sha in text and albs.sha256_file(rpm) == sha
    assert "pkg:rpm/almalinux/albs-docs@2.1-3.el9?arch=noarch" in text
    index = json.loads(ledger)[0]["index"]
    props = {p["name"]: p["value"] for c in [json.loads(doc)["metadata"]["component"]] for p in c.get("properties", [])}
    assert str(index) in props.values(), props
    assert any("albs-docs" in v for v in props.values()), "the git source is named"
    if (PY_TOOLS / "bin" / "python").exists():
        f = tmp_path / "bom.json"
        f.write_text(doc)
        assert subprocess.run([str(PY_TOOLS / "bin" / "python"), "-c", CDX_CHECK, str(f)]).returncode == 0
    # A record of another artifact is refused, not silently attached.
    wrong = json.loads(ledger)
    wrong[0]["record"]["artifact"] = "00" * 32
    plain = albs.sbom([rpm], "almalinux-9", ledger=json.dumps(wrong))
    assert str(index) not in json.dumps(json.loads(plain)["metadata"]["component"].get("properties", []))


def test_sbom_formats_and_errors(built: tuple[Path, Path, str], tiny_rpm: Path, tmp_path: Path) -> None:
    _, rpm, sha = built
    spdx = json.loads(albs.sbom([rpm], "almalinux-9", "spdx"))
    assert spdx["spdxVersion"] == "SPDX-2.3"
    xml = albs.sbom([rpm], "almalinux-9", "cyclonedx-xml")
    assert xml.lstrip().startswith("<?xml") and sha in xml
    build = json.loads(albs.sbom([rpm, tiny_rpm], "almalinux-9", build_id=7))
    assert len(build["components"]) == 2
    with pytest.raises(albs.ParseError, match="build_id"):
        albs.sbom([rpm, tiny_rpm], "almalinux-9")
    with pytest.raises(albs.ParseError, match="format"):
        albs.sbom([rpm], "almalinux-9", "swid")
    with pytest.raises(albs.IoError):
        albs.sbom([tmp_path / "none.rpm"], "almalinux-9")
    with pytest.raises(albs.ParseError):
        albs.sbom([rpm], "almalinux-9", ledger="{not json")


def advisory(sha: str) -> dict[str, object]:
    return {
        "id": "ALSA-2026:0042",
        "type": "security",
        "severity": "Moderate",
        "title": "Moderate: albs-docs security update",
        "description": "Fixes the examples.",
        "issued": "2026-11-20T08:00:00Z",
        "updated": "2026-11-21T08:00:00Z",
        "cves": ["CVE-2026-40001"],
        "references": [],
        "platform": "almalinux-9",
        "packages": [{"nevra": "albs-docs-2.1-3.el9.noarch", "sha256": sha,
                      "signing_key": "0123456789abcdef"}],
    }


def test_errata_to_updateinfo_oval_and_osv(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, rpm, sha = built
    errata = tmp_path / "errata"
    errata.mkdir()
    (errata / "ALSA-2026-0042.json").write_text(json.dumps(advisory(sha)))
    ui = albs.updateinfo(errata)
    assert 'id="ALSA-2026:0042"' in ui or "<id>ALSA-2026:0042</id>" in ui
    feed = tmp_path / "oval.xml"
    feed.write_text(albs.oval("almalinux-9", errata))
    out = subprocess.run(["oscap", "oval", "validate", str(feed)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "oval:org.almalinux.alsa:def:2026000042" in feed.read_text()
    osv = albs.osv(errata / "ALSA-2026-0042.json")
    assert osv["id"] == "ALSA-2026:0042" and "CVE-2026-40001" in json.dumps(osv)
    repo = tmp_path / "repo"
    repo.mkdir()
    albs.write_repo(repo, [shutil.copy(rpm, repo)])
    added = albs.add_updateinfo(repo, errata)
    assert added["advisories"] == 1
    assert any(f["type"] == "updateinfo" for f in albs.verify_repo(repo))
    # A package of another platform is refused with its name.
    bad = advisory(sha)
    bad["platform"] = "almalinux-8"
    (errata / "ALSA-2026-0042.json").write_text(json.dumps(bad))
    with pytest.raises(albs.ParseError, match="albs-docs"):
        albs.oval("almalinux-8", errata)
    with pytest.raises(albs.IoError):
        albs.updateinfo(tmp_path / "nowhere")


def test_provenance_verifies_and_a_changed_byte_fails(built: tuple[Path, Path, str]) -> None:
    data, rpm, sha = built
    keygen = subprocess.run(
        [str(ALBS_BIN), "--data", str(data), "ledger", "keygen", "--name", "albs.test/prov"],
        capture_output=True, text=True, check=True,
    )
    signer, verifier = keygen.stdout.strip(), keygen.stderr.strip().rsplit(" ", 1)[-1]
    envelope = albs_cli(data, "provenance", "rpm", rpm, env={"ALBS_PROVENANCE_KEY": signer})
    statement = albs.verify_provenance(envelope, verifier)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert sha in json.dumps(statement["subject"])
    env = json.loads(envelope)
    payload = bytearray(env["payload"].encode())
    payload[10] = ord("A") if payload[10] != ord("A") else ord("B")
    env["payload"] = payload.decode()
    with pytest.raises((albs.VerificationError, albs.ParseError)):
        albs.verify_provenance(json.dumps(env), verifier)
    other = subprocess.run(
        [str(ALBS_BIN), "--data", str(data), "ledger", "keygen", "--name", "albs.test/prov"],
        capture_output=True, text=True, check=True,
    ).stderr.strip().rsplit(" ", 1)[-1]
    with pytest.raises(albs.VerificationError):
        albs.verify_provenance(envelope, other)
    with pytest.raises(albs.ParseError):
        albs.verify_provenance(envelope, "not a key")
