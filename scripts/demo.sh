#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: the main job on a generated sample tree. Builds the tree, shows
# it, removes it with rmtree -v, and proves that what its symlinks pointed to
# outside the tree survived. Later tools add their own parts below.
set -euo pipefail
# Absolute: the parts below run from the scratch directory, not from here.
build=$(cd "${1:-build}" && pwd)
bin=$build/bin
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/treeutils-demo.XXXXXX")
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The sample tree: nested directories, symlinks pointing out of the tree, a
# read-only file and an unreadable directory.
make_sample() {
	local t=$1
	mkdir -p "$t/src/lib/deep/er" "$t/docs" "$t/locked/inner"
	echo 'int main(void) { return 0; }' >"$t/src/main.c"
	echo 'void f(void) {}' >"$t/src/lib/f.c"
	printf 'x%.0s' {1..4000} >"$t/src/lib/deep/er/big.txt"
	echo 'read me' >"$t/docs/README"
	echo 'read only' >"$t/docs/readonly.txt"
	chmod 444 "$t/docs/readonly.txt"
	echo 'hidden' >"$t/locked/inner/secret"
	ln -s "$work/outside" "$t/link-to-outside-dir"
	ln -s "$work/outside/keep.txt" "$t/docs/link-to-outside-file"
	ln -s /nonexistent "$t/dangling"
	chmod 000 "$t/locked"
}

mkdir outside
echo "I live outside the tree" >outside/keep.txt
make_sample sample

say "the sample tree (outside/ is not part of it)"
find sample outside -printf '%M %p%l\n' 2>/dev/null | sed 's/^/  /' | sort -k2

say "rmtree -v sample"
"$bin/rmtree" -v sample

say "proof"
if [ -e sample ]; then echo "sample still exists: FAILED"; exit 1; fi
echo "sample is gone"
echo "outside/keep.txt says: $(cat outside/keep.txt)"
[ "$(cat outside/keep.txt)" = "I live outside the tree" ]
echo "the symlink targets outside the tree survived"

say "rmtree refuses what it must"
"$bin/rmtree" / . .. '' 2>&1 | sed 's/^/  /' || true

if [ "$(id -u)" = 0 ]; then
	make_sample aon
	if chattr +i aon/docs/README 2>/dev/null; then
		say "rmtree --all-or-nothing: one immutable file blocks, so nothing goes"
		"$bin/rmtree" --all-or-nothing aon 2>&1 | sed 's/^/  /' || true
		echo "  entries still there: $(find aon -mindepth 1 | wc -l)"
		chattr -i aon/docs/README
		say "rmtree --hide --progress aon (now nothing blocks)"
		"$bin/rmtree" --hide --progress aon
		[ ! -e aon ] && echo "  aon is gone, and no .tu- name is left: $(ls -A | grep -c '^\.tu-' || true)"
	fi
fi

for part in "$top"/scripts/demo-*.sh; do
	[ -x "$part" ] || continue
	make_sample "sample-${part##*/demo-}"
	chmod 755 "sample-${part##*/demo-}/locked"
	"$part" "$build" "$work/sample-${part##*/demo-}"
done
say "demo done"
