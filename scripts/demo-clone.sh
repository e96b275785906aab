#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo-clone.sh BUILD SAMPLE: the clone-and-update part of `make demo`.
#
# Day 1: a snapshot of a data tree (the sample plus 20 MB of files). Day 2:
# one file changed, one added, then `cptree -a --clone-from=day1` makes day2,
# which shares storage with day1 wherever a file is unchanged. du before and
# after shows what day2 cost; the rsync oracle checks day2 equals the data.
# SAMPLE itself is left as it is. Exits non-zero if anything is wrong.
set -euo pipefail

build=${1:?usage: scripts/demo-clone.sh BUILD SAMPLE}
sample=${2:?usage: scripts/demo-clone.sh BUILD SAMPLE}
cpt=$(cd "$build/bin" && pwd)/cptree
[[ -x $cpt ]] || { echo "demo-clone: $cpt not built" >&2; exit 2; }
[[ -d $sample ]] || { echo "demo-clone: '$sample' is not a directory" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/treeutils-demo-clone.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

cp -a "$sample" "$work/data"
chmod -R u+rwx "$work/data"
for i in 1 2 3 4; do head -c 5M /dev/urandom >"$work/data/big$i"; done
cd "$work"
say "day 1: cptree -a data backup/day1"
mkdir backup
"$cpt" -a data backup/day1
du -sh backup | sed 's/^/  /'
say "day 2: one file changed, one added; cptree -a --clone-from=backup/day1 data backup/day2"
head -c 1M /dev/urandom >>data/big1
echo new >data/new.txt
"$cpt" -a -v --clone-from=backup/day1 data backup/day2 | grep -c 'shared with BASE' |
	sed 's/^/  entries shared with day1: /'
du -sh backup/day1 backup/day2 | sed 's/^/  /'
echo "  both days together (du counts shared storage once):"
du -shc backup/day1 backup/day2 | tail -1 | sed 's/^/  /'
out=$(rsync -aHAXn -i -@-1 --numeric-ids data/ backup/day2/)
[ -z "$out" ] || { echo "demo-clone: day2 differs from data:"; echo "$out"; exit 1; }
echo "  rsync -aHAXn -i finds nothing between data and day2"
