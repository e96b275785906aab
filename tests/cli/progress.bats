#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# --progress, in every tool: drawn only on a terminal (stderr a tty; into a
# pipe or a file nothing, as pv(1)); messages and records clear the line and
# it is drawn again below them; each inode counts once toward the
# percentage; times read h:mm:ss. The terminal is a pseudo-terminal
# (tests/lib/tty.bash) and what it shows is checked.

load ../lib/helpers
load ../lib/tty

setup() { tu_setup; }
teardown() { tu_teardown; }

# The last line the terminal shows that starts with WORD.
last_line_of() {
	tty_screen | grep -E "^$1 " | tail -n 1
}

@test "--progress draws nothing when stderr is not a terminal, in every tool" {
	mktree sized s 20 64K
	cptree --progress s d 2>err >out
	[ ! -s err ] && [ ! -s out ]
	hashcache --progress s 2>err >/dev/null
	[ ! -s err ]
	dedup --progress -n s 2>err >/dev/null
	run grep -v '^groups ' err
	assert_output ""
	mvtree --progress d m 2>err >out
	[ ! -s err ]
	rmtree --progress m 2>err >out
	[ ! -s err ] && [ ! -s out ]
	assert_not_exist m
}

@test "cptree --progress on a terminal: entries, bytes, h:mm:ss and 100% at the end" {
	mktree sized s 20 64K
	on_tty cptree --progress s d
	assert_success
	run last_line_of copied
	echo "$output"
	assert_output --regexp '^copied 21 entries, 1\.2 MiB \([0-9.]+ [KMG]?i?B/s\), [0-9]+:[0-5][0-9]:[0-5][0-9], 100%$'
}

@test "the ETA is h:mm:ss too, while the copy runs" {
	mktree sized s 300 1M
	on_tty cptree --progress -j 1 s d
	assert_success
	run grep -oE 'ETA [0-9:.]+( s)?' <<<"$output"
	echo "$output"
	[ -n "$output" ] || skip "the copy ended before the first redraw (100 ms)"
	refute_output --regexp 'ETA [0-9.]+ s'
	run grep -vE '^ETA [0-9]+:[0-5][0-9]:[0-5][0-9]$' <<<"$output"
	assert_output ""
}

@test "a hard-linked tree copied with -a ends at 100%: each inode counts once" {
	mktree sized s 8 256K
	local f i
	for f in s/*; do
		[ -f "$f" ] || continue
		for i in 1 2 3; do ln "$f" "$f.link$i"; done
	done
	on_tty cptree -a --progress s d
	assert_success
	run last_line_of copied
	echo "$output"
	assert_output --regexp ', 100%$'
	[ "$(stat -c %h d/$(ls d | head -n 1))" -ge 4 ]
}

@test "a link farm ends at 100% too: it writes no data, and none is counted" {
	mktree sized s 8 256K
	on_tty cptree --link --progress s d
	assert_success
	run last_line_of copied
	assert_output --regexp ', 100%$'
}

@test "a message clears the progress line first and the line is drawn again below it" {
	need_root "unreadable files for another user"
	mkdir -m 777 w
	mktree sized w/s 200 256K
	chmod -R a+rX w/s
	local f n=0
	for f in w/s/*; do
		n=$((n + 1))
		((n % 10 == 0)) && chmod 000 "$f"
	done
	on_tty setpriv --reuid=65534 --regid=65534 --clear-groups -- cptree --progress -j 1 w/s w/d
	assert_failure 1
	local raw=$output
	# Each error starts a line of its own on the screen, never glued to it.
	run tty_screen
	echo "$output"
	run grep -cE "^cptree: cannot open 'w/s/[^']+': Permission denied$" <<<"$output"
	assert_output 20
	run grep -E ".+cptree: cannot" <<<"$(output=$raw tty_screen)"
	assert_output ""
	# The line is drawn again after the messages, and ends the run.
	output=$raw
	run last_line_of copied
	assert_output --regexp ', 20 errors, '
	# Cleared with "erase to the end of the line" before a message.
	[[ $raw == *$'\r\e[Kcptree: cannot'* ]]
}

@test "-v records on the same terminal are not glued to the progress line" {
	mktree sized s 300 256K
	on_tty cptree -v --progress -j 1 s d
	assert_success
	run tty_screen
	run grep -c -E "^'s/[^']+' -> 'd/[^']+'$" <<<"$output"
	assert_output 300
	run grep -E "copied [0-9]+ entries.*'s/" <<<"$(tty_screen)"
	assert_output ""
}

@test "the words read well in every tool: hashcache says files, rmtree entries, dedup files" {
	mktree sized s 4 4K
	on_tty hashcache --progress s
	assert_success
	run last_line_of looked
	assert_output --regexp '^looked at 4 files, '
	refute_output --partial "files 4 entries"
	on_tty hashcache --check --progress s
	run last_line_of checked
	assert_output --regexp '^checked 4 files, '
	on_tty dedup --progress s
	run last_line_of scanned
	assert_output --regexp '^scanned [0-9]+ files, '
	on_tty rmtree --progress s
	assert_success
	run last_line_of removed
	assert_output --regexp '^removed 5 entries \([0-9]+/s\), [0-9]+:[0-5][0-9]:[0-5][0-9]$'
}
