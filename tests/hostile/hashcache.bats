#!/usr/bin/env bats
# hashcache on odd filesystems and under attack: FAT with 2-second stamps
# and no xattrs, ramfs without user xattrs, seconds-only ext4, read-only
# mounts, a full disk, a symlink-swapping attacker, kill -9, deep trees.
# Most need root (mounts); each skips with its reason otherwise.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

@test "vfat (no user xattrs, 2-second stamps): the sidecar is used automatically" {
	need_fusefat
	mount_vfat m
	mkdir m/d
	for i in 1 2 3; do echo "file $i" >"m/d/f$i"; done
	sleep 2.2	# older than FAT's 2-second granularity
	run hashcache -v m
	assert_success
	[ "$(counter hashed)" -eq 3 ]
	[ "$(counter stored)" -eq 3 ]
	run head -n 1 m/d/.spookyhashes
	assert_output "spookyhashes 1"
	run hashcache -v m
	assert_success
	[ "$(counter cached)" -eq 3 ]
	[ "$(counter 'bytes read')" -eq 0 ]
	[ "$(counter warnings)" -eq 0 ]
	run hashcache --check m
	assert_success
	[ "$(grep -c '^OK  ' <<<"$output")" -eq 3 ]
}

@test "vfat: a file rewritten within its 2-second tick right after hashing is hashed again" {
	need_fusefat
	mount_vfat m
	echo aaaa >m/f
	# FAT's stamp of that write, and one just hashed: within one tick.
	tick=$(stat -c %Y m/f)
	run hashcache m/f
	hash_a=${output%% *}
	echo bbbb >m/f
	touch -m -d "@$tick" m/f	# the same stamp, as a same-tick write gets
	[ "$(stat -c %Y m/f)" = "$tick" ]
	run hashcache -v m/f
	[ "$(counter hashed)" -eq 1 ]
	[ "${lines[0]%% *}" != "$hash_a" ]
	run hashcache --no-store --store=xattr m/f
	[ "${output%% *}" != "$hash_a" ]
}

@test "vfat: --store=xattr warns once that xattrs are refused, prints the hashes, exit 0" {
	need_fusefat
	mount_vfat m
	mkdir m/a m/b
	echo 1 >m/a/f
	echo 2 >m/b/f
	run hashcache --store=xattr m
	assert_success
	[ "$(grep -c 'warning' <<<"$output")" -eq 1 ]
	assert_output --partial "Operation not supported"
	[ "$(grep -c '^[0-9a-f]\{32\}  ' <<<"$output")" -eq 2 ]
	assert_file_not_exists m/a/.spookyhashes
}

@test "ramfs (no user xattrs): auto falls back to the sidecar" {
	need_root "mount"
	mkdir r
	mount -t ramfs none r
	mkdir r/d
	echo one >r/d/f
	echo two >r/g
	touch -m -d '1 minute ago' r/d/f r/g
	run hashcache -v r
	assert_success
	[ "$(counter stored)" -eq 2 ]
	[ "$(counter warnings)" -eq 0 ]
	assert_file_exists r/.spookyhashes
	assert_file_exists r/d/.spookyhashes
	run hashcache -v r
	[ "$(counter cached)" -eq 2 ]
}

@test "seconds-only ext4 (128-byte inodes): a whole-second mtime gets the 2-second margin" {
	need_root "mount"
	truncate -s 32M ext.img
	mkfs.ext4 -q -I 128 ext.img 2>/dev/null
	mkdir e
	mount -o loop ext.img e || skip "cannot loop-mount ext4 here"
	echo aaaa >e/f
	now=$(date +%s)
	touch -m -d "@$now" e/f
	sleep 0.2	# far more than the 10 ms of fine filesystems
	run hashcache e/f
	hash_a=${output%% *}
	echo bbbb >e/f
	touch -m -d "@$now" e/f
	run hashcache -v e/f
	[ "$(counter hashed)" -eq 1 ]
	[ "${lines[0]%% *}" != "$hash_a" ]
}

@test "a read-only mount: hashes are printed, one warning, nothing stored, exit 0" {
	need_root "mount"
	mkdir ro
	mount -t tmpfs none ro
	mkdir -p ro/a ro/b
	echo 1 >ro/a/f
	echo 2 >ro/b/f
	touch -m -d '1 minute ago' ro/a/f ro/b/f
	mount -o remount,ro ro
	for store in auto xattr file; do
		run hashcache --store=$store ro
		assert_success
		[ "$(grep -c '^[0-9a-f]\{32\}  ro/' <<<"$output")" -eq 2 ]
		[ "$(grep -c 'warning' <<<"$output")" -eq 1 ]
		assert_output --partial "Read-only file system"
	done
	run hashcache --check ro
	assert_success
	[ "$(grep -c '^NEW  ' <<<"$output")" -eq 2 ]
	run getfattr --absolute-names -R -d -m - ro
	refute_output --partial spookyhash
	run find ro -name .spookyhashes
	assert_output ""
}

@test "a read-only bind mount is read-only too" {
	need_root "mount"
	mkdir src ro
	echo 1 >src/f
	touch -m -d '1 minute ago' src/f
	mount --bind src ro
	mount -o remount,bind,ro ro
	run hashcache ro
	assert_success
	assert_output --partial "Read-only file system"
	run getfattr --absolute-names -n user.spookyhash src/f
	assert_failure
}

@test "a full disk: the old sidecar stays whole, no temporary is left, exit 1" {
	small_tmpfs_with_sidecar full
	for i in $(seq 21 200); do echo "$i" >"full/d/f$i"; done
	touch -m -d '1 minute ago' full/d/f*
	dd if=/dev/zero of=full/filler bs=4k status=none 2>/dev/null || true
	run hashcache --store=file full/d
	[ "$status" -eq 1 ]
	assert_output --partial "No space left on device"
	cmp before full/d/.spookyhashes
	run find full -name '.tu-*'
	assert_output ""
}

@test "a symlink swapped in for a directory during the walk: nothing outside is touched" {
	need_root "mount"	# only for a tmpfs that keeps the timing tight
	mkdir -p t/a/sub
	for i in $(seq 1 300); do echo "$i" >"t/a/sub/f$i"; echo "$i" >"t/a/g$i"; done
	touch -m -d '1 minute ago' t/a/sub/f* t/a/g*
	ln -s "$CANARY" t/a/evil
	for store in auto file; do
		swapper -t 3 t/a/sub t/a/evil >swaps &
		local pid=$!
		for round in 1 2 3 4 5 6; do
			hashcache -q --store=$store t 2>/dev/null || true
			hashcache -q --clear --store=$store t 2>/dev/null || true
		done
		wait "$pid"
		[ "$(cat swaps)" -gt 0 ]
		# Put the directory back where it was, if an odd count left it out.
		[ -L t/a/sub ] && swapper -n 1 t/a/sub t/a/evil >/dev/null
	done
	run getfattr --absolute-names -R -d -m - "$CANARY"
	refute_output --partial spookyhash
	run find "$CANARY" -name '.spookyhashes' -o -name '.tu-*'
	assert_output ""
	assert_canary
}

@test "kill -9 at random moments leaves every sidecar whole; leftovers go on a later run" {
	mkdir t
	for d in $(seq 1 40); do
		mkdir "t/d$d"
		for f in 1 2 3 4 5; do head -c 20000 /dev/urandom >"t/d$d/f$f"; done
	done
	touch -m -d '1 minute ago' t/d*/f*
	for round in $(seq 1 12); do
		hashcache -q --store=file t 2>/dev/null &
		local pid=$!
		sleep "0.0$((RANDOM % 9 + 1))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# Whatever is there parses: no warning from any sidecar.
		run hashcache --show -v --store=file t
		[ "$(counter warnings)" -eq 0 ]
		# Every touched file changes the tree a little between rounds.
		echo "$round" >>"t/d$((round % 40 + 1))/f1"
		touch -m -d '1 minute ago' "t/d$((round % 40 + 1))/f1"
	done
	# Temporaries a kill left are ours and old: a later run removes them.
	find t -name '.tu-*' -exec touch -d '1 hour ago' {} +
	run hashcache -v --store=file t
	assert_success
	run find t -name '.tu-*'
	assert_output ""
	run hashcache -v --store=file t
	[ "$(counter hashed)" -eq 0 ]
}

@test "5000 directories deep under ulimit -n 64: every file hashed and cached" {
	mktree chain t 5000
	sleep 0.1	# past the racy window (paths this long defeat touch)
	run bash -c 'ulimit -n 64; hashcache -q -v t'
	assert_success
	[ "$(counter files)" -eq 5000 ]
	[ "$(counter errors)" -eq 0 ]
	run bash -c 'ulimit -n 64; hashcache -q -v t'
	[ "$(counter cached)" -eq 5000 ]
}

@test "1000 directories deep under ulimit -n 64 with --store=file: a sidecar in each" {
	mktree chain t 1000
	sleep 0.1	# past the racy window (paths this long defeat touch)
	run bash -c 'ulimit -n 64; hashcache -q -v --store=file t'
	assert_success
	[ "$(counter stored)" -eq 1000 ]
	run bash -c 'ulimit -n 64; hashcache -q -v --store=file t'
	[ "$(counter cached)" -eq 1000 ]
}
