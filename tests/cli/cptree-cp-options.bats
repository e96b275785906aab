#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree takes cp's options as cp does: -r/-R, a bare --reflink (always), a
# bare --link (hard), values only after '=', the last --reflink winning, and
# GNU argmatch prefixes. Each case runs GNU cp itself (the oracle, as in
# coreutils' tests/cp/reflink-auto.sh and reflink-perm.sh) with the same
# option words and checks that cptree agrees with it.

load ../lib/helpers

setup() {
	tu_setup
	mkdir -p s/d
	echo data >s/d/f
	echo more >s/g
}
teardown() { tu_teardown; }

# same_as_cp N OPTIONS...: cp -r OPTIONS s cpN and cptree OPTIONS s ctN both
# succeed or both fail; the exit status of cptree is in $status.
same_as_cp() {
	local n=$1
	shift
	run cp -r "$@" s "cp$n"
	local cp_status=$status
	run cptree "$@" s "ct$n"
	echo "cp: $cp_status, cptree: $status ($output)"
	if [ "$cp_status" = 0 ]; then
		assert_success
	else
		assert_failure
	fi
}

reflink_works_here() {
	: >probe
	cp --reflink=always probe probe2 2>/dev/null
}

@test "-r and -R are accepted and change nothing: the copy is the same as without them" {
	run cptree -r s d1
	assert_success
	run cptree -R s d2
	assert_success
	run cptree --recursive -r -R s d3
	assert_success
	run cptree s d0
	assert_success
	run diff -r d0 d1
	assert_success
	run diff -r d0 d3
	assert_success
	run diff -r s d2
	assert_success
}

@test "a bare --reflink means always, as cp's: both fail where extents cannot be shared" {
	reflink_works_here && skip "this filesystem shares extents: always cannot fail here"
	same_as_cp 1 --reflink
	assert_failure 1
	same_as_cp 2 --reflink=always
	same_as_cp 3 --reflink=auto
	assert_success
	run cmp s/d/f ct3/d/f
	assert_success
}

@test "a later --reflink overrides an earlier one, as in cp" {
	reflink_works_here && skip "this filesystem shares extents: always cannot fail here"
	same_as_cp 1 --reflink=always --reflink=never
	assert_success
	same_as_cp 2 --reflink=never --reflink=always
	assert_failure
	same_as_cp 3 --reflink=never --reflink
	assert_failure
}

@test "--reflink values take cp's unambiguous prefixes; an ambiguous or unknown one is refused before anything is written" {
	same_as_cp 1 --reflink=nev
	assert_success
	same_as_cp 2 --reflink=a
	assert_failure 2
	assert_output --partial "ambiguous argument 'a' for '--reflink'"
	assert_output --partial "auto, always or never"
	assert_not_exist ct2
	same_as_cp 3 --reflink=sometimes
	assert_failure 2
	assert_output --partial "invalid argument 'sometimes' for '--reflink'"
	assert_not_exist ct3
}

@test "--reflink never takes its value from the next operand: '--reflink always s d' has three operands, as cp reads it" {
	run cp -r --reflink always s cpd
	assert_failure
	run cptree --reflink always s d
	assert_failure 2
	assert_output --partial "too many operands"
	assert_not_exist d
	assert_not_exist always
}

@test "a bare --link is a hard link farm (cp -al's -l); --link never takes the next operand" {
	mkdir doc
	run cptree --link s doc
	assert_success
	[ "$(ino s/d/f)" = "$(ino doc/d/f)" ]
	[ "$(ino s/g)" = "$(ino doc/g)" ]
	# The word after a bare --link is an operand, never its value.
	run cptree --link s zz extra
	assert_failure 2
	assert_output --partial "too many operands"
	assert_not_exist zz
	run cptree --link=sym s sy
	assert_success
	[ -L sy/d/f ]
	run cptree --link=h s hl
	assert_success
	[ "$(ino s/g)" = "$(ino hl/g)" ]
	run cptree --link=x s bad
	assert_failure 2
	assert_output --partial "invalid argument 'x' for '--link': want hard or symbolic"
	assert_not_exist bad
}

@test "mvtree takes the same --reflink values, a bare --reflink meaning always" {
	run mvtree --reflink=a s m1
	assert_failure 2
	assert_output --partial "ambiguous argument 'a' for '--reflink'"
	run mvtree --reflink always s m2
	assert_failure 2
	assert_exist s/d/f
	run mvtree --reflink=nev s m3
	assert_success
	assert_exist m3/d/f
}

@test "dedup takes the same --reflink value set: never means hard links, as without it" {
	mkdir t
	echo same >t/a
	echo same >t/b
	run dedup --reflink=never t
	assert_success
	[ "$(ino t/a)" = "$(ino t/b)" ]
	run dedup --reflink=sometimes t
	assert_failure 2
	assert_output --partial "invalid argument 'sometimes' for '--reflink': want auto, always or never"
}
