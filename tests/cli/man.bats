#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The man pages: lint-clean, the sections a reader looks for, and options
# that agree with each tool's --help both ways.

load ../lib/helpers
load ../lib/options

setup() {
	tu_setup
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	tools=$(make -s -C "$top" --no-print-directory print-tools NO_DEPS=1)
}
teardown() { tu_teardown; }

@test "every man page is silent under mandoc -T lint and groff -man -ww -z" {
	command -v mandoc >/dev/null || skip "needs mandoc (scripts/deps.sh test)"
	local f out bad=
	for f in "$top"/man/*.[0-9]; do
		out=$(mandoc -T lint "$f" 2>&1; groff -man -ww -z "$f" 2>&1)
		[ -z "$out" ] || bad+=$'\n'"$out"
	done
	[ -z "$bad" ] || { echo "lint:$bad"; return 1; }
}

@test "every tool has a man page with DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES, SECURITY and SEE ALSO" {
	local t s missing=
	for t in $tools; do
		[ -f "$top/man/$t.1" ] || { missing+=" $t.1"; continue; }
		for s in DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES SECURITY "SEE ALSO"; do
			grep -qE "^\.SH \"?$s\"?\$" "$top/man/$t.1" || missing+=" $t.1:$s"
		done
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}

@test "each page's SEE ALSO names the other tools and libtreeutils(3)" {
	local t u missing=
	for t in $tools; do
		see=$(sed -n '/^\.SH "\{0,1\}SEE ALSO/,$p' "$top/man/$t.1")
		for u in $tools; do
			[ "$u" = "$t" ] && continue
			grep -qE "^\.BR $u \(1\)" <<<"$see" || missing+=" $t.1:$u"
		done
		grep -qE "^\.BR libtreeutils \(3\)" <<<"$see" || missing+=" $t.1:libtreeutils"
	done
	[ -z "$missing" ] || { echo "not in SEE ALSO:$missing"; return 1; }
}

@test "libtreeutils(3) has its sections and names every function of treeutils.h" {
	local page=$top/man/libtreeutils.3 s f missing=
	for s in DESCRIPTION "RETURN VALUE" CALLBACKS "THREAD SAFETY" SECURITY "ABI AND SONAME" EXAMPLES "SEE ALSO"; do
		grep -qE "^\.SH \"?$s\"?\$" "$page" || missing+=" $s"
	done
	for f in $(header_functions "$top/lib/treeutils.h"); do
		case $f in tu_*_opts_init) continue ;; esac	# as tu_X_opts_init()
		grep -qF -- "$f" "$page" || missing+=" $f"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}

@test "the options of each tool's --help and of its man page agree, both ways" {
	local t out=
	for t in $tools; do
		d=$(diff <(help_options "$t") <(man_options "$top/man/$t.1")) ||
			out+=$'\n'"$t (< only in --help, > only in the man page):"$'\n'"$d"
		# Not vacuous: the parsers found the options both sides have.
		help_options "$t" | grep -qx -- --help || out+=$'\n'"$t: no --help found"
	done
	[ -z "$out" ] || { echo "$out"; return 1; }
}
