#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# mvtree: what a user can rely on, one behaviour per test.

load ../lib/helpers
load ../lib/tty

setup() { tu_setup; }
teardown() { tu_teardown; }

make_tree() {
	mkdir -p "$1/a/b" "$1/d"
	echo 1 >"$1/a/f1"
	echo 2 >"$1/a/b/f2"
	: >"$1/d/empty"
	ln -s ../a/f1 "$1/d/link"
	chmod 750 "$1/a"
}

# A tree with what a move must keep (as root): owners, modes, ns times,
# xattrs, ACLs, hard links, symlinks, specials, odd names, a sparse file.
move_tree() {
	local t=$1
	mkdir -p "$t"/{own,xattr,acl,hl/a,hl/b,links,special,names,sparse,modes}
	echo own >"$t/own/f"
	chown 1234:5678 "$t/own/f"
	echo suid >"$t/own/suid"
	chown 1234:5678 "$t/own/suid"
	chmod 4755 "$t/own/suid"
	echo x >"$t/xattr/f"
	setfattr -n user.a -v hello "$t/xattr/f"
	setfattr -n trusted.b -v 0x00ff00 "$t/xattr/f"
	setfattr -n user.d -v dir "$t/xattr"
	echo acl >"$t/acl/f"
	# XFS shows root its on-disk form of ACLs as trusted.SGI_ACL_* xattrs,
	# which rsync -X and getfattr then list: NOACL=1 for trees bound there.
	if [ -z "${NOACL:-}" ]; then
		setfacl -m u:1234:rw,g:5678:r "$t/acl/f"
		setfacl -d -m u:1234:rx "$t/acl"
	fi
	echo 1 >"$t/hl/a/1"
	ln "$t/hl/a/1" "$t/hl/b/1"
	ln -s ../hl/a/1 "$t/links/rel"
	ln -s nowhere "$t/links/dangling"
	mkfifo "$t/special/fifo"
	mknod "$t/special/null" c 1 3
	echo n >"$t/names/"$'new\nline'
	echo u >"$t/names/"$'bad\xff\xfeutf8'
	truncate -s 8M "$t/sparse/big"
	printf 'data' | dd of="$t/sparse/big" bs=1 seek=$((4 << 20)) conv=notrunc status=none
	mktree sized "$t/data" 20 64K
	chmod 0500 "$t/modes"
	find "$t" -depth -exec touch -h -d '2001-02-03 04:05:06.123456789' {} +
}

# snapshot TREE: a faithful copy to compare the moved tree with (cp -a keeps
# the ns times of directories, symlinks and FIFOs).
snapshot() {
	cp -a --preserve=all "$1" snap
}

# in_order CMD... DIR: CMD run on every path of DIR, in sorted order (so
# trees read in different directory orders compare equal).
in_order() {
	local dir=${*: -1}
	(cd "$dir" && find . -print0 | LC_ALL=C sort -z | xargs -0 "${@:1:$#-1}" 2>/dev/null)
}

# The oracle: the moved tree equals the snapshot taken before the move:
# rsync (hard links too, with -H), and getfattr and getfacl, unless the
# second argument is "rsync" (on xfs, getfattr shows its trusted.SGI_ACL_*
# too). Not lsattr: ext4 shows its own "e" (extents) flag, which tmpfs and
# xfs have not.
assert_moved() {
	run rsync -aHAXn -i -c -@-1 --numeric-ids snap/ "$1/"
	assert_success
	assert_output ""
	[ "${2:-}" != rsync ] || return 0
	diff <(in_order getfattr -h -d -m - snap) <(in_order getfattr -h -d -m - "$1")
	diff <(in_order getfacl -P snap) <(in_order getfacl -P "$1")
}

# mount_fs TYPE DIR: a loop-mounted TYPE filesystem (320 MiB, sparse) at DIR.
mount_fs() {
	need_root mount
	command -v "mkfs.$1" >/dev/null || skip "needs mkfs.$1"
	truncate -s 320M "$S/$2.img"
	case $1 in
	ext4) mkfs.ext4 -q "$S/$2.img" ;;
	xfs) mkfs.xfs -q "$S/$2.img" ;;
	esac
	mkdir -p "$2"
	mount -o loop "$S/$2.img" "$2" || skip "cannot loop-mount $1 here"
}

# No hidden name of ours is left in DIR.
assert_no_hidden() {
	run bash -c "ls -A '$1' | grep '^\.tu-'"
	assert_failure
}

@test "same filesystem: one rename, the inode is kept, silently" {
	make_tree s
	i=$(ino s)
	run mvtree s d
	assert_success
	assert_output ""
	[ "$(ino d)" = "$i" ]
	assert_not_exist s
	[ "$(cat d/a/b/f2)" = 2 ]
}

@test "same filesystem: a file, a symlink (moved as the link) and a FIFO" {
	echo hi >f
	ln -s f l
	mkfifo p
	i=$(ino f)
	run mvtree f g
	assert_success
	[ "$(ino g)" = "$i" ]
	run mvtree l l2
	assert_success
	[ -L l2 ] && [ "$(readlink l2)" = f ]
	run mvtree p p2
	assert_success
	[ -p p2 ]
}

@test "-i for a same-filesystem rename: one *renamed line (and *exchanged), -0 too" {
	make_tree s
	run mvtree -i s d
	assert_success
	assert_output "*renamed    's' -> 'd'"
	mkdir e
	run mvtree -i --exchange d e
	assert_success
	assert_output "*exchanged  'd' <-> 'e'"
	run bash -c "mvtree -i -0 e f | tr '\\0' '|'"
	assert_output "*renamed    e -> f|"
	[ -f f/a/f1 ] && [ -d d ] && [ ! -e e ]
}

@test "an existing DEST is refused, even an empty directory: exit 2, nothing changed" {
	make_tree s
	mkdir e
	echo x >f
	run mvtree s e
	assert_failure 2
	assert_output --partial "cannot move 'e': File exists"
	assert_output --partial "never replaces or merges"
	run mvtree s f
	assert_failure 2
	[ -d s/a ] && [ -d e ] && [ "$(cat f)" = x ]
	[ -z "$(ls -A e)" ]
}

@test "--exchange swaps SOURCE and DEST atomically" {
	mkdir a b
	echo A >a/f
	echo B >b/f
	ia=$(ino a)
	run mvtree --exchange a b
	assert_success
	[ "$(cat a/f)" = B ] && [ "$(cat b/f)" = A ]
	[ "$(ino b)" = "$ia" ]
	run mvtree --exchange a missing
	assert_failure 2
	assert_output --partial "needs an existing DEST"
}

@test "refusals change nothing: into itself, SOURCE = DEST, '/', '.', '..', a missing SOURCE" {
	make_tree s
	ln s/a/f1 hard
	run mvtree s s/a/x
	assert_failure 2
	assert_output --partial "into itself"
	run mvtree s s
	assert_failure 2
	assert_output --partial "the same"
	run mvtree s/a/f1 hard
	assert_failure 2
	assert_output --partial "the same"
	run mvtree . x
	assert_failure 2
	run mvtree s/.. x
	assert_failure 2
	run mvtree / x
	assert_failure 2
	run mvtree nothing x
	assert_failure 2
	assert_output --partial "cannot stat 'nothing'"
	[ -d s/a/b ] && [ ! -e x ] && [ ! -e s/a/x ]
}

@test "a mount point as SOURCE is refused without --mounts: exit 2, nothing changed" {
	need_root mount
	mkdir mp
	mount -t tmpfs none mp
	echo x >mp/f
	run mvtree mp elsewhere
	assert_failure 2
	assert_output --partial "SOURCE is a mount point (--mounts moves its content)"
	[ -f mp/f ] && [ ! -e elsewhere ]
	assert_no_hidden .
}

@test "--mounts moves the content of a mount point SOURCE; the mount point stays, a warning, exit 0" {
	need_root mount
	mkdir mp
	mount -t tmpfs -o mode=0751 none mp
	move_tree mp
	snapshot mp
	run mvtree --mounts mp moved
	assert_success
	assert_output "mvtree: warning: cannot remove 'mp': Device or resource busy (a mount point: its content was moved, the mount stays)"
	assert_moved moved
	mountpoint -q mp
	run ls -A mp
	assert_output ""
	assert_no_hidden .
	# Across filesystems too (the mount's content into an ext4 loop).
	mount_fs ext4 e
	move_tree mp/t
	rm -rf snap && snapshot mp
	run mvtree --mounts -v mp e/moved
	assert_success
	assert_output --partial "moved (copied, verified, removed) 'mp' -> 'e/moved'"
	assert_moved e/moved
	run ls -A mp
	assert_output ""
	assert_no_hidden e
}

@test "a mounted file is refused even with --mounts" {
	need_root mount
	echo data >f
	: >target
	mount --bind f target
	run mvtree --mounts target elsewhere
	assert_failure 2
	assert_output --partial "SOURCE is a mounted file"
	[ "$(cat target)" = data ] && [ ! -e elsewhere ]
}

# nested SOURCE: SOURCE with a tmpfs mounted at SOURCE/sub/m and an ext4 loop
# at SOURCE/l, each holding files.
nested() {
	mkdir -p "$1/sub/m" "$1/l" "$1/x"
	echo top >"$1/x/f"
	mount -t tmpfs none "$1/sub/m"
	mkdir "$1/sub/m/d"
	echo inner >"$1/sub/m/d/g"
	truncate -s 64M "$S/l.img"
	mkfs.ext4 -q "$S/l.img"
	mount -o loop "$S/l.img" "$1/l" || skip "cannot loop-mount ext4 here"
	echo loop >"$1/l/h"
	mkdir "$1/l/dir"
	echo deep >"$1/l/dir/k"
}

@test "mounts below SOURCE, without --mounts: copied, left in place with their content, reported, exit 1" {
	need_root mount
	mkdir other
	mount -t tmpfs none other
	nested s
	snapshot s
	run mvtree s other/d
	assert_failure 1
	assert_output --partial "cannot remove 's/sub/m': Device or resource busy (a mount point: left in place with its content (--mounts moves it))"
	assert_output --partial "cannot remove 's/l': Device or resource busy (a mount point: left in place with its content (--mounts moves it))"
	assert_moved other/d rsync
	# Nothing of the mounts was removed; what was outside them went.
	[ "$(cat s/sub/m/d/g)" = inner ] && [ "$(cat s/l/dir/k)" = deep ]
	[ ! -e s/x ]
}

@test "mounts below SOURCE, with -x: copied as empty directories, left in place, reported, exit 1" {
	need_root mount
	mkdir other
	mount -t tmpfs none other
	nested s
	run mvtree -x --mounts s other/d
	assert_failure 1
	assert_output --partial "cannot remove 's/sub/m': Device or resource busy (a mount point, copied as an empty directory (-x): left in place with its content)"
	run ls -A other/d/sub/m
	assert_output ""
	[ "$(cat s/sub/m/d/g)" = inner ] && [ "$(cat s/l/dir/k)" = deep ]
	[ "$(cat other/d/x/f)" = top ] && [ ! -e s/x ]
}

@test "mounts below SOURCE, with --mounts: their content moved, the mount points stay (warnings), exit 0" {
	need_root mount
	mkdir other
	mount -t tmpfs none other
	nested s
	snapshot s
	run mvtree --mounts s other/d
	assert_success
	assert_output --partial "warning: cannot remove 's/sub/m': Device or resource busy (a mount point: its content was moved, the mount stays)"
	assert_output --partial "warning: cannot remove 's/l': Device or resource busy (a mount point: its content was moved, the mount stays)"
	assert_moved other/d rsync
	# What is left of SOURCE: the empty mount points and the directories
	# that hold them (ext4's lost+found was copied and removed too).
	run bash -c 'cd s && find . | LC_ALL=C sort'
	assert_output "$(printf '.\n./l\n./sub\n./sub/m')"
	mountpoint -q s/sub/m && mountpoint -q s/l
	assert_no_hidden other
}

@test "-t DIR moves each SOURCE to DIR/its name" {
	mkdir t a b
	echo x >c
	run mvtree -t t a b/ c
	assert_success
	[ -d t/a ] && [ -d t/b ] && [ -f t/c ]
	assert_not_exist a
	assert_not_exist c
}

@test "usage errors: exit 2" {
	run mvtree
	assert_failure 2
	run mvtree a
	assert_failure 2
	run mvtree a b c
	assert_failure 2
	run mvtree --reflink=sometimes a b
	assert_failure 2
}

@test "-n changes nothing and says how it would move" {
	make_tree s
	run mvtree -n s d
	assert_success
	assert_output "would rename 's' -> 'd'"
	[ -d s ] && [ ! -e d ]
}

@test "across filesystems (tmpfs to ext4): the oracle finds nothing, SOURCE is gone, nothing hidden left" {
	need_root
	mount_fs ext4 e
	move_tree s
	snapshot s
	run mvtree s e/d
	assert_success
	assert_output ""
	assert_not_exist s
	assert_moved e/d
	assert_no_hidden e
	assert_no_hidden .
}

@test "across filesystems (ext4 to tmpfs), with --verify" {
	need_root
	mount_fs ext4 e
	move_tree e/s
	snapshot e/s
	run mvtree --verify -j 2 e/s d
	assert_success
	assert_not_exist e/s
	assert_moved d
	assert_no_hidden e
}

@test "across filesystems (ext4 to xfs and back)" {
	need_root
	mount_fs ext4 e
	mount_fs xfs x
	NOACL=1 move_tree e/s
	snapshot e/s
	run mvtree e/s x/d
	assert_success
	assert_not_exist e/s
	assert_moved x/d rsync
	run mvtree x/d e/back
	assert_success
	assert_not_exist x/d
	assert_moved e/back
	assert_no_hidden e
	assert_no_hidden x
}

@test "across filesystems: a single file, a symlink and a FIFO" {
	need_root
	mount_fs ext4 e
	echo data >f
	touch -d '2001-02-03 04:05:06.5' f
	ln -s nowhere l
	mkfifo p
	run mvtree -v f e/f
	assert_success
	assert_output --partial "moved (copied, verified, removed) 'f' -> 'e/f'"
	[ "$(cat e/f)" = data ]
	[ "$(stat -c %y e/f)" = "$(date -d '2001-02-03 04:05:06.5' '+%Y-%m-%d %H:%M:%S.%N %z')" ]
	run mvtree l e/l
	assert_success
	[ -L e/l ] && [ "$(readlink e/l)" = nowhere ]
	run mvtree p e/p
	assert_success
	[ -p e/p ]
	assert_not_exist f
	assert_not_exist l
	assert_not_exist p
	assert_no_hidden e
	assert_no_hidden .
}

@test "-v, -i and -0 across filesystems" {
	need_root
	mount_fs ext4 e
	make_tree s
	run mvtree -i s e/d
	assert_success
	assert_line "cd+++++++++ '.'"
	assert_line ">f+++++++++ 'a/f1'"
	assert_line "cL+++++++++ 'd/link' -> '../a/f1'"
	make_tree s
	run mvtree -v s e/d2
	assert_success
	assert_line "copied 's/a/f1' -> 'e/d2/a/f1'"
	assert_line "removed 's/a/f1'"
	assert_line "removed directory 's'"
	make_tree s
	mvtree -v -0 s e/d3 >out
	grep -qz '^e/d3/a/f1$' out
}

@test "-n across filesystems lists what would be copied and changes nothing" {
	need_root
	mount_fs ext4 e
	make_tree s
	run mvtree -n -v s e/d
	assert_success
	assert_line "would copy 's/a/f1' -> 'e/d/a/f1'"
	assert_line "would copy and remove 's' -> 'e/d'"
	[ -f s/a/f1 ] && [ ! -e e/d ]
	assert_no_hidden e
}

@test "--exchange across filesystems is refused" {
	need_root
	mount_fs ext4 e
	mkdir a e/b
	run mvtree --exchange a e/b
	assert_failure 2
	assert_output --partial "different filesystems"
	[ -d a ] && [ -d e/b ]
}

@test "--progress shows bytes and entries" {
	need_root
	mount_fs ext4 e
	mktree sized s 4 1M
	on_tty mvtree --progress s e/d
	assert_success
	assert_output --partial "copied"
}

@test "a rerun after an unfinished copy removes it and moves" {
	need_root
	mount_fs ext4 e
	make_tree s
	key=$(printf '.tu-mv-%016x%016x' "$(stat -c %d s)" "$(ino s)")
	mkdir -p "e/$key/half"
	echo partial >"e/$key/half/file"
	run mvtree s e/d
	assert_success
	assert_not_exist s
	[ "$(cat e/d/a/b/f2)" = 2 ]
	assert_no_hidden e
}

@test "something else under our hidden name is never removed: refused, nothing moved" {
	need_root
	mount_fs ext4 e
	make_tree s
	key=$(printf '.tu-mv-%016x%016x' "$(stat -c %d s)" "$(ino s)")
	mkdir "e/$key"
	echo theirs >"e/$key/file"
	chown -R 65534:65534 "e/$key"
	run mvtree s e/d
	assert_failure 2
	assert_output --partial "is not ours; nothing moved"
	[ "$(cat "e/$key/file")" = theirs ]
	[ -f s/a/f1 ] && [ ! -e e/d ]
}

@test "--help options are in the man page" {
	local top
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	for o in $(mvtree --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
		grep -qF -- "${o//-/\\-}" "$top/man/mvtree.1" || { echo "missing $o"; return 1; }
	done
	grep -q '^\.SH "CRASH SAFETY"' "$top/man/mvtree.1"
	grep -q '^\.SH "SECURITY"' "$top/man/mvtree.1"
}
