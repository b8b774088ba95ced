#!/usr/bin/env bash
# Turns the example packages into dist-git repositories and a lookaside store.
#
#   examples/make-fixtures.sh OUT
#
# OUT/git/<name>   a git repository per package: branch a9 (checked out) with
#                  a tag <name>-<version>-<release>
# OUT/lookaside/   blobs named by their sha256 (what .<name>.metadata lists)
#
# The hello tarball is made here, not committed, and its checksum written to
# hello's .hello.metadata, as dist-git does for large sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make-fixtures.sh OUT}
mkdir -p "$out/git" "$out/lookaside"
out=$(cd "$out" && pwd)
export GIT_AUTHOR_NAME="albs examples" GIT_AUTHOR_EMAIL="examples@albs.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-11-23T00:00:00Z" GIT_COMMITTER_DATE="2026-11-23T00:00:00Z"

tarball=$(mktemp)
tar -C "$here/lookaside-src" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -cf - hello-1.0 | gzip -n > "$tarball"
sum=$(sha256sum "$tarball" | cut -d' ' -f1)
chmod 0644 "$tarball"
mv "$tarball" "$out/lookaside/$sum"

for pkg in "$here"/rpms/*/; do
    name=$(basename "$pkg")
    repo="$out/git/$name"
    rm -rf "$repo"
    cp -r "$pkg" "$repo"
    if [ "$name" = hello ]; then
        printf '%s SOURCES/hello-1.0.tar.gz\n' "$sum" > "$repo/.hello.metadata"
        printf 'SOURCES/hello-1.0.tar.gz\n' > "$repo/.gitignore"
    fi
    spec=$(find "$repo" -maxdepth 2 -name '*.spec' | head -n 1)
    version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
    release=$(sed -n 's/^Release:[[:space:]]*\([0-9.]*\).*/\1/p' "$spec")
    git -C "$repo" init -q -b a9
    git -C "$repo" add -A
    git -C "$repo" commit -q -m "import $name-$version-$release"
    git -C "$repo" tag "imports/a9/$name-$version-$release"
    echo "$repo"
done
