#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo-hashcache.sh BUILD SAMPLE: the hashcache part of `make demo`.
#
# Works on a copy of the sample tree (SAMPLE itself is left as it is):
#   1. hashes every file and stores the records;
#   2. runs again and shows that no file data was read;
#   3. flips one byte of a file and puts its mtime back: the write still
#      moved the ctime, so --check reports it CHANGED (exit status 0);
#   4. flips it again as a failing disk would, moving no time at all (the
#      record's write time is moved past the flip to stand for that), and
#      shows --check reporting it CORRUPT with exit status 3.
# Exits non-zero if any of that does not happen as shown.
set -euo pipefail

build=${1:?usage: scripts/demo-hashcache.sh BUILD SAMPLE}
sample=${2:?usage: scripts/demo-hashcache.sh BUILD SAMPLE}
hc=$(cd "$build/bin" && pwd)/hashcache
[[ -x $hc ]] || { echo "demo-hashcache: $hc not built" >&2; exit 2; }
[[ -d $sample ]] || { echo "demo-hashcache: '$sample' is not a directory" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/treeutils-demo-hashcache.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
tree=$work/tree
cp -a -- "$sample" "$tree"
# A copy may carry records from the sample; start from none.
"$hc" --clear -q "$tree"

say() { printf '\n== %s\n' "$*"; }
counts() { grep '^hashcache: files' "$1" | sed 's/^hashcache: /   /'; }

# Files written moments ago would be "racy" (see hashcache(1)): their records
# are not trusted until the file is older than the timestamp granularity.
# Wait until the newest file is 2.1 s old, enough for any filesystem.
newest=$(find "$tree" -type f -printf '%T@\n' | sort -n | tail -n 1)
if [[ -n $newest ]]; then
	wait_s=$(awk -v n="$newest" -v now="$(date +%s.%N)" 'BEGIN { w = n + 2.1 - now; print (w > 0 ? w : 0) }')
	sleep "$wait_s"
fi

say "hashcache: hash every file of the sample tree ($(find "$tree" -type f | wc -l) files)"
"$hc" -v "$tree" >"$work/sums" 2>"$work/err1"
head -n 3 "$work/sums" | sed "s|$work/||"
echo "   ..."
counts "$work/err1"

say "hashcache: run again over the unchanged tree: nothing is read"
"$hc" -v "$tree" >"$work/sums2" 2>"$work/err2"
counts "$work/err2"
grep -q 'hashed 0, bytes read 0,' "$work/err2" || { echo "demo-hashcache: files were read again" >&2; exit 1; }
cmp -s <(sort "$work/sums") <(sort "$work/sums2") || { echo "demo-hashcache: hashes differ" >&2; exit 1; }
echo "   same $(wc -l <"$work/sums2") hashes, all from the cache"

victim=$(find "$tree" -type f -size +0 | sort | head -n 1)
[[ -n $victim ]] || { echo "demo-hashcache: no non-empty file to corrupt" >&2; exit 1; }
flip() {
	byte=$(od -An -tu1 -N1 "$victim" | tr -d ' ')
	touch -r "$victim" "$work/ref"
	printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$victim" bs=1 count=1 conv=notrunc status=none
	touch -m -r "$work/ref" "$victim"
}

check() {
	set +e
	"$hc" --check "$tree" >"$work/check"
	status=$?
	set -e
	grep -v '^OK  ' "$work/check" | sed "s|$work/||"
	echo "   $(grep -c '^OK  ' "$work/check") files OK; exit status $status (3 = corruption found)"
}

victim=$(find "$tree" -type f -size +0 | sort | head -n 1)
[[ -n $victim ]] || { echo "demo-hashcache: no non-empty file to corrupt" >&2; exit 1; }
say "flip one byte of ${victim#"$work"/}, putting its size and mtime back (touch -d)"
sleep 0.05
flip
echo "   mtime still $(stat -c %y "$victim"), but the write moved the ctime"

say "hashcache --check: re-read everything and compare"
check
[[ $status -eq 0 ]] || { echo "demo-hashcache: --check failed" >&2; exit 1; }
grep -qF "CHANGED  $victim" "$work/check" || { echo "demo-hashcache: the change was not seen" >&2; exit 1; }

# A disk that rots moves no time at all. Stand for that by stamping the
# record (format 2, see hashcache(1)) as written a minute after the flip.
say "flip it again as a failing disk would: the data changes, no time moves"
val=$(getfattr --absolute-names --only-values -n user.spookyhash "$victim" 2>/dev/null | od -An -tx1 | tr -d ' \n')
if [[ ${#val} -ne 98 ]]; then
	echo "   (no user xattrs here: skipped)"
	exit 0
fi
flip
later=$(printf '%016x' $(( $(date +%s%N) + 60000000000 )) | fold -w2 | tac | tr -d '\n')
setfattr -n user.spookyhash -v "0x${val:0:82}$later" "$victim"

say "hashcache --check: re-read everything and compare"
check
[[ $status -eq 3 ]] || { echo "demo-hashcache: --check did not report the corruption" >&2; exit 1; }
grep -qF "CORRUPT  $victim" "$work/check" || { echo "demo-hashcache: wrong file reported" >&2; exit 1; }
