#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The symlink-operand rule, the same in every tool (each man page's
# "SYMLINK OPERANDS"): written without a trailing '/', a symlink operand is
# the link itself; written with one, it names the directory the link points
# to, which the tools that read (cptree SOURCE, dedup DIR, hashcache PATH)
# follow, and the tools that remove or move a directory by its name (rmtree,
# mvtree) refuse, touching nothing; a trailing '/' on anything else that is
# not a directory is "Not a directory" everywhere.

load ../lib/helpers

setup() {
	tu_setup
	mkdir -p t/sub
	echo same >t/sub/f
	echo same >t/g
	touch -d '2001-01-01' t/sub/f t/g	# at rest: no run depends on their freshness
	ln -s t ln
	ln -s t/g lnf
}
teardown() { tu_teardown; }

tree_intact() {
	[ "$(readlink ln)" = t ] && [ "$(readlink lnf)" = t/g ]
	run cat t/sub/f t/g
	assert_output $'same\nsame'
}

@test "rmtree: LINK removes the link only; LINK/ is refused and removes nothing, not even through the link" {
	run rmtree ln/
	assert_failure 1
	assert_output "rmtree: cannot remove 'ln/': Not a directory (a symlink written with a trailing '/'; without the '/' the link itself is removed)"
	run rmtree -f ln/
	assert_failure 1
	tree_intact
	run rmtree t/g/
	assert_failure 1
	assert_output "rmtree: cannot remove 't/g/': Not a directory"
	run rmtree lnf/
	assert_failure 1
	tree_intact
	run rmtree ln
	assert_success
	assert_not_exist ln
	assert_file_exists t/sub/f
}

@test "mvtree: LINK moves the link itself; LINK/ is refused before anything moves" {
	run mvtree ln/ x
	assert_failure 2
	assert_output "mvtree: cannot move 'ln/': Not a directory (a symlink written with a trailing '/'; without the '/' the link itself is moved)"
	assert_not_exist x
	run mvtree t/g/ x
	assert_failure 2
	assert_output "mvtree: cannot move 't/g/': Not a directory"
	tree_intact
	run mvtree ln x
	assert_success
	[ "$(readlink x)" = t ]
	assert_file_exists t/sub/f
}

@test "cptree: LINK as SOURCE is refused (it must be a directory); LINK/ copies the directory it points to" {
	run cptree ln d1
	assert_failure 2
	assert_output --partial "a symlink to one needs a trailing '/'"
	assert_not_exist d1
	run cptree ln/ d2
	assert_success
	[ -d d2 ] && [ ! -L d2 ]
	run cat d2/sub/f
	assert_output same
	run cptree lnf/ d3
	assert_failure 2
	assert_output --partial "Not a directory"
	tree_intact
}

@test "dedup: LINK is refused as a DIR; LINK/ walks the directory it points to" {
	run dedup -n ln
	assert_failure 2	# its only DIR refused: nothing could start
	assert_output --partial "cannot open directory 'ln': Not a directory"
	run dedup ln/
	assert_success
	[ "$(ino t/g)" = "$(ino t/sub/f)" ]
	run dedup lnf/
	assert_failure 2	# its only DIR is not one: nothing could start
	assert_output --partial "Not a directory"
}

@test "hashcache: LINK is not followed (a warning says to write LINK/); LINK/ walks the directory" {
	run hashcache ln
	assert_output --partial "cannot hash 'ln': Too many levels of symbolic links (a symbolic link, not followed; write 'LINK/' to walk the directory it points to)"
	refute_output --partial "t/g"
	run hashcache ln/
	assert_success
	assert_line --regexp '^[0-9a-f]{32}  ln/g$'
	assert_line --regexp '^[0-9a-f]{32}  ln/sub/f$'
	run hashcache lnf/
	assert_failure 1
	assert_output --partial "Not a directory"
}

@test "every man page states the rule in a SYMLINK OPERANDS section" {
	local top t
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	for t in rmtree cptree mvtree dedup hashcache; do
		grep -q '^\.SH "SYMLINK OPERANDS"' "$top/man/$t.1" || { echo "$t.1: no SYMLINK OPERANDS"; return 1; }
		run sh -c "groff -man -Tascii -P-cbou -rLL=200n '$top/man/$t.1' 2>/dev/null | tr -s ' \n' ' '"
		[[ ${output,,} == *"without a trailing slash, a symlink operand is the link itself"* ]]
	done
}
