#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree --clone-from=BASE: a new DEST equal to SOURCE, sharing storage with
# BASE wherever an entry is unchanged; checked against rsync --link-dest,
# and BASE against a snapshot of itself.

load ../lib/helpers
load ../lib/cptree
load ../lib/mutate

setup() { tu_setup; }
teardown() { tu_teardown; }

# The paths below DEST (non-directories) whose inode is one of BASE's, one
# a line, sorted.
shared_with() {
	python3 - "$1" "$2" <<'EOF'
import os, stat, sys
dest, base = sys.argv[1], sys.argv[2]
inodes = set()
for root, dirs, files in os.walk(base):
    if root == base and "deep" in dirs:
        dirs.remove("deep")
    for n in dirs + files:
        st = os.lstat(os.path.join(root, n))
        if not stat.S_ISDIR(st.st_mode):
            inodes.add((st.st_dev, st.st_ino))
out = []
for root, dirs, files in os.walk(dest):
    if root == dest and "deep" in dirs:
        dirs.remove("deep")	# beyond PATH_MAX (rich_tree)
    for n in dirs + files:
        p = os.path.join(root, n)
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) in inodes:
            out.append(repr(os.path.relpath(p, dest)))
print("\n".join(sorted(out)))
EOF
}

# DEST (ours) shares with BASE what DEST2 (rsync --link-dest) shares, but
# where rsync links one BASE inode for two SOURCE inodes, which merges
# SOURCE's hard-link groups (rsync -H with --link-dest gets that wrong), or
# where only chattr flags changed, which rsync does not see:
# there ours shares it for one of them at most (whichever reaches it first),
# and copies the rest.
same_sharing() {
	python3 - "$@" <<'EOF'
import collections, os, stat, sys
src, dest, dest2, base = sys.argv[1:5]
def names(top):
    m = {}
    for root, dirs, files in os.walk(top):
        if root == top and "deep" in dirs:
            dirs.remove("deep")	# beyond PATH_MAX (rich_tree)
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if not stat.S_ISDIR(st.st_mode):
                m[os.path.relpath(p, top)] = (st.st_dev, st.st_ino)
    return m
b = set(names(base).values())
s, d, d2 = names(src), names(dest), names(dest2)
ours = {p for p, i in d.items() if i in b}
theirs = {p for p, i in d2.items() if i in b}
srcs = collections.defaultdict(set)
for p in theirs:
    srcs[d2[p]].add(s[p])
merged = {p for p in theirs if len(srcs[d2[p]]) > 1}
# A BASE inode of several names that ours linked for another SOURCE inode
# (the first to reach it) serves this one no more.
claimed = {}
for p in ours:
    claimed.setdefault(d[p], set()).add(s[p])
merged |= {p for p in theirs if d2[p] in claimed and s[p] not in claimed[d2[p]]}
# A hard-link group of SOURCE is shared through the first of its names that
# ours reaches (walk order) and rsync's first in its own order: a group
# whose first name has no counterpart in BASE is copied whole by ours (or
# by rsync).
nnames = collections.Counter(s.values())
ours_src = {s[p] for p in ours}
merged |= {p for p in theirs if nnames[s[p]] > 1 and s[p] not in ours_src}
# rsync compares no chattr flags: a file whose flags changed is linked by
# rsync (its copy losing them), copied by ours.
def flags(path):
    import array, fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        a = array.array("i", [0])
        fcntl.ioctl(fd, 0x80086601, a, True)
        return a[0] & 0x2003c0ff
    except OSError:
        return 0
    finally:
        os.close(fd)
merged |= {p for p in theirs if flags(os.path.join(src, p)) != flags(os.path.join(base, p))}
theirs_src = {s[p] for p in theirs}
bad = 0
for p in sorted(ours - theirs):
    if nnames[s[p]] > 1 and s[p] not in theirs_src:
        continue	# the other way round: rsync copied that group whole
    print("shared by us only:", repr(p)); bad = 1
for p in sorted(theirs - ours - merged):
    print("shared by rsync only:", repr(p)); bad = 1
for i in set(d[p] for p in ours):
    if len({s[p] for p in ours if d[p] == i}) > 1:
        print("one BASE inode for two SOURCE inodes:", sorted(p for p in ours if d[p] == i)); bad = 1
sys.exit(bad)
EOF
}

# Everything of BASE that a clone must leave alone, one line an entry of the
# list LIST (NUL-separated paths, made once: listing a directory moves its
# atime, so a snapshot reads no directory): its path, then "dev ino" and
# its link count and ctime (ns), then its type, mode, owner, size, mtime and
# atime (ns), content digest (read O_NOATIME), xattrs and ACLs. A symlink's
# atime is left out: reading its target moves it, whoever reads it (this
# snapshot too).
snapshot() {
	python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
def facts(p):
    st = os.lstat(p)
    f = [oct(st.st_mode), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns]
    if not stat.S_ISLNK(st.st_mode):
        f.append(st.st_atime_ns)
    if stat.S_ISREG(st.st_mode):
        fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
        h = hashlib.md5()
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
        os.close(fd)
        f.append(h.hexdigest())
    elif stat.S_ISLNK(st.st_mode):
        f.append(os.readlink(p))
    for x in sorted(os.listxattr(p, follow_symlinks=False)):
        f.append("%s=%r" % (x, os.getxattr(p, x, follow_symlinks=False)))
    return "%r\t%d %d\t%d %d\t%s" % (p, st.st_dev, st.st_ino, st.st_nlink, st.st_ctime_ns,
                                       " ".join(map(str, f)))
paths = [p for p in open(sys.argv[1], "rb").read().decode("utf-8", "surrogateescape").split("\0") if p]
print("\n".join(sorted(facts(p) for p in paths)))
EOF
}

# Two snapshots of BASE are equal, but for the link count and ctime of the
# inodes listed in LINKED ("dev ino" lines, one per link DEST made), which
# a hard link moves: the count by exactly the links made.
same_snapshot() {
	python3 - "$1" "$2" "$3" <<'EOF'
import collections, sys
before, after, linked = sys.argv[1:4]
made = collections.Counter(l.strip() for l in open(linked) if l.strip())
def load(p):
    return [l.rstrip("\n").split("\t") for l in open(p) if l.strip()]
b, a = load(before), load(after)
bad = 0
if [x[0] for x in b] != [x[0] for x in a]:
    print("entries differ"); sys.exit(1)
for x, y in zip(b, a):
    if x[1] != y[1] or x[3] != y[3]:
        print("changed:", x, y); bad = 1
    elif x[1] in made:
        if int(y[2].split()[0]) != int(x[2].split()[0]) + made[x[1]]:
            print("link count:", x, y, made[x[1]]); bad = 1
    elif x[2] != y[2]:
        print("link count or ctime changed:", x, y); bad = 1
sys.exit(bad)
EOF
}

# "dev ino" of every inode DEST shares with BASE.
shared_inodes() {
	python3 - "$1" "$2" <<'EOF'
import os, stat, sys
def inodes(top):
    s = set()
    for root, dirs, files in os.walk(top):
        for n in files + dirs:
            st = os.lstat(os.path.join(root, n))
            if not stat.S_ISDIR(st.st_mode):
                s.add((st.st_dev, st.st_ino))
    return s
for d, i in sorted(inodes(sys.argv[1]) & inodes(sys.argv[2])):
    print(d, i)
EOF
}

# Age every atime of TREE (so a read would move it even under relatime).
age_atimes() {
	find "$1" -exec touch -h -a -d '3 days ago' {} +
}

@test "--clone-from: DEST equals SOURCE and shares with BASE what rsync --link-dest shares, but where rsync breaks hard links or flags (seeded rounds)" {
	local seed k kinds=()
	for k in "${MUTATE_KINDS[@]}"; do
		[ "$k" = modify_restored ] || kinds+=("$k")
	done
	for seed in 11 12 13 14 15 16; do
		chattr -R -i -a . 2>/dev/null || true
		rm -rf s b d d2
		mutate_init s "$seed"
		run cptree -a s b
		assert_success
		# Not modify_restored: content changed under the same size and
		# mtime is unchanged to a quick check, ours and rsync's alike.
		mutate_round s $((seed * 7)) 14 "${kinds[@]}"
		run cptree -a --clone-from=b s d
		assert_success
		assert_output ""
		run trees_equal s d
		assert_success
		rsync -aHAX --numeric-ids --link-dest="$S/b" s/ d2/ 2>/dev/null || true
		[ -n "$(shared_with d b)" ]
		run same_sharing s d d2 b
		assert_success
	done
}

@test "--clone-from on the rich tree: SOURCE's metadata kept, changed entries copied, the unchanged shared" {
	need_root "chown, chattr, mknod"
	rich_tree s
	chattr -R -i -a s 2>/dev/null || true
	run cptree -a s b
	assert_success
	echo changed >>s/hl/a/3
	touch -d '2 days ago' s/xattr/f
	chmod 600 s/acl/f
	setfattr -n user.new -v 1 s/own/f
	echo new >s/new
	run cptree -a --clone-from=b s d
	assert_success
	assert_same_tree s d
	rsync -aHAX --numeric-ids --exclude=/deep --link-dest="$S/b" s/ d2/ 2>/dev/null || true
	run same_sharing s d d2 b
	assert_success
	run shared_with d b
	assert_line "'modes/f0644'"
	assert_line "'hl/a/1'"
	refute_line "'hl/a/3'"
	refute_line "'xattr/f'"
	refute_line "'acl/f'"
	refute_line "'own/f'"
	refute_line "'new'"
}

@test "BASE is left byte for byte as it was, atimes and ctimes too, but for the links DEST made" {
	need_root "O_NOATIME on every file"
	mutate_init s 21
	cptree -a s b
	mutate_round s 22 10 modify touch chmod create delete xattr
	find b -print0 >list
	age_atimes b
	snapshot list >before
	run cptree -a --clone-from=b s d
	assert_success
	snapshot list >after
	# One line per DEST name that links to a BASE inode: the links made.
	(cd d && find . ! -type d -printf '%D %i\n') | sort >dest.inodes
	shared_inodes d b >both
	grep -Fxf both dest.inodes >linked
	[ -s linked ]
	run same_snapshot before after linked
	assert_success
	# No entry came or went.
	cmp list <(find b -print0)
}

# clone_on_loop FS: SOURCE and BASE on a loop-mounted FS at m/, BASE a copy
# of SOURCE, then one file changed.
clone_on_loop() {
	need_root mount
	truncate -s 300M "$S/fs.img"
	case $1 in
	xfs) mkfs.xfs -q -m reflink=1 "$S/fs.img" ;;
	btrfs) mkfs.btrfs -q "$S/fs.img" >/dev/null ;;
	esac
	mkdir m
	mount -o loop "$S/fs.img" m
	mkdir -p m/s/sub
	head -c 200000 /dev/urandom >m/s/big
	head -c 300000 /dev/urandom >m/s/sub/big2
	echo small >m/s/changed
	ln -s big m/s/link
	: >m/s/empty
	cptree -a m/s m/b
	echo more >>m/s/changed
	run cptree -a --clone-from=m/b m/s m/d
	assert_success
	assert_same_tree m/s m/d
	# No inode is shared; the unchanged files' extents are.
	[ -z "$(shared_with m/d m/b)" ]
	filefrag -v m/d/big | grep -q shared
	filefrag -v m/d/sub/big2 | grep -q shared
	# (The changed file is a copy of SOURCE's, itself reflinked from it.)
	cmp m/s/changed m/d/changed
}

@test "--clone-from on xfs shares extents by reflink: new inodes with their own metadata" {
	clone_on_loop xfs
}

@test "--clone-from on btrfs shares extents by reflink: new inodes with their own metadata" {
	clone_on_loop btrfs
}

@test "EMLINK (ext4's 65,000 links) falls back to a copy, silently" {
	need_root mount
	truncate -s 64M "$S/ext4.img"
	mkfs.ext4 -q -N 4096 "$S/ext4.img"
	mkdir m
	mount -o loop "$S/ext4.img" m
	mkdir -p m/s m/b/many
	echo full >m/s/full
	echo fine >m/s/fine
	cptree -a m/s m/b/snap
	# BASE's copy of 'full' one link short of the limit.
	python3 -c 'import os, sys
for i in range(64998):
    os.link(sys.argv[1], "%s/%d" % (sys.argv[2], i))' m/b/snap/full m/b/many
	[ "$(stat -c %h m/b/snap/full)" = 64999 ]
	run cptree -a --clone-from=m/b/snap m/s m/d1
	assert_success
	assert_output ""
	[ "$(stat -c %h m/b/snap/full)" = 65000 ]
	run cptree -a --clone-from=m/b/snap m/s m/d2
	assert_success
	assert_output ""
	assert_same_tree m/s m/d2
	[ "$(ino m/d2/full)" != "$(ino m/b/snap/full)" ]
	[ "$(ino m/d2/fine)" = "$(ino m/b/snap/fine)" ]
}

@test "hard links inside SOURCE stay hard links in DEST, shared with BASE or not" {
	mkdir s
	echo 1 >s/a
	ln s/a s/b
	echo 2 >s/c
	ln s/c s/e
	cptree -a s b
	echo 3 >s/new
	ln s/new s/new2
	run cptree -a --clone-from=b s d
	assert_success
	[ "$(ino d/a)" = "$(ino b/a)" ] && [ "$(ino d/b)" = "$(ino b/a)" ]
	[ "$(ino d/c)" = "$(ino d/e)" ] && [ "$(ino d/c)" = "$(ino b/c)" ]
	[ "$(ino d/new)" = "$(ino d/new2)" ]
	assert_same_tree s d
}

@test "several --clone-from: the first BASE that has the entry unchanged wins" {
	mkdir s
	echo a >s/a
	echo b >s/b
	cptree -a s b2
	cptree -a s b1
	echo changed >>b1/a
	touch -r s/a b1/a
	rm b1/b
	cptree -a s b3
	run cptree -a --clone-from=b1 --clone-from=b2 --clone-from=b3 s d
	assert_success
	# b1's 'a' differs in size; b1 has no 'b': both from b2, not b3.
	[ "$(ino d/a)" = "$(ino b2/a)" ]
	[ "$(ino d/b)" = "$(ino b2/b)" ]
	cmp s/a d/a
}

@test "--clone-from refuses what it cannot do, before anything is written" {
	mkdir s b
	args=()
	for i in $(seq 21); do args+=(--clone-from=b); done
	run cptree -a "${args[@]}" s d
	assert_failure 2
	assert_output --partial "at most 20"
	run cptree -a -n --clone-from=b s d
	assert_failure 2
	run cptree --link=hard --clone-from=b s d
	assert_failure 2
	run cptree -a -L --clone-from=b s d
	assert_failure 2
	run cptree -a --clone-from=nowhere s d
	assert_failure 2
	assert_output --partial "nowhere"
	assert_not_exist d
	[ -z "$(ls -A . | grep '^\.tu-')" ]
}

@test "kill -9 during --clone-from: no DEST until it is complete; a rerun removes the leftover and finishes" {
	mkdir s
	mktree sized s 3000 4K
	cptree -a s b
	touch s/f0000001
	local i hidden
	for i in 1 2 3; do
		cptree -a -j 2 --clone-from=b s d &
		local pid=$!
		sleep 0.0$((RANDOM % 9 + 1))
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		if [ -e d ]; then
			assert_same_tree s d	# it finished before the kill: whole
			rm -rf d
		fi
	done
	# An interrupted run's hidden tree, made on purpose if none is left.
	hidden=$(ls -A | grep '^\.tu-' || true)
	run cptree -a --clone-from=b s d
	assert_success
	assert_same_tree s d
	[ -z "$(ls -A | grep '^\.tu-')" ]
}

@test "a rerun leaves alone a hidden tree another run is building, and one not ours" {
	mkdir s
	echo x >s/f
	cptree -a s b
	cptree -a --clone-from=b s d
	local name
	name=$(strace -f -e trace=mkdirat -o trace cptree -a --clone-from=b s d2 >/dev/null; grep -o '"\.tu-[0-9a-f]*"' trace | head -1 | tr -d '"')
	[ -n "$name" ]
	mkdir "$name"
	flock "$name" sleep 3 &
	sleep 0.3
	run cptree -a --clone-from=b s d2x
	assert_success	# another DEST name: another hidden name
	rm -rf d2
	run cptree -a --clone-from=b s d2
	assert_failure 2
	assert_output --partial "another cptree --clone-from is building"
	assert_dir_exists "$name"
	wait
	run cptree -a --clone-from=b s d2
	assert_success
	assert_output --partial "removed the unfinished clone"
	need_root "a directory owned by another user"
	mkdir "$name"
	chown 65534 "$name"
	rm -rf d2
	run cptree -a --clone-from=b s d2
	assert_failure 2
	assert_output --partial "not an unfinished clone of ours"
	assert_dir_exists "$name"
}
