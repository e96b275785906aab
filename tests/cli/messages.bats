#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# One failure wording across the tools: every message a tool prints on a
# failure reads "TOOL: [warning: ]cannot VERB 'PATH': strerror[ (detail)]",
# with no parentheses inside the detail, and the same failure is worded the
# same in every tool. Each tool is run into a set of failures (missing
# operands, unreadable entries, unwritable places, names of the wrong
# type) and every line on stderr is checked.

load ../lib/helpers

setup() {
	tu_setup
	mkdir -m 777 w
	cd w || return 1
	mkdir -p s/d s/locked ro
	echo hi >s/d/f
	echo x >s/locked/g
	echo x >s/unread
	echo x >s/d/same
	echo x >s/d/same2
	ln -s d s/link
	chmod 700 s/locked
	chmod 600 s/unread
	chmod 555 ro
}
teardown() { tu_teardown; }

# The one form, and the few summary lines that are no failure of an entry.
FORM="^(cptree|mvtree|rmtree|dedup|hashcache): (warning: )?cannot [a-z]+( [a-z]+)* '([^'\\\\]|\\\\.)*': [A-Z][^()]*( \\([^()]*\\))?\$"
SUMMARY='^(groups [0-9]+, files linked|cptree: warning: could not keep the |mvtree: warning: could not keep the )'

# failures CMD...: run CMD (as nobody when it starts with "nobody") and
# append what it said on stderr to $S/said, each line after the command.
failures() {
	local who=()
	if [ "$1" = nobody ]; then
		who=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
		shift
	fi
	"${who[@]}" "$@" </dev/null >/dev/null 2>"$S/err" || true
	sed "s|^|$*	|" "$S/err" >>"$S/said"
}

@test "every failure message of every tool reads 'TOOL: cannot VERB 'PATH': reason', no nested parentheses" {
	: >"$S/said"
	local t
	for t in "cptree s" "cptree -a s" "cptree --atomic s"; do
		failures nobody $t d.$RANDOM
	done
	failures cptree nope d1
	failures cptree s nodir/d
	failures nobody cptree s ro/d
	failures cptree s/link d2
	failures cptree s/d/f d3
	failures cptree s s
	failures cptree s s/d/in
	failures nobody rmtree s
	failures rmtree nope
	failures rmtree .
	failures rmtree s/d/f/
	failures rmtree s/link/
	failures nobody dedup s
	failures dedup nope
	failures dedup s/link
	failures nobody hashcache s
	failures nobody hashcache --check s
	failures nobody hashcache --show s
	failures nobody hashcache --clear s
	failures hashcache nope
	failures hashcache -c nope
	failures hashcache --files0-from=nope
	failures hashcache s/link
	# mvtree last: what it moves is gone for the others.
	failures mvtree nope d4
	failures nobody mvtree s/d ro/d
	failures nobody mvtree s/d d6
	failures mvtree s/link/ d5
	failures mvtree s/d/f/ d7
	failures mvtree s s/d/in
	cat "$S/said"
	[ "$(wc -l <"$S/said")" -gt 30 ]
	run sh -c "cut -f 2- '$S/said' | grep -vE \"\$1\" | grep -vE \"\$2\"" _ "$FORM" "$SUMMARY"
	assert_output ""
}

@test "the same failure is worded the same in every tool: a missing directory operand, an unreadable directory" {
	run cptree nope d
	assert_output "cptree: cannot open directory 'nope': No such file or directory"
	run dedup nope
	assert_line "dedup: cannot open directory 'nope': No such file or directory"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- cptree s d
	assert_line "cptree: cannot open directory 's/locked': Permission denied"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- rmtree s
	assert_line "rmtree: cannot open directory 's/locked': Permission denied"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- dedup s
	assert_line "dedup: cannot open directory 's/locked': Permission denied"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- hashcache s
	assert_line "hashcache: cannot open directory 's/locked': Permission denied"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- hashcache s
	assert_line "hashcache: cannot open 's/unread': Permission denied"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- cptree s d2
	assert_line "cptree: cannot open 's/unread': Permission denied"
}

@test "a DEST that cannot be made says 'cannot create directory', whatever the reason" {
	run cptree s nodir/d
	assert_failure 2
	assert_output "cptree: cannot create directory 'nodir/d': No such file or directory"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- cptree s ro/d
	assert_failure 2
	assert_output "cptree: cannot create directory 'ro/d': Permission denied"
}

@test "a list file that cannot be opened is worded as every other failure" {
	run hashcache --files0-from=nope
	assert_failure 2
	assert_output "hashcache: cannot open 'nope': No such file or directory"
}
