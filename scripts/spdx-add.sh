#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx-add.sh: adds "SPDX-License-Identifier: Apache-2.0" to every source file
# that lacks it (or to the FILEs given), in the file's own comment syntax:
# first line, or second after a "#!", "#compdef" or (man pages) "'\\" t"
# preprocessor line that must stay first. Idempotent: a file that has the line is left byte for byte as it
# is. It never touches anything but the files it lists.
set -euo pipefail
cd "$(dirname "$0")/.."
id='SPDX-License-Identifier: Apache-2.0'

add() {
	local f=$1 line first tmp
	grep -qE '^(/\* |# |\.\\" )SPDX-License-Identifier: Apache-2\.0' "$f" && return 0
	case $f in
		*.c | *.h | *.cc | *.map) line="/* $id */" ;;
		man/*.[0-9]) line=".\\\" $id" ;;
		*) line="# $id" ;;
	esac
	first=$(head -n 1 "$f")
	tmp=$(mktemp "$f.spdx.XXXXXX")
	case $first in
		'#!'* | '#compdef'* | "'\\\" "*) { printf '%s\n%s\n' "$first" "$line"; tail -n +2 "$f"; } >"$tmp" ;;
		*) { printf '%s\n' "$line"; cat "$f"; } >"$tmp" ;;
	esac
	chmod --reference="$f" "$tmp"
	mv "$tmp" "$f"
	echo "added: $f"
}

if [ $# -gt 0 ]; then
	for f in "$@"; do add "$f"; done
else
	scripts/spdx-files.sh | while IFS= read -r f; do add "$f"; done
fi
