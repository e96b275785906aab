#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# rmtree against the scenarios of coreutils' tests/rm, replayed in our own
# words. Where rmtree means the same as `rm -rf`, the test expects what rm
# does; where it deliberately differs (it is always recursive, never asks,
# makes directories of ours usable, stays on one filesystem, refuses an
# empty name), the test name says "differs" and expects what rmtree(1)
# documents. Each test names the coreutils scenario it replays.

load ../lib/helpers

setup() { tu_setup; }
teardown() {
	# abs_dir's directory lies outside the per-test scratch space.
	if [ -n "${ABS:-}" ]; then
		chmod -R u+rwx "$ABS" 2>/dev/null
		rm -rf "$ABS"
	fi
	tu_teardown
}

# A world-searchable directory owned by nobody, reachable by absolute path
# (bats' own scratch space is private to root): $ABS.
abs_dir() {
	ABS=$(mktemp -d "${TMPDIR:-/tmp}/tu-abs.XXXXXX")
	chmod 755 "$ABS"
	chown nobody: "$ABS"
}

# A directory the unprivileged user nobody owns, inside the scratch space.
nobody_dir() {
	mkdir -p "$1"
	chown nobody: "$1"
}

@test "rm/deep-1: a 400-level hierarchy of one-letter names goes" {
	local p=t i
	for i in $(seq 400); do p=$p/k; done
	mkdir -p "$p"
	run rmtree t
	assert_success
	assert_not_exist t
}

@test "rm/r-1: -v prints each directory after its contents, and each argument in order" {
	mkdir a a/a
	: >b
	run rmtree -v a b
	assert_success
	assert_output $'removed directory \'a/a\'\nremoved directory \'a\'\nremoved \'b\''
	assert_not_exist a
	assert_not_exist b
}

@test "rm/r-2: -v on a subtree lists exactly its entries" {
	mkdir -p t/a/b
	: >t/a/f
	: >t/a/b/g
	rmtree -v t/a | sort >out
	printf '%s\n' "removed 't/a/b/g'" "removed 't/a/f'" "removed directory 't/a'" \
		"removed directory 't/a/b'" | sort >exp
	diff exp out
	assert_not_exist t/a
	assert_dir_exists t
}

@test "rm/r-3: a directory of 500 files goes" {
	mkdir t
	local i j
	for i in 0 1 2 3 4 5 6 7 8 9 a b c d e f g h i j; do
		for j in a b c d e f g h i j k l m n o p q r s t u v w x y; do : >"t/$i$j"; done
	done
	run rmtree t
	assert_success
	assert_not_exist t
}

@test "rm/r-4: '.' and '..' as the last component are refused, with -f, trailing slashes or not" {
	mkdir d
	touch d/a
	local arg
	for arg in d/. d/./ d/.//// d/.. d/../; do
		run rmtree -f "$arg"
		assert_failure 1
		assert_output --regexp "^rmtree: cannot remove 'd/\.\.?/?': Invalid argument \(refusing to remove '\.' or '\.\.'\)$"
	done
	assert_file_exists d/a
}

@test "rm/r-root: '/' is refused, also as '//' and '///'" {
	local arg
	for arg in / // ///; do
		run rmtree -f "$arg"
		assert_failure 1
		assert_output --partial "refusing to remove the root directory"
	done
}

@test "rm/v-slash: trailing slashes are shown once in -v output" {
	mkdir a
	touch a/x
	run rmtree -v a///
	assert_success
	assert_output $'removed \'a/x\'\nremoved directory \'a/\''
}

@test "rm/dot-rel: two relative directories with files go" {
	mkdir a b
	touch a/f b/f
	run rmtree a b
	assert_success
	assert_not_exist a
	assert_not_exist b
}

@test "rm/dangling-symlink: dangling and live symlinks go without a question" {
	ln -s no-file dangle
	ln -s / symlink
	run timeout 10 rmtree dangle symlink </dev/null
	assert_success
	assert_not_exist dangle
	assert_not_exist symlink
	[ -d /etc ]
}

@test "rm/empty-name: differs, an empty name is refused with its own reason; the other arguments still go" {
	run rmtree ''
	assert_failure 1
	assert_output "rmtree: cannot remove '': Invalid argument (refusing an empty name)"
	touch a b
	run rmtree a '' b
	assert_failure 1
	assert_not_exist a
	assert_not_exist b
}

@test "rm/ignorable: -f existing-non-dir/f exits 0 silently" {
	touch existing-non-dir
	run rmtree -f existing-non-dir/f
	assert_success
	assert_output ""
}

@test "rm/dir-nonrecur, rm/dir-no-w, rm/d-2: differs, a directory operand is always removed with what it holds (rmtree is always recursive)" {
	mkdir d e f
	chmod 0500 e
	touch f/a
	run rmtree d e f </dev/null
	assert_success
	assert_output ""
	assert_not_exist d
	assert_not_exist e
	assert_not_exist f
}

@test "rm/isatty: differs, a write-protected file goes without a question, even on a terminal" {
	touch f
	chmod 0 f
	run timeout 10 script -qec "rmtree f" typescript
	assert_success
	refute_output --partial "?"
	assert_not_exist f
}

@test "rm/empty-inacc: an empty mode-000 directory, and an empty unreadable one below, go" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -m0 own/inacc
	as_nobody mkdir -p own/a
	as_nobody mkdir -m a-r own/a/unreadable
	run as_nobody rmtree own/inacc own/a
	assert_success
	assert_not_exist own/inacc
	assert_not_exist own/a
}

@test "rm/unreadable: an empty 0100 directory goes; differs, so does a 0100 one holding a directory (ours: made usable)" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -m 0100 own/d1
	run as_nobody rmtree own/d1
	assert_success
	as_nobody mkdir -p own/d2/x
	chmod 0100 own/d2
	run as_nobody rmtree own/d2
	assert_success
	assert_output ""
	assert_not_exist own/d2
}

@test "rm/unread2: differs, a directory of ours without read permission is made readable and removed (rm: Permission denied)" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -p own/a/b
	chmod u-r own/a
	run as_nobody rmtree own/a
	assert_success
	assert_output ""
	assert_not_exist own/a
}

@test "rm/rm1, rm/rm2: differs, directories of ours without write or search permission are fixed and removed" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -p own/b/a/p own/b/c own/b/d own/x/0 own/x/1/2 own/x/2 own/y/3
	chmod ug-w own/b/a
	chmod u-x own/x/1 own/y
	run as_nobody rmtree own/b own/x own/y
	assert_success
	assert_output ""
	assert_not_exist own/b
	assert_not_exist own/x
	assert_not_exist own/y
}

@test "rm/rm1, rm/rm2 as rm means them: another user's directory we cannot write keeps its entries, the rest goes" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -p own/b/c own/b/d
	mkdir -p own/b/a/p
	chmod 755 own/b/a
	run as_nobody rmtree own/b
	assert_failure 1
	assert_output "rmtree: cannot remove 'own/b/a/p': Permission denied"
	assert_dir_exists own/b/a/p
	assert_not_exist own/b/c
	assert_not_exist own/b/d
}

@test "rm/cycle: the same tree twice, with an entry that cannot go, reports it twice and nothing else" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody mkdir -p own/a
	mkdir own/a/b
	touch own/a/b/file
	chmod 755 own/a/b
	run as_nobody rmtree own/a own/a
	assert_failure 1
	assert_output $'rmtree: cannot remove \'own/a/b/file\': Permission denied\nrmtree: cannot remove \'own/a/b/file\': Permission denied'
}

@test "rm/fail-eacces: a file in a directory we cannot write, given directly or found below, is reported" {
	need_root "chown to another user"
	nobody_dir own
	mkdir own/d own/e
	touch own/d/f
	ln -s f own/d/slink
	ln -s f own/e/slink
	chmod a-w own/d own/e
	run as_nobody rmtree own/d/f
	assert_failure 1
	assert_output "rmtree: cannot remove 'own/d/f': Permission denied"
	# A symlink is reported as itself, never followed (rm once said ELOOP).
	run as_nobody rmtree own/e
	assert_failure 1
	assert_output "rmtree: cannot remove 'own/e/slink': Permission denied"
}

@test "rm/fail-eacces: differs, in a directory of ours the same files go (it is given u+w)" {
	need_root "chown to another user"
	nobody_dir own
	as_nobody sh -c 'mkdir own/e && ln -s f own/e/slink && chmod a-w own/e'
	run as_nobody rmtree own/e
	assert_success
	assert_not_exist own/e
}

@test "rm/fail-2eperm: a file of another user in a sticky directory is reported with the reason" {
	need_root "chown to another user"
	nobody_dir own
	mkdir own/a
	chmod 1777 own/a
	touch own/a/b
	run as_nobody rmtree own/a
	assert_failure 1
	assert_output "rmtree: cannot remove 'own/a/b': Operation not permitted (sticky directory, not owner)"
	assert_file_exists own/a/b
}

@test "rm/no-give-up: a directory whose parent we cannot write is emptied; it stays, reported" {
	need_root "chown to another user"
	mkdir ro
	chmod go=x ro
	mkdir ro/d
	touch ro/d/f
	chown -R nobody: ro/d
	run as_nobody rmtree ro/d
	assert_failure 1
	assert_output "rmtree: cannot remove 'ro/d': Permission denied"
	assert_dir_exists ro/d
	assert_not_exist ro/d/f
}

@test "rm/unread3: absolute arguments work from a working directory we cannot read" {
	need_root "chown to another user"
	abs_dir
	local t=$ABS
	as_nobody mkdir -p "$t/a/1" "$t/b" "$t/c" "$t/d/2" "$t/e/3"
	run as_nobody sh -c "cd '$t/c' && chmod u=x,go= . && rmtree '$t/a' '$t/b' && rmtree '$t/d' '$t/e'"
	assert_success
	assert_not_exist "$t/a"
	assert_not_exist "$t/b"
	assert_not_exist "$t/d"
	assert_not_exist "$t/e"
}

@test "rm/inaccessible: from a working directory with mode 0, absolute arguments go and a relative one is reported" {
	need_root "chown to another user"
	abs_dir
	local p=$ABS
	as_nobody mkdir "$p/abs1" "$p/abs2" "$p/no-access"
	run as_nobody sh -c "cd '$p/no-access' && chmod 0 . && rmtree '$p/abs1' rel '$p/abs2'"
	assert_failure 1
	assert_output "rmtree: cannot remove 'rel': Permission denied"
	assert_not_exist "$p/abs1"
	assert_not_exist "$p/abs2"
}

@test "rm/one-file-system: a bind mount inside is left alone and reported (by default: differs from rm -rf, which needs --one-file-system)" {
	need_root mount
	mkdir -p a/b other/y
	mount --bind other a/b
	run rmtree a
	assert_failure 1
	assert_output "rmtree: cannot remove 'a/b': Device or resource busy (mount point, left alone without --cross-mounts)"
	assert_dir_exists other/y
	run rmtree --preserve-root=all a/b
	assert_failure 1
	assert_output --partial "refused by --preserve-root=all"
	assert_dir_exists other/y
}

@test "rm/one-file-system2: -x still removes everything on the one filesystem" {
	mkdir -p a/b
	run rmtree -x a
	assert_success
	assert_not_exist a
}

@test "rm/empty-immutable-skip: an immutable empty directory does not stop the next arguments" {
	need_root chattr
	mkdir empty
	touch x y
	chattr +i empty
	run rmtree empty x y
	assert_failure 1
	assert_output "rmtree: cannot remove 'empty': Operation not permitted (immutable)"
	assert_not_exist x
	assert_not_exist y
	chattr -i empty
}

@test "rm/read-only: -f of a missing name on a read-only filesystem is silent; an existing file is reported" {
	need_root mount
	mkdir mnt
	mount -t tmpfs -o size=1m tmpfs mnt
	echo test >mnt/f
	mount -o remount,ro mnt
	run rmtree -f mnt/no-such
	assert_success
	assert_output ""
	run rmtree -f mnt/f
	assert_failure 1
	assert_output "rmtree: cannot remove 'mnt/f': Read-only file system"
	assert_file_exists mnt/f
}

@test "rm/rm-readdir-fail: a directory that cannot be read is reported, stays, and nothing else is said" {
	# An LD_PRELOAD shim fails getdents64 on the directory whose inode is
	# TU_FAULT_INO, after handing out a first short batch when
	# TU_READDIR_PARTIAL is set.
	cat >"$BATS_TEST_TMPDIR/getdents.c" <<-'EOF'
	#define _GNU_SOURCE
	#include <dirent.h>
	#include <dlfcn.h>
	#include <errno.h>
	#include <stdlib.h>
	#include <sys/stat.h>
	#include <unistd.h>
	ssize_t getdents64(int fd, void *buf, size_t len)
	{
		static ssize_t (*real)(int, void *, size_t);
		static int calls;
		if (!real)
			real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "getdents64");
		const char *ino = getenv("TU_FAULT_INO");
		struct stat st;
		if (ino && fstat(fd, &st) == 0 && st.st_ino == strtoull(ino, NULL, 10)) {
			const char *partial = getenv("TU_READDIR_PARTIAL");
			if (partial && *partial && calls++ == 0)
				return real(fd, buf, len < 64 ? len : 64);
			errno = EIO;
			return -1;
		}
		return real(fd, buf, len);
	}
	EOF
	cc -shared -fPIC -o "$BATS_TEST_TMPDIR/getdents.so" "$BATS_TEST_TMPDIR/getdents.c" -ldl
	local partial
	for partial in "" 1; do
		mkdir -p dir/notempty dir/b dir/c
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			TU_FAULT_INO=$(stat -c %i dir) TU_READDIR_PARTIAL=$partial \
			LD_PRELOAD=$BATS_TEST_TMPDIR/getdents.so \
			run rmtree dir
		assert_failure 1
		assert_output "rmtree: cannot read directory 'dir': Input/output error"
		assert_dir_exists dir
		rmtree dir
	done
}
