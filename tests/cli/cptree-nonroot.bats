#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree -a as a user other than root is as quiet as cp -a: owners and
# groups it cannot keep are summed up in one warning at the end, naming the
# owner and the group apart, and a setuid/setgid bit only when one was lost.

load ../lib/helpers

setup() {
	tu_setup
	need_root "switching user"
	mkdir -m 777 w
	as_nobody mkdir w/s
	as_nobody sh -c 'echo mine >w/s/mine; mkdir w/s/sub; echo mine >w/s/sub/mine2'
}
teardown() { tu_teardown; }

@test "-a as non-root: foreign owners of many entries are one warning with the count, and the copy succeeds" {
	local i
	for i in 1 2 3 4 5; do
		echo "$i" >"w/s/sub/root$i"
	done
	mkdir w/s/rootdir
	chmod 755 w/s/rootdir
	run as_nobody cptree -a w/s w/d
	echo "$output"
	assert_success
	assert_output "cptree: warning: could not keep the owner of 6 entries (not root)"
	[ "$(stat -c %U w/d/sub/root3)" = nobody ]
	[ "$(stat -c %U w/d/mine)" = nobody ]
	run cat w/d/sub/root5
	assert_output 5
}

@test "-a as non-root: a group it is not a member of is named as the group, not the owner" {
	chown nobody:root w/s/mine
	run as_nobody cptree -a w/s w/d
	echo "$output"
	assert_success
	assert_output "cptree: warning: could not keep the group of 1 entry (not root)"
}

@test "-a as non-root: a setuid or setgid bit is mentioned only when one was dropped" {
	echo x >w/s/plain
	echo x >w/s/suid
	chmod 4755 w/s/suid
	echo x >w/s/sgid
	chmod 2755 w/s/sgid
	run as_nobody cptree -a w/s w/d
	echo "$output"
	assert_success
	assert_output "cptree: warning: could not keep the owner of 3 entries (not root); 2 of them lost a setuid or setgid bit"
	[ "$(stat -c %a w/d/suid)" = 755 ]
	[ "$(stat -c %a w/d/sgid)" = 755 ]
	rm w/s/suid w/s/sgid
	run as_nobody cptree -a w/s w/d2
	assert_output "cptree: warning: could not keep the owner of 1 entry (not root)"
}

@test "-a as non-root on its own files: no warning at all, as cp -a" {
	run as_nobody cptree -a w/s w/d
	assert_success
	assert_output ""
	run as_nobody cp -a w/s w/c
	assert_output ""
}

@test "mvtree across filesystems as non-root sums up the owners it could not keep the same way" {
	mkdir -m 777 other
	mount -t tmpfs -o mode=1777 tu-nonroot other
	echo r >w/s/rootfile
	chmod 666 w/s/rootfile
	chmod 777 w/s
	run as_nobody mvtree w/s other/m
	echo "$output"
	umount -l other
	[ "${#lines[@]}" = 1 ]
	assert_output --partial "mvtree: warning: could not keep the owner of 1 entry (not root)"
	refute_output --partial "set owner"
}
