#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# docs/scripting.md's examples run as written: each ```sh block is taken out
# of the page and run with bash -euo pipefail in an empty scratch directory,
# the tools on PATH. A failing block fails the test, naming its heading and
# line; so does a page with fewer blocks than it has now.

load ../lib/helpers

setup() {
	tu_setup
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	doc=$top/docs/scripting.md
}
teardown() { tu_teardown; }

# Split the page into $S/blocks/N.sh (N from 1), each starting with a
# comment naming the heading and line it came from. Prints the count.
extract_blocks() {
	mkdir -p "$S/blocks"
	awk -v dir="$S/blocks" '
		/^## / { heading = substr($0, 4) }
		/^```sh$/ { n++; f = dir "/" n ".sh"; print "# " heading ", line " NR + 1 >f; inblock = 1; next }
		/^```$/ && inblock { inblock = 0; close(f); next }
		inblock { print >f }
		END { print n + 0 }
	' "$doc"
}

@test "docs/scripting.md covers exit statuses, -0, -i, --json, dry runs, root and a backup rotation" {
	local h
	for h in "## Exit statuses" "## Machine output: \`-0\`, \`-i\`, \`--json\`" "## Dry runs" \
		"## Safe use as root" "## A backup rotation"; do
		grep -qxF -- "$h" "$doc" || { echo "missing: $h"; return 1; }
	done
	# Every tool's exit statuses are in the table.
	run grep -c '^| [0-3] |' "$doc"
	assert_output 4
}

@test "every example in docs/scripting.md runs as written" {
	local n i failed=
	n=$(extract_blocks)
	[ "$n" -ge 8 ] || { echo "only $n examples"; return 1; }
	for ((i = 1; i <= n; i++)); do
		mkdir "$S/run$i"
		if ! (cd "$S/run$i" && bash -euo pipefail "$S/blocks/$i.sh") >"$S/out$i" 2>&1; then
			failed+=$'\n'"example $i ($(head -n 1 "$S/blocks/$i.sh" | cut -c 3-)):"$'\n'"$(cat "$S/out$i")"
		fi
	done
	[ -z "$failed" ] || { echo "$failed"; return 1; }
}

@test "an example that fails is caught: the runner is not blind" {
	n=$(extract_blocks)
	echo 'false' >>"$S/blocks/1.sh"
	run bash -euo pipefail "$S/blocks/1.sh"
	assert_failure
}
