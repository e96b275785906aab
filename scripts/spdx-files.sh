#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx-files.sh: the source files that should carry an SPDX licence line, one
# per line, relative to the top of the tree (shared by spdx-check.sh and
# spdx-add.sh). It only reads names; it must never change a file.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -co --exclude-standard
else
	find . -path ./build -prune -o -path ./build-asan -prune -o -path ./.git -prune \
		-o -type f -print | sed 's|^\./||'
fi | while IFS= read -r f; do
	[ -f "$f" ] || continue
	case $f in
		*.c | *.h | *.cc | *.sh | *.bash | *.bats | *.map | *.pc.in | man/*.[0-9]) echo "$f" ;;
		Makefile | debian/rules | completions/*/*) echo "$f" ;;
		debian/* | tests/data/* | tests/fuzz/corpus/* | *.md | *.txt | LICENSE | NEWS) ;;
		*) [ "$(head -c 2 "$f")" = '#!' ] && echo "$f" ;;
	esac
done
