#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo-cptree.sh BUILD SAMPLE: the cptree part of `make demo`.
#
# Makes an archive copy (-a) of the sample tree, with a hard link, a FIFO, a
# sparse file, an xattr and odd times added to a copy of it, and checks the
# result with the rsync oracle: `rsync -aHAXn -i -@-1 --numeric-ids` must list
# nothing. SAMPLE itself is left as it is. Exits non-zero if the oracle finds
# any difference.
set -euo pipefail

build=${1:?usage: scripts/demo-cptree.sh BUILD SAMPLE}
sample=${2:?usage: scripts/demo-cptree.sh BUILD SAMPLE}
cpt=$(cd "$build/bin" && pwd)/cptree
[[ -x $cpt ]] || { echo "demo-cptree: $cpt not built" >&2; exit 2; }
[[ -d $sample ]] || { echo "demo-cptree: '$sample' is not a directory" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/treeutils-demo-cptree.XXXXXX")
trap 'chattr -R -i -a "$work" 2>/dev/null || true; rm -rf -- "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

# The sample, plus what an archive copy must keep.
src=$work/src
cp -a -- "$sample" "$src"
first=$(find "$src" -type f | sort | head -n 1)
if [[ -n $first ]]; then ln "$first" "$src/hardlink-to-first-file"; fi
mkfifo "$src/fifo"
truncate -s 64M "$src/sparse"
printf 'x' | dd of="$src/sparse" bs=1 seek=$((32 << 20)) conv=notrunc status=none
setfattr -n user.demo -v cptree "$src/sparse" 2>/dev/null || true
touch -h -d '2001-02-03 04:05:06.123456789' "$src/fifo" "$src/sparse"

say "cptree -a -i: an archive copy of the sample tree ($(find "$src" | wc -l) entries)"
"$cpt" -a -i "$src" "$work/dst" >"$work/items"
head -n 5 "$work/items"
echo "   ... $(wc -l <"$work/items") entries made"

say "the oracle: rsync -aHAXn -i -@-1 --numeric-ids src/ dst/ (must list nothing)"
rsync -aHAXn -i -@-1 --numeric-ids "$src/" "$work/dst/" >"$work/diff"
if [[ -s $work/diff ]]; then
	cat "$work/diff"
	echo "demo-cptree: the copy differs from its source" >&2
	exit 1
fi
echo "   nothing listed: the copy is exact"
echo "   sparse file: $(du -k "$src/sparse" | cut -f1) KiB on disk in src, $(du -k "$work/dst/sparse" | cut -f1) KiB in dst"
