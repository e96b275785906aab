#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo-dedup.sh BUILD SAMPLE: the dedup part of `make demo`.
#
# Works on a copy of the sample tree (SAMPLE itself is left as it is):
#   1. adds duplicate files to it (copies with the same times and modes, a
#      near-duplicate that differs in its last byte, and one file already
#      hard-linked);
#   2. shows what dedup would do (-n), then dedups it and shows the space
#      freed (du before and after) and that every file kept its content;
#   3. shows the hard-link groups with --links.
# Exits non-zero if any of that does not happen as shown.
set -euo pipefail

build=${1:?usage: scripts/demo-dedup.sh BUILD SAMPLE}
sample=${2:?usage: scripts/demo-dedup.sh BUILD SAMPLE}
dd=$(cd "$build/bin" && pwd)/dedup
[[ -x $dd ]] || { echo "demo-dedup: $dd not built" >&2; exit 2; }
[[ -d $sample ]] || { echo "demo-dedup: '$sample' is not a directory" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/treeutils-demo-dedup.XXXXXX")
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf -- "$work"' EXIT
tree=$work/tree
cp -a -- "$sample" "$tree"
chmod -R u+rwx "$tree"

say() { printf '\n== %s\n' "$*"; }
show() { sed "s|$work/||g; s/^/   /"; }

# Duplicates: copies keep times and modes (cp -p), as restored backups do.
mkdir -p "$tree/backup/src/lib" "$tree/photos"
head -c 300000 /dev/urandom >"$tree/photos/img1.raw"
# (img2.raw ends in 'A', so the near-duplicate below, ending in 'Z', differs.)
{ head -c 199999 /dev/urandom; printf 'A'; } >"$tree/photos/img2.raw"
cp -p "$tree/photos/img1.raw" "$tree/photos/img1-copy.raw"
cp -p "$tree/photos/img1.raw" "$tree/backup/img1.raw"
cp -p "$tree/photos/img2.raw" "$tree/backup/img2.raw"
cp -p "$tree/src/main.c" "$tree/backup/src/main.c"
cp -p "$tree/src/lib/f.c" "$tree/backup/src/lib/f.c"
cp -p "$tree/src/lib/deep/er/big.txt" "$tree/backup/big.txt"
# A near-duplicate: same size, last byte differs. Never linked.
head -c 199999 "$tree/photos/img2.raw" >"$tree/photos/img2-edited.raw"
printf 'Z' >>"$tree/photos/img2-edited.raw"
touch -r "$tree/photos/img2.raw" "$tree/photos/img2-edited.raw"
# Already a hard link: nothing to do for it.
ln "$tree/docs/README" "$tree/backup/README"
# The sample's own files may carry any times; give everything one mtime so
# that copies and originals match on time too.
find "$tree" -type f -exec touch -m -d '2020-02-02 12:00' {} +
(cd "$tree" && find . -type f ! -name '.tu-*' -exec md5sum {} + | sort -k2) >"$work/sums"

du_kib() { du -sk "$tree" | cut -f1; }

say "dedup: the sample tree with duplicates added ($(find "$tree" -type f | wc -l) files, $(du_kib) KiB)"
"$dd" --list "$tree" | show

say "dedup -n -v: what would be done (nothing changes)"
"$dd" -n -v "$tree" | show

before=$(du_kib)
say "dedup -v: replace the duplicates with hard links"
"$dd" -v "$tree" | show
after=$(du_kib)
echo "   du: $before KiB before, $after KiB after: $((before - after)) KiB freed"
[[ $after -lt $before ]] || { echo "demo-dedup: no space was freed" >&2; exit 1; }
cmp -s "$work/sums" <(cd "$tree" && find . -type f -exec md5sum {} + | sort -k2) ||
	{ echo "demo-dedup: some file changed content" >&2; exit 1; }
echo "   every file has its old content ($(wc -l <"$work/sums") files checked)"
[[ $(stat -c %i "$tree/photos/img2.raw") != $(stat -c %i "$tree/photos/img2-edited.raw") ]] ||
	{ echo "demo-dedup: a near-duplicate was linked" >&2; exit 1; }
echo "   the near-duplicate photos/img2-edited.raw was left alone"

say "dedup --links: the hard-link groups now in the tree"
"$dd" --links "$tree" | show

say "dedup --paths-of=photos/img1.raw: every name of that file"
"$dd" --paths-of="$tree/photos/img1.raw" "$tree" 2>&1 | show

say "dedup again: nothing left to do"
"$dd" "$tree" | show
