#!/usr/bin/env bash
# Rebuild the embedded default psMNIST subset (spec clause D5) in data/embedded/.
#
# Usage: data/make_embedded.sh [SOURCE_DIR]     (default: data/full next to this script)
#
# The subset is the FIRST 3,000 training images + labels and the FIRST 1,000 test images +
# labels of the original MNIST IDX files, each written as a valid IDX file (header count
# rewritten, everything else copied byte for byte) and compressed with `gzip -9 -n` (-n drops
# the file name and time stamp, so the same gzip version gives the same bytes every time).
# The source files are fetched and MD5-verified by fetch.sh first (a no-op when present).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly SOURCE_DIR="${1:-$SCRIPT_DIR/full}"
readonly OUT_DIR="$SCRIPT_DIR/embedded"
readonly TRAIN_COUNT=3000
readonly TEST_COUNT=1000
readonly PIXELS_PER_IMAGE=784 # 28 x 28

die() {
    echo "make_embedded.sh: ERROR: $*" >&2
    exit 1
}

# Print the 4 bytes of a big-endian u32 (IDX stores its header this way).
be_u32() {
    local value=$1 shift_bits
    for shift_bits in 24 16 8 0; do
        # shellcheck disable=SC2059 # the format is the escape we build on purpose
        printf "\\x$(printf '%02x' $(((value >> shift_bits) & 255)))"
    done
}

# cut_idx SOURCE DEST COUNT HEADER_BYTES RECORD_BYTES
# Writes the first COUNT records of SOURCE as a gzipped IDX file DEST: the source header with
# its item count (bytes 4..8) replaced by COUNT, followed by COUNT * RECORD_BYTES payload bytes.
cut_idx() {
    local source=$1 dest=$2 count=$3 header_bytes=$4 record_bytes=$5
    [[ -f "$source" ]] || die "missing source file $source"
    local staged="$dest.partial"
    {
        head -c 4 "$source"                 # magic number, unchanged
        be_u32 "$count"                      # new item count
        head -c "$header_bytes" "$source" | tail -c +9 # remaining dims (rows, cols) if any
        head -c $((header_bytes + count * record_bytes)) "$source" | tail -c +$((header_bytes + 1))
    } | gzip -9 -n >"$staged"
    mv -f "$staged" "$dest"
}

"$SCRIPT_DIR/fetch.sh" "$SOURCE_DIR" || die "could not fetch/verify the full MNIST files in $SOURCE_DIR"

mkdir -p "$OUT_DIR"
cut_idx "$SOURCE_DIR/train-images-idx3-ubyte" "$OUT_DIR/train-images-idx3-ubyte.gz" "$TRAIN_COUNT" 16 "$PIXELS_PER_IMAGE"
cut_idx "$SOURCE_DIR/train-labels-idx1-ubyte" "$OUT_DIR/train-labels-idx1-ubyte.gz" "$TRAIN_COUNT" 8 1
cut_idx "$SOURCE_DIR/t10k-images-idx3-ubyte" "$OUT_DIR/t10k-images-idx3-ubyte.gz" "$TEST_COUNT" 16 "$PIXELS_PER_IMAGE"
cut_idx "$SOURCE_DIR/t10k-labels-idx1-ubyte" "$OUT_DIR/t10k-labels-idx1-ubyte.gz" "$TEST_COUNT" 8 1

echo "make_embedded.sh: wrote $OUT_DIR (compare with the table in data/embedded/README.md):"
echo "| file | bytes (gz) | MD5 of .gz | MD5 of uncompressed |"
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gz="$OUT_DIR/$name.gz"
    echo "| $name.gz | $(wc -c <"$gz") | $(md5sum "$gz" | cut -d' ' -f1) | $(gzip -dc "$gz" | md5sum | cut -d' ' -f1) |"
done
