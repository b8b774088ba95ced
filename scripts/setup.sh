#!/usr/bin/env bash
# Installs what albs needs on Debian/Ubuntu: the real tools it drives and
# checks against. Safe to run again; it installs only what is missing.
#
#   scripts/setup.sh            system packages for building and testing
set -euo pipefail

packages=(
    rpm              # rpmbuild, rpmspec, rpm -K: the build and the oracle
    python3-solv     # libsolv, the reference for the dependency solver
    bubblewrap       # the build sandbox (no network, private HOME)
    createrepo-c     # repodata, and the reference for ours
    git              # local clones and the test fixtures
    gcc make         # the example packages compile C
    pkg-config libssl-dev libclang-dev gnupg   # sequoia (crypto-openssl runs bindgen); gpg is rpmsign's signer
    python3 python3-venv python3-pip   # the Python bindings: venv, maturin, pytest
    dnf              # the consumer of published repositories (gpgcheck, repo_gpgcheck, updateinfo)
    dnf-plugins-core # `dnf copr enable --hub`, the client of the COPR-compatible endpoints
    sq               # sequoia's CLI: verifies detached signatures of repomd.xml
    openscap-scanner # oscap: validates and evaluates the OVAL feed
    rpmlint          # an informative stage of the test tasks
    bats             # runs the third-party *.bats tests of the test stage (TAP output)
    chromium chromium-driver   # headless browser and its WebDriver: the web page tests
    ca-certificates curl
    zstd             # reads the local ledger (ledger.zst) in its test, as anyone can
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not installed; install a Rust toolchain (1.94 or newer) with rustup" >&2
    exit 1
fi
# dnf-plugins-core enables its `local` plugin, which adds an unsigned local
# repository to every dnf run (and so fails gpgcheck in installroots): off.
local_conf=/etc/dnf/plugins/local.conf
if [ -f "$local_conf" ] && grep -m1 '^enabled' "$local_conf" | grep -q true; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo sed -i '0,/^enabled *= *true/s//enabled = false/' "$local_conf"
fi
bash "$(dirname "$0")/py-tools.sh"   # CycloneDX and SPDX validators for the SBOM tests (venv in target/py-tools)
echo "setup: ready ($(rpm --version), $(bwrap --version), $(cargo --version))"
