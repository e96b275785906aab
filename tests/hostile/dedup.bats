#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# dedup on several filesystems and under attack: two loop-mounted ext4
# filesystems, a mount inside a DIR, reflinks on btrfs and xfs loop mounts,
# ext4 without reflinks, kill -9 during a large run, a file saved by rename
# in the replace window, --ignore-owner against another user's copy.
# The loop mounts need root; each test skips with its reason otherwise.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# mount_img FSTYPE SIZE DIR: a fresh filesystem in an image file, mounted.
mount_img() {
	local type=$1 size=$2 dir=$3 img=$S/$3.img
	need_root "loop mounts"
	command -v "mkfs.$type" >/dev/null || skip "needs mkfs.$type"
	truncate -s "$size" "$img"
	case $type in
	ext4) mkfs.ext4 -q "$img" 2>/dev/null ;;
	btrfs) mkfs.btrfs -q "$img" >/dev/null 2>&1 ;;
	xfs) mkfs.xfs -q "$img" >/dev/null 2>&1 ;;
	esac || skip "mkfs.$type failed"
	mkdir -p "$dir"
	mount -o loop "$img" "$dir" 2>/dev/null || skip "cannot loop-mount $type here"
}

@test "vfat (no user xattrs): hash records go to .spookyhashes, and a second run reuses them" {
	need_fusefat
	mount_vfat m
	mkdir m/d
	# Same size, same first 8 KiB: only whole hashes tell them apart.
	head -c 8192 /dev/urandom >head
	for f in p q; do
		{ cat head; head -c 20000 /dev/urandom; } >"m/d/$f"
	done
	touch -d '2001-01-01' m/d/p m/d/q	# not racy, whatever FAT's 2-second stamps
	run dedup -v m
	assert_success
	[ "$(counter hashed)" -eq 2 ]
	refute_output --partial "warning:"
	run head -n 1 m/d/.spookyhashes
	assert_output "spookyhashes 1"
	run dedup -v m
	assert_success
	[ "$(counter hashed)" -eq 0 ]
	[ "$(counter 'first blocks read')" -eq 0 ]
	[ "$(counter cached)" -eq 2 ]
}

# Shared extents of FILE, as filefrag -v sees them.
shared_extents() { filefrag -v "$1" | grep -c shared || true; }

@test "two filesystems (loop mounts): identical files are never linked across them" {
	mount_img ext4 16M m1
	mount_img ext4 16M m2
	head -c 20000 /dev/urandom >m1/a
	cp -p m1/a m1/b
	cp -p m1/a m2/a
	cp -p m1/a m2/b
	run dedup -v m1 m2
	assert_success
	assert_output --partial "groups 2, files linked 2"
	[ "$(ino m1/a)" = "$(ino m1/b)" ]
	[ "$(ino m2/a)" = "$(ino m2/b)" ]
	[ "$(stat -c %h m1/a)" = 2 ] && [ "$(stat -c %h m2/a)" = 2 ]
}

@test "a mount inside a DIR: its files are not linked to the outside; -x does not enter it" {
	mkdir t
	mount_img ext4 16M t/mnt
	head -c 20000 /dev/urandom >t/a
	cp -p t/a t/mnt/a
	cp -p t/a t/mnt/b
	run dedup -x -v t
	assert_success
	assert_output --partial "files linked 0"
	[ "$(stat -c %h t/mnt/a)" = 1 ]
	run dedup -v t
	assert_success
	assert_output --partial "groups 1, files linked 1"
	[ "$(ino t/mnt/a)" = "$(ino t/mnt/b)" ]
	[ "$(stat -c %h t/a)" = 1 ]
}

reflink_test() {
	local type=$1
	mount_img "$type" 320M m
	command -v filefrag >/dev/null || skip "needs filefrag (e2fsprogs)"
	head -c 3000000 /dev/urandom >m/a
	cp --reflink=never -p m/a m/b
	cp --reflink=never -p m/a m/c
	chmod 600 m/c		# metadata need not match for shared extents
	setfattr -n user.mine -v c m/c
	sync
	[ "$(shared_extents m/a)" -eq 0 ]
	before=$(stat -c '%n %i %a %h' m/a m/b m/c)
	# -n probes the filesystem (a zero-length FIDEDUPERANGE), which
	# changes nothing, not even ctime.
	times=$(stat -c '%Z.%z %Y.%y' m/a m/b m/c)
	run dedup -n --reflink=auto -v m
	assert_success
	assert_line --partial "would reflink 'm/b' =>"
	refute_output --partial "warning:"
	[ "$(stat -c '%Z.%z %Y.%y' m/a m/b m/c)" = "$times" ]
	sync
	[ "$(shared_extents m/b)" -eq 0 ]
	run dedup --reflink -v m
	assert_success
	assert_line --partial "reflinked 'm/b' =>"
	assert_output --partial "files reflinked 2"
	sync
	[ "$(shared_extents m/b)" -gt 0 ]
	[ "$(shared_extents m/c)" -gt 0 ]
	# Names, inodes, modes and link counts stay as they were.
	[ "$(stat -c '%n %i %a %h' m/a m/b m/c)" = "$before" ]
	cmp m/a m/b && cmp m/a m/c
	run getfattr --absolute-names -n user.mine m/c
	assert_success
}

@test "--reflink on btrfs: extents shared; names, inodes and metadata unchanged" {
	reflink_test btrfs
}

@test "--reflink on xfs: extents shared; names, inodes and metadata unchanged" {
	reflink_test xfs
}

@test "--reflink on ext4: EOPNOTSUPP reported once, exit 1, nothing changed; --reflink=auto falls back to hard links and says so once; -n says the same" {
	mount_img ext4 16M m
	head -c 20000 /dev/urandom >m/a
	for f in b c d; do cp -p m/a "m/$f"; done
	head -c 20000 /dev/urandom >m/x
	cp -p m/x m/y
	run dedup --reflink m
	[ "$status" -eq 1 ]
	[ "$(grep -c 'cannot reflink' <<<"$output")" -eq 1 ]
	assert_output --partial "Operation not supported (the filesystem cannot share extents"
	[ "$(stat -c %h m/a)" = 1 ]
	[ "$(stat -c %h m/x)" = 1 ]
	# -n probes the filesystem and says what a real run would do.
	times=$(stat -c '%Z.%z' m/a m/b m/x)
	run dedup -n -v --reflink=auto m
	assert_success
	[ "$(grep -c 'warning: cannot reflink' <<<"$output")" -eq 1 ]
	assert_line --partial "would link 'm/b' => 'm/a'"
	refute_output --partial "would reflink"
	assert_output --partial "files to link 4"
	run dedup -n --reflink m
	[ "$status" -eq 1 ]
	assert_output --partial "the filesystem cannot share extents"
	[ "$(stat -c '%Z.%z' m/a m/b m/x)" = "$times" ]
	[ "$(stat -c %h m/a)" = 1 ]
	run dedup --reflink=auto m
	assert_success
	[ "$(grep -c 'warning: cannot reflink' <<<"$output")" -eq 1 ]
	assert_output --partial "hard links are used instead"
	assert_output --partial "files linked 4"
	[ "$(stat -c %h m/a)" = 4 ]
	[ "$(stat -c %h m/x)" = 2 ]
}

@test "kill -9 at random moments: every path keeps its content; the next run cleans up" {
	need_root "a private tmpfs keeps this quick"
	mkdir t
	python3 - t <<'PY'
import os, random, sys
random.seed(9)
root = sys.argv[1]
for d in range(20):
    os.mkdir(os.path.join(root, f"d{d}"))
blobs = [os.urandom(random.choice([100, 5000, 70000])) for _ in range(150)]
for i in range(3000):
    with open(os.path.join(root, f"d{i % 20}", f"f{i}"), "wb") as f:
        f.write(random.choice(blobs))
PY
	touch -d '2001-01-01' t/d*/f*
	(cd t && find . -type f -exec md5sum {} + | sort -k2) >sums
	cp -a t master
	local i killed=0 rc
	for i in 1 2 3 4 5 6; do
		# From the start each time, so that each kill lands mid-run.
		rm -rf t
		cp -a master t
		dedup -j2 t >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		[ "$rc" -ne 137 ] || killed=$((killed + 1))
		# Every original path, with its content (temporary names
		# aside).
		run bash -c "cd t && find . -type f ! -name '.tu-*' -exec md5sum {} + | sort -k2"
		[ "$output" = "$(cat sums)" ]
	done
	# The oracle: the runs were really interrupted.
	[ "$killed" -ge 1 ]
	run dedup -v t
	assert_success
	run find t -name '.tu-*'
	assert_output ""
	run bash -c "cd t && find . -type f -exec md5sum {} + | sort -k2"
	[ "$output" = "$(cat sums)" ]
	# Everything identical now shares one inode per content.
	[ "$(find t -type f -printf '%i\n' | sort -u | wc -l)" -le 150 ]
}

@test "a full disk: the links are made, the records that cannot be stored are reported (exit 1), the old .spookyhashes stays whole" {
	small_tmpfs_with_sidecar full
	# Two new copies; the second has a link outside the DIR, so linking it
	# frees no space for the new records.
	head -c 30000 /dev/urandom >full/d/new1
	cp -p full/d/new1 full/d/new2
	ln full/d/new2 full/elsewhere
	touch -m -d '1 minute ago' full/d/new1 full/d/new2
	dd if=/dev/zero of=full/filler bs=4k status=none 2>/dev/null || true
	run dedup -v --keep=first --store=file full/d
	[ "$status" -eq 1 ]
	assert_output --partial "files linked 1"
	assert_output --partial "cannot store hashes in 'full/d': No space left on device"
	[ "$(ino full/d/new1)" = "$(ino full/d/new2)" ]
	cmp full/d/new1 full/elsewhere
	cmp before full/d/.spookyhashes
	run find full -name '.tu-*'
	assert_output ""
	umount full
}

@test "ext4 with a cold cache: the data is asked for ahead, and the groups are those of a warm run and of tmpfs" {
	command -v strace >/dev/null || skip "needs strace"
	mount_img ext4 64M m
	mkdir m/t m/t/d1 m/t/d2
	# Copies, near-duplicates with one middle byte changed (same prefix),
	# and same-size files that differ at once; small and large.
	local size f
	for size in 3000 9000 70000 300000; do
		head -c "$size" /dev/urandom >"m/t/d1/a$size"
		cp -p "m/t/d1/a$size" "m/t/d2/a$size"
		cp -p "m/t/d1/a$size" "m/t/d2/b$size"
		cp -p "m/t/d1/a$size" "m/t/d1/n$size"
		dd if="m/t/d1/a$size" bs=1 skip=$((size / 2)) count=1 status=none |
			tr '\000-\377' '\001-\377\000' |
			dd of="m/t/d1/n$size" bs=1 seek=$((size / 2)) conv=notrunc status=none
		head -c "$size" /dev/urandom >"m/t/d2/r$size"
	done
	# Never to be read, so never asked for: a size of its own, and a
	# copy with another mtime.
	head -c 12345 /dev/urandom >m/t/d1/alone
	touch -d '2001-01-01' m/t/d*/*
	cp m/t/d1/a9000 m/t/d2/othertime
	cp -a m/t tmp
	run dedup --list tmp
	assert_success
	expected=$(sed "s|^tmp/|m/t/|" <<<"$output")
	[ "$(grep -c "^m/t/" <<<"$expected")" -eq 12 ]	# 4 groups of 3
	# Cold: a fresh mount has nothing of the files cached.
	umount m
	mount -o loop "$S/m.img" m
	ASAN_OPTIONS=detect_leaks=0 strace -f -y -qq -o log -e trace=openat2,preadv2,fadvise64 dedup --list m/t >out
	assert_equal "$(cat out)" "$expected"
	grep -q 'preadv2(.*EAGAIN' log
	grep -q 'fadvise64(.*POSIX_FADV_WILLNEED' log
	run grep -E 'alone|othertime' log
	assert_output ""
	# Warm: the prefixes come from the cache at once.
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log -e trace=preadv2,fadvise64 dedup --list m/t >out
	assert_equal "$(cat out)" "$expected"
	run grep -c 'fadvise64(' log
	assert_output 0
}

# issue 12, hole 1: dedup replaced a name with a plain rename after checking
# it, so a file saved by rename onto the name in between (as editors save)
# was destroyed. Now the names are exchanged and what came out is checked.
# The shim widens that instant to 50 ms; the writer sees our temporary link
# appear in a directory and at once saves a new version of the directory's
# one file, by rename, as an editor does.
@test "replace window: every file saved by rename during dedup survives, and every path holds its old content or a save" {
	build_shim slow_replace.c
	mkdir t
	head -c 3000 /dev/urandom >orig
	local d
	for d in $(seq -w 0 39); do
		mkdir "t/d$d"
		cp orig "t/d$d/f"
	done
	touch -d '2001-01-01' t/d*/f
	python3 - t "$S/saved" "$S/stop" <<'PY' &
import os, sys, time
root, out, stop = sys.argv[1:4]
dirs = sorted(os.path.join(root, d) for d in os.listdir(root))
saved, t0 = set(), time.time()
open(stop + ".ready", "w").close()
while not os.path.exists(stop) and time.time() - t0 < 30:
    for d in dirs:
        if d in saved or not any(n.startswith(".tu-") for n in os.listdir(d)):
            continue
        p = os.path.join(d, "f")
        with open(p + ".save", "w") as f:
            f.write(f"the user's save of {p}\n")
        os.rename(p + ".save", p)
        saved.add(d)
with open(out, "w") as f:
    f.write("".join(d + "\n" for d in sorted(saved)))
PY
	local wpid=$! n=0
	while [ ! -e "$S/stop.ready" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
	LD_PRELOAD=$SHIM TU_SLOW_US=50000 run dedup -j1 t
	touch "$S/stop"
	wait "$wpid"
	# The writer really raced: it saw our temporary links and saved.
	[ "$(wc -l <"$S/saved")" -ge 10 ]
	run python3 - t "$S/saved" orig <<'PY'
import os, sys
root, savedf, orig = sys.argv[1:4]
want = open(orig, "rb").read()
saved = {l.rstrip("\n") for l in open(savedf)}
bad = 0
for d in sorted(os.listdir(root)):
    d = os.path.join(root, d)
    p = os.path.join(d, "f")
    got = open(p, "rb").read()
    exp = f"the user's save of {p}\n".encode() if d in saved else want
    if got != exp:
        bad += 1
        print(f"{p}: {got[:30]!r} instead of {exp[:30]!r}")
print(f"saves lost: {bad} of {len(saved)}")
sys.exit(1 if bad else 0)
PY
	assert_success
	assert_output --partial "saves lost: 0 of"
	run find t -name '.tu-*'
	assert_output ""
}

# issue 12, hole 2: with --ignore-owner the "most linked" copy was kept, so a
# user's copy of a root file, with extra links, became the inode behind
# root's name, and the user could rewrite it.
@test "--ignore-owner as root: another user's copy with more links is never kept for root's name; other users' copies are not linked together" {
	need_root "files owned by another user"
	mkdir t
	head -c 5000 /dev/urandom >t/rootfile
	chmod 644 t/rootfile
	cp -p t/rootfile t/theirs
	chown nobody: t/theirs
	ln t/theirs t/theirs2
	ln t/theirs t/theirs3
	run dedup --ignore-owner -v t
	assert_success
	[ "$(stat -c %u t/rootfile)" = 0 ]
	[ "$(ino t/theirs)" = "$(ino t/rootfile)" ]
	# No root file: each user's copies among themselves only.
	mkdir u
	head -c 5000 /dev/urandom >u/a1
	for f in a2 b1 b2; do cp -p u/a1 "u/$f"; done
	chown nobody: u/a1 u/a2
	chown daemon: u/b1 u/b2
	run dedup --ignore-owner -v u
	assert_success
	assert_output --partial "files linked 2"
	[ "$(ino u/a1)" = "$(ino u/a2)" ] && [ "$(ino u/b1)" = "$(ino u/b2)" ]
	[ "$(ino u/a1)" != "$(ino u/b1)" ]
	[ "$(stat -c %U u/a2)" = nobody ] && [ "$(stat -c %U u/b1)" = daemon ]
}

@test "--reflink on btrfs, run twice: the second run finds the extents already shared and reports nothing (FIEMAP), real or -n" {
	mount_img btrfs 320M m
	head -c 3000000 /dev/urandom >m/a
	cp --reflink=never -p m/a m/b
	cp --reflink=never -p m/a m/c
	run dedup --reflink -v m
	assert_success
	assert_output --partial "files reflinked 2"
	sync
	run dedup --reflink -v m
	assert_success
	refute_output --partial "reflinked 'm/"
	assert_output --partial "groups 0, files linked 0, bytes freed 0 (0 B), files reflinked 0"
	run dedup -n --reflink -v m
	assert_success
	refute_output --partial "would reflink"
	# A file rewritten since shares nothing any more: reflinked again.
	cp --reflink=never -p m/a m/b.new
	mv m/b.new m/b
	run dedup --reflink -v m
	assert_success
	assert_output --partial "files reflinked 1"
	cmp m/a m/b && cmp m/a m/c
}
