#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# rmtree: what a user can rely on, one behaviour per test.

load ../lib/helpers
load ../lib/tty

setup() { tu_setup; }
teardown() { tu_teardown; }

make_tree() {
	mkdir -p "$1/a/b/c" "$1/d"
	echo 1 >"$1/a/f1"
	echo 2 >"$1/a/b/f2"
	echo 3 >"$1/a/b/c/f3"
	: >"$1/d/empty"
}

@test "removes a nested tree silently and exits 0" {
	make_tree t
	run rmtree t
	assert_success
	assert_output ""
	assert_not_exist t
}

@test "-v prints every entry, each directory after its contents" {
	make_tree t
	run rmtree -v t
	assert_success
	assert_line "removed 't/a/b/c/f3'"
	assert_line "removed directory 't/a/b/c'"
	assert_line --index 8 "removed directory 't'"
	[ "${#lines[@]}" -eq 9 ]
	# Post-order: c's file before c, c before b, b before a.
	run bash -c "rmtree -v t2 2>/dev/null; true"
	local f3 c b
	make_tree t3
	mapfile -t out < <(rmtree -v t3)
	for i in "${!out[@]}"; do
		case ${out[$i]} in
		"removed 't3/a/b/c/f3'") f3=$i ;;
		"removed directory 't3/a/b/c'") c=$i ;;
		"removed directory 't3/a/b'") b=$i ;;
		esac
	done
	[ "$f3" -lt "$c" ] && [ "$c" -lt "$b" ]
}

@test "-n lists what would go and removes nothing" {
	make_tree t
	run rmtree -n t
	assert_success
	assert_line "would remove 't/a/b/c/f3'"
	assert_line "would remove 't'"
	[ "${#lines[@]}" -eq 9 ]
	assert_file_exists t/a/b/c/f3
	[ "$(count_entries t)" -eq 8 ]
}

@test "-n -0 prints raw NUL-terminated paths" {
	mkdir t
	touch t/$'new\nline'
	rmtree -n -0 t >out
	run od -c out
	assert_output --partial 't   /   n   e   w  \n   l   i   n   e  \0'
	assert_file_exists t/$'new\nline'
}

@test "symlinks to directories outside, dangling links and loops: only the links go" {
	mkdir -p t/x
	ln -s "$CANARY" t/out
	ln -s "$CANARY/sub" t/x/out2
	ln -s /nonexistent/target t/dangling
	ln -s loop1 t/loop2
	ln -s loop2 t/loop1
	ln -s . t/self
	run rmtree t
	assert_success
	assert_not_exist t
	assert_canary
}

@test "a symlink given as DIR: only the link goes" {
	ln -s "$CANARY" link
	run rmtree link
	assert_success
	assert_not_exist link
	assert_canary
	# Written with a trailing slash it names the directory it points to,
	# which rmtree never removes through a link: refused, nothing removed
	# (tests/cli/symlink-operands.bats has the rule for every tool).
	ln -s "$CANARY" link2
	run rmtree link2/
	assert_failure 1
	assert_output "rmtree: cannot remove 'link2/': Not a directory (a symlink written with a trailing '/'; without the '/' the link itself is removed)"
	assert_symlink_to "$CANARY" link2
	assert_canary
}

@test "a plain file given as DIR is removed" {
	echo x >file
	run rmtree file
	assert_success
	assert_not_exist file
}

@test "FIFOs, sockets and device nodes are removed and never opened" {
	mkdir t
	mkfifo t/fifo
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' t/sock
	if [ "$(id -u)" = 0 ]; then
		mknod t/null c 1 3
		mknod t/blk b 7 200
	fi
	# LeakSanitizer cannot run under ptrace; the leak check runs elsewhere.
	ASAN_OPTIONS=detect_leaks=0 run timeout 20 strace -f -qq -e trace=open,openat -o trace rmtree t
	assert_success
	assert_not_exist t
	run grep -E 'fifo|sock|null|blk' trace
	assert_failure
}

@test "a read-only file is removed" {
	mkdir t
	echo x >t/ro
	chmod 444 t/ro
	run rmtree t
	assert_success
	assert_not_exist t
}

@test "an unreadable mode-000 directory we own is made searchable, emptied and removed" {
	need_root "chown to another user"
	mkdir -p own/t/locked/deeper
	echo x >own/t/locked/deeper/f
	echo y >own/t/locked/g
	chown -R nobody: own
	chmod 000 own/t/locked
	chmod 500 own/t/locked/deeper 2>/dev/null || true
	run as_nobody rmtree own/t
	assert_success
	assert_not_exist own/t
}

@test "a read-only (0500) directory we own is emptied and removed" {
	need_root "chown to another user"
	mkdir -p own/t/ro
	touch own/t/ro/a own/t/ro/b
	chown -R nobody: own
	chmod 500 own/t/ro
	run as_nobody rmtree own/t
	assert_success
	assert_not_exist own/t
}

@test "a directory of another user that we cannot write is reported; the rest goes; exit 1" {
	need_root "chown to another user"
	mkdir -p own/t/theirs own/t/mine
	touch own/t/theirs/f own/t/mine/f
	chown -R nobody: own
	chown root: own/t/theirs own/t/theirs/f
	run as_nobody rmtree own/t
	assert_failure 1
	assert_output --partial "cannot remove 'own/t/theirs/f': Permission denied"
	assert_not_exist own/t/mine
	assert_file_exists own/t/theirs/f
}

@test "an immutable file is reported, everything else removed, exit 1" {
	need_root chattr
	mkdir -p t/a/b t/c
	touch t/a/b/imm t/a/b/other t/c/f
	chattr +i t/a/b/imm
	run rmtree t
	assert_failure 1
	assert_output --partial "cannot remove 't/a/b/imm': Operation not permitted"
	# Its directory was moved into the base under a random name so that
	# the parents could go; the message says where it lies now.
	assert_output --regexp "left at 't/\.tu-[0-9a-f]{32}'"
	assert_not_exist t/c
	assert_not_exist t/a
	run find t -mindepth 1
	assert_output --regexp '^t/\.tu-[0-9a-f]{32}$'$'\n''t/\.tu-[0-9a-f]{32}/imm$'
}

@test "--all-or-nothing removes nothing when an immutable file is inside" {
	need_root chattr
	make_tree t
	touch t/a/b/imm
	chattr +i t/a/b/imm
	run rmtree --all-or-nothing t
	assert_failure 1
	assert_output --partial "cannot remove 't/a/b/imm': Operation not permitted (immutable)"
	assert_output --partial "nothing removed"
	[ "$(count_entries t)" -eq 9 ]
	run ls -a .
	refute_output --partial ".tu-"
}

@test "--all-or-nothing reports append-only directories and removes nothing" {
	need_root chattr
	make_tree t
	chattr +a t/d
	run rmtree --all-or-nothing t
	assert_failure 1
	assert_output --partial "append-only"
	[ "$(count_entries t)" -eq 8 ]
}

@test "--all-or-nothing honours the sticky-directory rule" {
	need_root "chown to another user"
	mkdir -p own/t/sticky
	touch own/t/sticky/rootsfile
	chown -R nobody: own
	chown root: own/t/sticky/rootsfile
	chown root: own/t/sticky
	chmod 1777 own/t/sticky
	run as_nobody rmtree --all-or-nothing own/t
	assert_failure 1
	assert_output --partial "sticky directory, not owner"
	assert_file_exists own/t/sticky/rootsfile
}

@test "--all-or-nothing removes everything when nothing blocks" {
	make_tree t
	run rmtree --all-or-nothing t
	assert_success
	assert_not_exist t
}

@test "--all-or-nothing with -n checks and lists, and changes nothing" {
	make_tree t
	run rmtree --all-or-nothing -n t
	assert_success
	assert_line "would remove 't'"
	[ "$(count_entries t)" -eq 8 ]
}

@test "--hide renames DIR away before deleting; leftovers are reported where they lie" {
	need_root chattr
	make_tree t
	chattr +i t/a/f1
	run rmtree --hide t
	assert_failure 1
	assert_not_exist t
	assert_output --regexp "cannot remove 't/a/f1': Operation not permitted"
	assert_output --regexp "now at '\.tu-[0-9a-f]{32}'"
	run bash -c 'ls -d .tu-*/a/f1'
	assert_success
}

@test "--hide on a removable tree leaves no trace" {
	make_tree t
	run rmtree --hide t
	assert_success
	run ls -A .
	assert_output "canary"
}

@test "--cross-mounts: a mount point inside the tree is emptied but kept, and reported" {
	need_root mount
	make_tree t
	mkdir t/m
	mount -t tmpfs tmpfs t/m
	touch t/m/inside
	run rmtree --cross-mounts t
	assert_failure 1
	assert_output --partial "cannot remove 't/m': Device or resource busy (mount point)"
	assert_not_exist t/m/inside
	assert_not_exist t/a
}

@test "mounts are left alone by default (issue 12 item 7): a tmpfs inside the tree is reported, kept, and so are its parents" {
	need_root mount
	make_tree t
	mkdir -p t/p/m
	mount -t tmpfs tmpfs t/p/m
	touch t/p/m/inside t/p/sibling
	run rmtree t
	assert_failure 1
	assert_output "rmtree: cannot remove 't/p/m': Device or resource busy (mount point, left alone without --cross-mounts)"
	assert_file_exists t/p/m/inside
	# The directories above it stay where they are (not renamed away), quietly.
	assert_dir_exists t/p
	assert_not_exist t/p/sibling
	assert_not_exist t/a
	run find t -name '.tu-*'
	assert_output ""
}

@test "mounts are left alone by default (issue 12 item 7): the source of a bind mount outside the tree survives" {
	need_root mount
	make_tree t
	mkdir t/m
	mount --bind "$CANARY" t/m
	run rmtree t
	assert_failure 1
	assert_output --partial "cannot remove 't/m': Device or resource busy (mount point, left alone without --cross-mounts)"
	assert_canary
	assert_not_exist t/a
}

@test "-x is still accepted, and is the default" {
	need_root mount
	make_tree t
	mkdir t/m
	mount -t tmpfs tmpfs t/m
	touch t/m/inside
	run rmtree -x t
	assert_failure 1
	assert_output --partial "mount point, left alone without --cross-mounts"
	assert_file_exists t/m/inside
	assert_not_exist t/a
	# The last of -x and --cross-mounts wins.
	run rmtree --cross-mounts -x t
	assert_failure 1
	assert_file_exists t/m/inside
}

@test "-n reports a mount point it would leave alone and does not claim its parents" {
	need_root mount
	mkdir -p t/p/m
	mount -t tmpfs tmpfs t/p/m
	touch t/p/m/inside t/p/f
	run rmtree -n t
	assert_failure 1
	assert_line "would remove 't/p/f'"
	assert_line "rmtree: cannot remove 't/p/m': Device or resource busy (mount point, left alone without --cross-mounts)"
	refute_line "would remove 't/p'"
	refute_line "would remove 't'"
	refute_output --partial "inside"
}

@test "--all-or-nothing counts a mount point left alone as a blocker" {
	need_root mount
	make_tree t
	mkdir t/m
	mount -t tmpfs tmpfs t/m
	run rmtree --all-or-nothing t
	assert_failure 1
	assert_output --partial "nothing removed (1 blocker)"
	assert_dir_exists t/a
}

@test "--preserve-root=all refuses a DIR that is a mount point" {
	need_root mount
	mkdir m
	mount -t tmpfs tmpfs m
	touch m/f
	run rmtree --preserve-root=all m
	assert_failure 1
	assert_output --partial "refused by --preserve-root=all"
	assert_file_exists m/f
}

@test "refuses /, ., .., an empty name and a path ending in .." {
	mkdir -p t/sub
	cd t/sub
	run rmtree /
	assert_failure 1
	assert_output --partial "cannot remove '/': Operation not permitted (refusing to remove the root directory)"
	run rmtree .
	assert_failure 1
	assert_output --partial "refusing to remove '.' or '..'"
	run rmtree ..
	assert_failure 1
	run rmtree ''
	assert_failure 1
	assert_output --partial "refusing an empty name"
	run rmtree ../sub/..
	assert_failure 1
	run rmtree ///
	assert_failure 1
	cd "$S"
	assert_dir_exists t/sub
}

@test "a missing DIR is an error; with -f it is not" {
	run rmtree missing
	assert_failure 1
	assert_output "rmtree: cannot remove 'missing': No such file or directory"
	run rmtree -f missing
	assert_success
	assert_output ""
}

@test "several DIRs: each is removed; one failing does not stop the others" {
	make_tree t1
	make_tree t2
	run rmtree t1 missing t2
	assert_failure 1
	assert_not_exist t1
	assert_not_exist t2
}

@test "odd names: newline, invalid UTF-8, leading dash, 255 bytes" {
	mkdir t
	touch t/$'new\nline' t/$'bad\xff\xfeutf8' t/-rf t/--help
	long=$(printf 'x%.0s' $(seq 255))
	mkdir "t/$long"
	touch "t/$long/$long"
	mkdir t/$'dir\nnl'
	touch t/$'dir\nnl'/$'\x01ctl'
	run rmtree -v -- t
	assert_success
	assert_not_exist t
	assert_line "removed 't/new\\nline'"
	assert_line "removed 't/bad\\xff\\xfeutf8'"
	assert_line "removed 't/dir\\nnl/\\x01ctl'"
	assert_line "removed 't/-rf'"
}

@test "a name that is a dash-leading DIR works after --" {
	mkdir -- -t
	touch -- -t/f
	run rmtree -- -t
	assert_success
	assert_not_exist -- -t
}

@test "bad options get a clear error and exit 2" {
	run rmtree --jobs=0 x
	assert_failure 2
	assert_output --partial "invalid --jobs '0'"
	run rmtree --timeout=soon x
	assert_failure 2
	assert_output --partial "invalid --timeout 'soon'"
	run rmtree --preserve-root=some x
	assert_failure 2
	run rmtree --no-such-option x
	assert_failure 2
	run rmtree
	assert_failure 2
	assert_output --partial "missing DIR operand"
}

@test "--help, --usage and --version" {
	run rmtree --help
	assert_success
	assert_output --partial "--all-or-nothing"
	run rmtree --usage
	assert_success
	assert_output --partial "Usage: rmtree"
	run rmtree --version
	assert_success
	assert_line --index 0 --regexp '^rmtree \(treeutils\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "--progress writes a progress line to a terminal's stderr and nothing to stdout" {
	mktree spread t 20 50
	on_tty sh -c 'rmtree --progress t >out'
	[ ! -s out ]
	assert_output --regexp 'removed 1021 entries'
}

@test "-j 1 and -j 8 both remove a wide tree" {
	mktree spread t1 50 20
	mktree spread t2 50 20
	run rmtree -j 1 t1
	assert_success
	run rmtree -j 8 t2
	assert_success
	assert_not_exist t1
	assert_not_exist t2
}

@test "10,000-level nesting (paths far beyond PATH_MAX) under ulimit -n 64" {
	mktree chain t 10000
	run bash -c 'ulimit -n 64 && rmtree t'
	assert_success
	assert_not_exist t
}

@test "10,000-level nesting under ulimit -n 64 with -j 4" {
	mktree chain t 10000
	run bash -c 'ulimit -n 64 && rmtree -j 4 t'
	assert_success
	assert_not_exist t
}

@test "200,000 entries in one directory, in bounded memory" {
	mktree flat t 200000
	run /usr/bin/time -f 'maxrss %M' rmtree t
	assert_success
	assert_not_exist t
	rss=$(echo "$output" | sed -n 's/^maxrss //p')
	echo "max RSS ${rss} KiB"
	[ "$rss" -lt 65536 ]
}

@test "a busy-free run with --timeout=0 still removes everything" {
	make_tree t
	run rmtree --timeout=0 t
	assert_success
	assert_not_exist t
}

@test "--null without -v or -n is pointed out" {
	make_tree t
	run rmtree -0 t
	assert_success
	assert_output --partial "--null only changes -v and -n output"
}

@test "refusals hold with -f and a missing parent (regression: 'missing/..' was ignored)" {
	run rmtree -f missing/.. missing/.
	assert_failure 1
	assert_output --partial "cannot remove 'missing/..': Invalid argument"
	assert_output --partial "cannot remove 'missing/.': Invalid argument"
}

@test "the parent of DIR is never changed: a read-only parent we own stays read-only" {
	need_root "chown to another user"
	mkdir -p own/ro/t/sub own/ro2
	touch own/ro/t/sub/f own/ro2/file
	chown -R nobody: own
	chmod 555 own/ro own/ro2
	run as_nobody rmtree own/ro/t
	assert_failure 1
	assert_output --partial "cannot remove 'own/ro/t': Permission denied"
	run stat -c %a own/ro
	assert_output 555
	# The contents went; only the directory itself is left.
	[ "$(count_entries own/ro/t)" -eq 0 ]
	run as_nobody rmtree own/ro2/file
	assert_failure 1
	run stat -c %a own/ro2
	assert_output 555
}

@test "issue 12: our own readable but unsearchable (0600) directory holding a subdirectory is made searchable and removed, as its owner" {
	need_root "chown to another user"
	mkdir own
	chown nobody: own
	run as_nobody sh -c 'mkdir -p own/a/1/2 && chmod 600 own/a/1 && rmtree own/a'
	assert_success
	assert_output ""
	assert_not_exist own/a
	# The same for DIR itself, in mode 0600 and 0400.
	for m in 600 400; do
		run as_nobody sh -c "mkdir -p own/b/1/2 && chmod $m own/b && rmtree own/b"
		assert_success
		assert_output ""
		assert_not_exist own/b
	done
}

@test "issue 12: a 0600 directory holding a subdirectory is removed as root too" {
	mkdir -p a/1/2 b/1
	chmod 600 a/1 b
	run rmtree a b
	assert_success
	assert_not_exist a
	assert_not_exist b
}

@test "issue 12: --all-or-nothing makes an unsearchable directory of ours searchable to check it, and gives its mode back when it blocks" {
	need_root "chown to another user"
	mkdir -p own/t/1/2 own/t/theirs
	touch own/t/theirs/f
	chown -R nobody: own
	chown root: own/t/theirs
	chmod 600 own/t/1
	run as_nobody rmtree --all-or-nothing own/t
	assert_failure 1
	assert_output --partial "nothing removed (1 blocker)"
	run stat -c %a own/t/1
	assert_output 600
	chown nobody: own/t/theirs
	run as_nobody rmtree --all-or-nothing own/t
	assert_success
	assert_not_exist own/t
}

@test "issue 12: rmtree -f file/x, where file is a regular file, is silent and exits 0 as rm -f" {
	echo data >file
	run rmtree -f file/x file/x/y
	assert_success
	assert_output ""
	run rmtree file/x
	assert_failure 1
	assert_output "rmtree: cannot remove 'file/x': Not a directory"
	assert_file_exists file
}

@test "issue 13: the plain run gives the same reason as --all-or-nothing (immutable, append-only)" {
	need_root chattr
	mkdir -p t/i t/a
	touch t/i/imm t/a/f
	chattr +i t/i/imm
	chattr +a t/a
	run rmtree --all-or-nothing t
	assert_failure 1
	assert_line "rmtree: cannot remove 't/i/imm': Operation not permitted (immutable)"
	assert_line "rmtree: cannot remove 't/a': Operation not permitted (append-only)"
	run rmtree t
	assert_failure 1
	assert_line "rmtree: cannot remove 't/i/imm': Operation not permitted (immutable)"
	assert_line "rmtree: cannot remove 't/a/f': Operation not permitted (in an append-only directory)"
	chattr +i file 2>/dev/null || true
	touch lone
	chattr +i lone
	run rmtree lone
	assert_failure 1
	assert_output "rmtree: cannot remove 'lone': Operation not permitted (immutable)"
	chattr -i lone
}

@test "issue 13: --all-or-nothing counts each blocker once (an immutable directory is one blocker, not two)" {
	need_root chattr
	mkdir -p t/d/e t/f
	touch t/d/y t/f/imm
	chattr +i t/d t/f/imm
	run rmtree --all-or-nothing t
	assert_failure 1
	assert_output --partial "nothing removed (2 blockers)"
	run grep -c "'t/d'" <<<"$output"
	assert_output 1
}

@test "issue 13: paths in messages are echoed as given (rmtree u/./ says 'u/./', -v u/ says 'u/')" {
	mkdir -p u/x
	touch u/x/f
	run rmtree u/./
	assert_failure 1
	assert_output "rmtree: cannot remove 'u/./': Invalid argument (refusing to remove '.' or '..')"
	run rmtree -v u/
	assert_success
	assert_line "removed 'u/x/f'"
	assert_line "removed directory 'u/x'"
	assert_line "removed directory 'u/'"
	mkdir -p v/w
	run rmtree -v ./v//
	assert_line "removed directory './v/w'"
	# A run of trailing slashes is shown as one, as rm shows it.
	assert_line "removed directory './v/'"
}

@test "issue 13: rmtree -n as non-root does not claim 'would remove' for what the real run cannot remove" {
	need_root "chown to another user"
	mkdir -p own/t/theirs own/t/mine/sub
	touch own/t/theirs/f own/t/mine/f own/t/mine/sub/g
	chown -R nobody: own
	chown root: own/t/theirs own/t/theirs/f
	run as_nobody rmtree -n own/t
	assert_failure 1
	assert_line "would remove 'own/t/mine/f'"
	assert_line "would remove 'own/t/mine/sub/g'"
	assert_line "would remove 'own/t/mine'"
	assert_line "rmtree: cannot remove 'own/t/theirs': Permission denied (no write permission on the directory)"
	refute_line "would remove 'own/t/theirs/f'"
	refute_line "would remove 'own/t/theirs'"
	refute_line "would remove 'own/t'"
	# What -n listed is exactly what the real run removes.
	as_nobody rmtree -n own/t 2>/dev/null | sed -n "s/^would remove '\(.*\)'$/\1/p" | sort >claimed
	as_nobody rmtree -v own/t 2>/dev/null | sed -n "s/^removed \(directory \)\?'\(.*\)'$/\2/p" | sort >done
	diff claimed done
}

@test "issue 13: rmtree -n does not claim an immutable entry or the directories above it" {
	need_root chattr
	mkdir -p t/a/b t/c
	touch t/a/b/imm t/c/f
	chattr +i t/a/b/imm
	run rmtree -n t
	assert_failure 1
	assert_line "rmtree: cannot remove 't/a/b/imm': Operation not permitted (immutable)"
	assert_line "would remove 't/c/f'"
	assert_line "would remove 't/c'"
	refute_line "would remove 't/a/b'"
	refute_line "would remove 't/a'"
	refute_line "would remove 't'"
	chattr -i t/a/b/imm
}

@test "issue 13: man/rmtree.1 is clean under groff -ww and mandoc -T lint" {
	local man=$BATS_TEST_DIRNAME/../../man/rmtree.1
	run groff -man -ww -z "$man"
	assert_success
	assert_output ""
	command -v mandoc >/dev/null || skip "needs mandoc"
	run mandoc -T lint "$man"
	assert_output ""
}

@test "every --help option of rmtree is in its man page" {
	local man=$BATS_TEST_DIRNAME/../../man/rmtree.1 opt
	for opt in $(rmtree --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$(sed 's/-/\\\\-/g' <<<"$opt")" "$man" || { echo "missing $opt"; false; }
	done
}
