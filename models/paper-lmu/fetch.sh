#!/usr/bin/env bash
# Fetch the LMU paper's trained psMNIST network (Keras 2.2.4 HDF5) for `hsnn import keras`.
#
# Usage: models/paper-lmu/fetch.sh [--from LOCAL_COPY] [TARGET_FILE]
#        (default target: models/paper-lmu/psMNIST-standard.hdf5, which git ignores)
#
# Source: the public repository nengo/keras-lmu, branch `paper`, at commit
# 16ff3d403afda4e857f99136a4a2b832d61eff87, path models/psMNIST-standard.hdf5 (docs/PAPER.md
# section 8). Its licence is Applied Brain Research's, for non-commercial use only: the file,
# and any model made from it, stay out of this repository.
#
# --from copies a copy you already have (for a machine without internet) instead of
# downloading. Either way the SHA-256 is checked, and a mismatch leaves no file behind.
# Idempotent: a target that is already present with the right digest is left as it is.
set -euo pipefail

readonly URL="https://github.com/nengo/keras-lmu/raw/16ff3d403afda4e857f99136a4a2b832d61eff87/models/psMNIST-standard.hdf5"
readonly SHA256="cf4abb0bacbeccd07827c8a21e91a45251d971bef3aa445d54c5eae07406811c"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

die() {
    echo "fetch.sh: ERROR: $*" >&2
    exit 1
}

source_copy=""
if [[ "${1:-}" == "--from" ]]; then
    [[ $# -ge 2 ]] || die "--from needs the path of a local copy"
    source_copy="$2"
    shift 2
fi
readonly TARGET="${1:-$SCRIPT_DIR/psMNIST-standard.hdf5}"

command -v sha256sum >/dev/null || die "sha256sum not found (needed to verify the file)"
digest_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$TARGET" && "$(digest_of "$TARGET")" == "$SHA256" ]]; then
    echo "fetch.sh: $TARGET is already present and verified; nothing to do."
    exit 0
fi

mkdir -p "$(dirname "$TARGET")"
partial="$TARGET.$$.tmp"
trap 'rm -f "$partial"' EXIT
if [[ -n "$source_copy" ]]; then
    [[ -f "$source_copy" ]] || die "no file at $source_copy"
    cp "$source_copy" "$partial"
else
    command -v curl >/dev/null || die "curl not found; download $URL yourself and pass it with --from"
    echo "fetch.sh: downloading $URL ..."
    curl --fail --location --silent --show-error --output "$partial" "$URL" \
        || die "the download failed (no internet? then pass a local copy with --from)"
fi
found="$(digest_of "$partial")"
[[ "$found" == "$SHA256" ]] || die "SHA-256 $found is not the published $SHA256; file discarded"
mv "$partial" "$TARGET"
trap - EXIT
echo "fetch.sh: $TARGET verified (SHA-256 $SHA256). Licence: non-commercial (ABR); do not commit it."
