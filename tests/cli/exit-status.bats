#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# One mapping from the library's return convention to the exit status, for
# every tool (tools/common: tu_exit_status): 0 all was done; 1 some entries
# failed, each reported; 2 nothing could start (bad usage, or the operand
# itself refused). The "some failed" cases use a chattr +i entry or an entry
# user nobody cannot read, so they need root (CI runs as root).

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# An unreadable file (root's, mode 0600) in a tree nobody may read
# otherwise, and a directory nobody may write into.
nobody_tree() {
	mkdir -p t/sub out
	echo one >t/a
	echo two >t/sub/b
	echo secret >t/sub/hidden
	chmod 600 t/sub/hidden
	chown 65534:65534 out
}

@test "rmtree: 0 all removed, 1 an immutable entry stays, 2 bad usage" {
	mkdir -p t/sub && echo x >t/sub/f
	run rmtree t
	assert_success
	assert_file_not_exists t

	need_root "chattr +i"
	mkdir -p t/sub && echo x >t/sub/f && echo y >t/sub/g
	chattr +i t/sub/f
	run rmtree t
	[ "$status" -eq 1 ]
	assert_output --partial "cannot remove 't/sub/f'"
	assert_file_not_exists t/sub/g
	chattr -i t/sub/f

	run rmtree --no-such-flag t
	[ "$status" -eq 2 ]
	run rmtree
	[ "$status" -eq 2 ]
	assert_file_exists t/sub/f	# nothing was started
}

@test "rmtree: a missing operand beside others counts as 1, as with rm" {
	mkdir d
	run rmtree no-such d
	[ "$status" -eq 1 ]
	assert_file_not_exists d
}

@test "cptree: 0 all copied, 1 an unreadable entry, 2 bad usage or SOURCE missing" {
	nobody_tree
	run cptree t copy
	assert_success

	need_root "to run as nobody"
	run as_nobody cptree t out/d
	[ "$status" -eq 1 ]
	assert_output --partial "t/sub/hidden"
	assert_file_exists out/d/sub/b

	run cptree --no-such-flag t c2
	[ "$status" -eq 2 ]
	run cptree t
	[ "$status" -eq 2 ]
	run cptree no-such c3
	[ "$status" -eq 2 ]
	assert_file_not_exists c2
	assert_file_not_exists c3
}

@test "mvtree: 0 moved, 1 an immutable SOURCE entry kept, 2 bad usage or SOURCE missing" {
	mkdir -p s/sub && echo x >s/sub/f
	run mvtree s moved
	assert_success
	assert_file_exists moved/sub/f

	need_root "chattr +i and a second filesystem"
	mkdir other
	mount -t tmpfs -o size=16m tu-exit "$S/other"
	mkdir -p s/sub && echo x >s/sub/f && echo y >s/sub/g
	chattr +i s/sub/f
	run mvtree s other/s
	chattr -i s/sub/f
	[ "$status" -eq 1 ]
	assert_file_exists other/s/sub/f	# DEST is the complete copy
	assert_file_exists s/sub/f		# what could not go is kept

	run mvtree --no-such-flag moved m2
	[ "$status" -eq 2 ]
	run mvtree moved
	[ "$status" -eq 2 ]
	run mvtree no-such m3
	[ "$status" -eq 2 ]
	assert_file_exists moved/sub/f
}

@test "dedup: 0 linked, 1 immutable duplicates, 2 bad usage or no DIR could be opened" {
	mkdir d
	echo same >d/a && echo same >d/b
	touch -d '2001-01-01' d/a d/b
	run dedup d
	assert_success
	[ "$(ino d/a)" = "$(ino d/b)" ]

	need_root "chattr +i"
	mkdir e
	echo other >e/a && echo other >e/b
	touch -d '2001-01-01' e/a e/b	# old enough to be linked, not 'changed just now'
	chattr +i e/a e/b
	run dedup e
	chattr -i e/a e/b
	[ "$status" -eq 1 ]
	[ "$(ino e/a)" != "$(ino e/b)" ]

	run dedup --no-such-flag e
	[ "$status" -eq 2 ]
	run dedup
	[ "$status" -eq 2 ]
	run dedup no-such nor-this
	[ "$status" -eq 2 ]
	refute_output --partial "groups 0"	# no summary of a run that never started
	# One DIR refused beside one that is dealt with: some failed.
	run dedup no-such e
	[ "$status" -eq 1 ]
}

@test "dedup --links: 0 listed, 1 an unreadable directory, 2 no DIR could be opened" {
	mkdir -p l/sub && echo x >l/a && ln l/a l/sub/b
	run dedup --links l
	assert_success
	assert_output --partial "l/sub/b"

	need_root "to run as nobody"
	mkdir l/closed && chmod 700 l/closed
	run as_nobody dedup --links l
	[ "$status" -eq 1 ]
	assert_output --partial "l/closed"

	run dedup --links no-such
	[ "$status" -eq 2 ]
}

@test "hashcache: 0 all hashed, 1 an unreadable file, 2 bad usage" {
	nobody_tree
	run hashcache --no-store t
	assert_success

	need_root "to run as nobody"
	run as_nobody hashcache --no-store t
	[ "$status" -eq 1 ]
	assert_output --partial "t/sub/hidden"
	assert_output --partial "t/sub/b"

	run hashcache --no-such-flag t
	[ "$status" -eq 2 ]
	run hashcache
	[ "$status" -eq 2 ]
	# A PATH that cannot be opened counts as 1, as with md5sum.
	run hashcache --no-store no-such t
	[ "$status" -eq 1 ]
}
