#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
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
	# The premise: that run ended within the write's tick, so its record
	# is racy. A slow run (FUSE under ASan on a loaded machine) can end
	# after it, and then the record is rightly trusted.
	[ $(($(date +%s) - tick)) -lt 2 ] || skip "the first run outlasted FAT's 2-second tick"
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

# ---- issue 12: root hashing where user nobody can write -------------------------

# A directory of root's in which nobody may write (sticky, like /tmp), or
# one that nobody owns, with root's files in it a minute old.
hostile_dir() {
	need_root "root hashing where nobody can write"
	mkdir "$1"
	if [ "${2:-}" = nobody ]; then chown nobody:nogroup "$1"; chmod 755 "$1"; else chmod 1777 "$1"; fi
	echo 4711 >"$1/pin"
	chmod 600 "$1/pin"
	echo "for all" >"$1/public"
	chmod 644 "$1/public"
	touch -m -d '1 minute ago' "$1/pin" "$1/public"
}

# check_of TEXT: the check value of a sidecar line whose text before it is
# TEXT: the low 32 bits of SpookyHash's hash1, the first 4 bytes of the
# digest read as little-endian.
check_of() {
	printf '%s' "$1" >"$S/.line"
	local h
	h=$(hashcache --no-store --store=file "$S/.line" | cut -c1-8)
	rm -f "$S/.line"
	echo "${h:6:2}${h:4:2}${h:2:2}${h:0:2}"
}

# forge DIR NAME DIGEST: print DIR's sidecar with NAME's record claiming
# DIGEST, its check value made right (the value is not keyed).
forge() {
	local line rest text
	while IFS= read -r line; do
		case $line in
		*" $2 "????????)
			rest=${line#* }
			text="$3 ${rest% *}"
			echo "$text $(check_of "$text")" ;;
		*) echo "$line" ;;
		esac
	done <"$1/.spookyhashes"
}

@test "a planted .spookyhashes keeps its planter's mode: no more; root's sidecar is 0600 and owned by the directory's owner" {
	hostile_dir d
	as_nobody sh -c 'printf "spookyhashes 1\n" >d/.spookyhashes; chmod 644 d/.spookyhashes'
	run hashcache --store=file d
	assert_success
	pin=$(grep '  d/pin$' <<<"$output" | cut -d' ' -f1)
	[ -n "$pin" ]
	[ "$(stat -c '%a %U' d/.spookyhashes)" = "600 root" ]
	run as_nobody cat d/.spookyhashes
	assert_failure
	# The records are there for root, and trusted on the next run.
	run hashcache -v --store=file d
	[ "$(counter cached)" -eq 2 ]
}

@test "a planted .spookyhashes in the attacker's own directory: theirs, their mode, but no digest they may not read" {
	hostile_dir d nobody
	as_nobody sh -c 'printf "spookyhashes 1\n" >d/.spookyhashes; chmod 644 d/.spookyhashes'
	run hashcache --store=file d
	assert_success
	pin=$(grep '  d/pin$' <<<"$output" | cut -d' ' -f1)
	public=$(grep '  d/public$' <<<"$output" | cut -d' ' -f1)
	assert_output --partial "would show them to users who may not read the files"
	[ "$(stat -c '%a %U' d/.spookyhashes)" = "644 nobody" ]
	run as_nobody cat d/.spookyhashes
	assert_success
	refute_output --partial "$pin"
	assert_output --partial "$public"
	# A new sidecar in nobody's directory is nobody's, 0600, and holds
	# only what nobody may read.
	rm d/.spookyhashes
	run hashcache --store=file d
	assert_success
	[ "$(stat -c '%a %U' d/.spookyhashes)" = "600 nobody" ]
	run grep -c "$pin" d/.spookyhashes
	assert_output 0
}

@test "forged sidecar records are trusted: no more; ignored with one warning, the true hashes printed" {
	hostile_dir d
	echo "other" >d/other
	chmod 644 d/other
	touch -m -d '1 minute ago' d/other
	hashcache --store=file d >/dev/null
	other=$(hashcache --no-store --store=file d/other | cut -d' ' -f1)
	public=$(hashcache --no-store --store=file d/public | cut -d' ' -f1)
	forge d public "$other" >forged
	grep -q "^$other .* public " forged
	# Planted by nobody, who may write the directory (before root's
	# first run, as the sticky bit keeps root's own file from them).
	chmod 644 forged
	rm d/.spookyhashes
	as_nobody cp forged d/.spookyhashes
	[ "$(stat -c %U d/.spookyhashes)" = nobody ]
	run hashcache --store=file d
	assert_success
	assert_line "$public  d/public"
	[ "$(grep -c 'records not trusted' <<<"$output")" -eq 1 ]
	run hashcache --show --store=file d/public
	assert_output "$public  d/public"
	# The rewrite kept no forged record.
	run grep -c "^$other .* public " d/.spookyhashes
	assert_output 0
}

@test "forged sidecar records: a group- or world-writable sidecar is not trusted even when root's" {
	hostile_dir d
	hashcache --store=file d >/dev/null
	public=$(hashcache --no-store --store=file d/public | cut -d' ' -f1)
	forge d public 0123456789abcdef0123456789abcdef >forged
	cat forged >d/.spookyhashes
	chmod 666 d/.spookyhashes
	run hashcache --store=file d/public
	assert_output --partial "$public  d/public"
	assert_output --partial "records not trusted"
}

@test "forged sidecar records: --check still catches a forged record it trusts (the file owner's own)" {
	need_root "chown"
	mkdir d
	chown nobody:nogroup d
	as_nobody sh -c 'echo mine >d/mine; touch -m -d "1 minute ago" d/mine'
	as_nobody hashcache --store=file d >/dev/null
	forge d mine 0123456789abcdef0123456789abcdef >forged
	chmod 644 forged
	as_nobody sh -c 'cat forged >d/.spookyhashes'
	run hashcache --check --store=file d
	[ "$status" -eq 3 ]
	assert_line "CORRUPT  d/mine"
}

@test "sidecars are read whole: no more; a sparse 1 GiB .spookyhashes is damaged, costs no memory, and is replaced" {
	hostile_dir d
	as_nobody sh -c 'printf "spookyhashes 1\n" >d/.spookyhashes; truncate -s 1G d/.spookyhashes'
	run /usr/bin/time -f 'maxrss %M' hashcache --store=file d
	assert_success
	assert_output --partial "damaged: larger than its directory could need"
	rss=$(sed -n 's/^maxrss //p' <<<"$output")
	[ "$rss" -lt 200000 ]	# KiB: far below the 1 GiB the old reader took
	[ "$(stat -c %s d/.spookyhashes)" -lt 4096 ]
	[ "$(grep -c . d/.spookyhashes)" -eq 3 ]
}

# with_hardlinks_unprotected: run the rest of the test with
# fs.protected_hardlinks=0; teardown puts the old value back.
with_hardlinks_unprotected() {
	need_root "sysctl"
	OLD_PROTECTED_HARDLINKS=$(sysctl -n fs.protected_hardlinks)
	sysctl -q -w fs.protected_hardlinks=0
}

teardown() {
	if [ -n "${OLD_PROTECTED_HARDLINKS:-}" ]; then
		sysctl -q -w fs.protected_hardlinks="$OLD_PROTECTED_HARDLINKS"
	fi
	tu_teardown
}

@test "a hard link planted in the tree makes root write outside it: no more (fs.protected_hardlinks=0)" {
	with_hardlinks_unprotected
	echo "root's secret, outside the tree" >outside
	touch -m -d '1 minute ago' outside
	chmod 600 outside
	mkdir t
	chown nobody:nogroup t
	as_nobody ln outside t/link
	ctime=$(stat -c %Z.%z outside)
	sleep 0.05
	for store in xattr auto; do
		run hashcache --store=$store t
		assert_success
		assert_line --partial "  t/link"
		run getfattr --absolute-names -n user.spookyhash outside
		assert_failure
		[ "$(stat -c %Z.%z outside)" = "$ctime" ]
	done
	run hashcache --store=xattr t
	assert_output --partial "more than one link, in a directory others may write"
	# Nor is a record on it removed through the planted name.
	setfattr -n user.spookyhash -v 0x00 outside
	ctime=$(stat -c %Z.%z outside)
	sleep 0.05
	run hashcache --clear t
	assert_success
	assert_output --partial "its record is left alone"
	[ "$(stat -c %Z.%z outside)" = "$ctime" ]
	getfattr --absolute-names -n user.spookyhash outside >/dev/null
	setfattr -x user.spookyhash outside
	# Root's own directory, writable by root alone: its links get records.
	mkdir own
	ln outside own/link
	run hashcache -v own
	[ "$(counter stored)" -eq 1 ]
	[ "$(sysctl -n fs.protected_hardlinks)" = 0 ]
}

@test "a FIFO or directory planted as .spookyhashes: one warning, no sidecar here, exit 0" {
	hostile_dir d
	hostile_dir e
	as_nobody mkfifo d/.spookyhashes
	as_nobody mkdir e/.spookyhashes
	for store in file auto; do
		run timeout 20 hashcache --store=$store d e
		assert_success
		[ "$(grep -c 'warning' <<<"$output")" -eq 2 ]
		[ "$(grep -c '^[0-9a-f]\{32\}  ' <<<"$output")" -eq 4 ]
	done
	[ -p d/.spookyhashes ]
	[ -d e/.spookyhashes ]
}

# ---- issue 12: correctness under concurrency ---------------------------------------

@test "two concurrent runs on the same tree both succeed with the right digests" {
	mkdir t
	for i in $(seq 1 60); do head -c 400000 /dev/urandom >"t/f$i"; done
	touch -m -d '1 minute ago' t/f*
	hashcache --no-store --store=file t | sort >expected
	for round in 1 2 3; do
		hashcache --clear t
		hashcache -j 2 t >out1 2>err1 &
		p1=$!
		hashcache -j 2 t >out2 2>err2 &
		p2=$!
		wait $p1 || { cat err1; false; }
		wait $p2 || { cat err2; false; }
		[ ! -s err1 ] && [ ! -s err2 ]
		sort out1 | diff - expected
		sort out2 | diff - expected
	done
}

@test "a real change while a file is being read is still caught, with another run writing records" {
	mkdir t
	head -c 50000000 /dev/zero >t/big
	touch -m -d '1 minute ago' t/big
	before=$(hashcache --no-store --store=file t/big)
	hashcache --store=file t >/dev/null &
	(sleep 0.05; printf x | dd of=t/big bs=1 seek=49999999 conv=notrunc status=none) &
	run hashcache --store=xattr t
	wait
	after=$(hashcache --no-store --store=file t/big)
	[ "$before" != "$after" ]
	if [ "$status" -eq 0 ]; then
		# The read ended before the write (a loaded machine) or began after
		# it: the digest is the old or the new content's, never a mix.
		[ "$output" = "$before" ] || [ "$output" = "$after" ] || {
			echo "neither the old nor the new digest: $output"; false; }
	else
		assert_output --partial "changed while being read"
	fi
	# Whatever was stored describes the content now, or is outdated by it.
	run hashcache --check --store=xattr t
	refute_output --partial CORRUPT
}
