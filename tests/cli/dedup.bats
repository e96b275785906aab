#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# dedup: what a user can rely on, one behaviour per test.

load ../lib/helpers
load ../lib/tty

setup() { tu_setup; }
teardown() { tu_teardown; }

# N bytes of random data in FILE.
rand() { head -c "$2" /dev/urandom >"$1"; }

# Copies of $1 with the same mtime and mode.
copies() {
	local src=$1 f
	shift
	for f in "$@"; do cp -p "$src" "$f"; done
}

@test "identical files become hard links to one file; the summary counts groups, links and bytes freed" {
	mkdir -p t/a t/b
	rand t/a/x 10000
	copies t/a/x t/b/x t/b/y
	echo small >t/a/s
	copies t/a/s t/b/s
	sum=$(md5sum <t/a/x)
	run dedup t
	assert_success
	assert_output "groups 2, files linked 3, bytes freed 20006 (19.5 KiB)"
	[ "$(ino t/a/x)" = "$(ino t/b/x)" ] && [ "$(ino t/a/x)" = "$(ino t/b/y)" ]
	[ "$(ino t/a/s)" = "$(ino t/b/s)" ]
	[ "$(md5sum <t/b/y)" = "$sum" ]
	run find t -name '.tu-*'
	assert_output ""
}

@test "-v prints each action" {
	mkdir t
	rand t/a 100
	copies t/a t/b
	run dedup -v t
	assert_success
	assert_line "linked 't/b' => 't/a' (data freed)"
}

@test "xattrs: one user.* value differs: not linked" {
	mkdir t
	rand t/a 5000
	copies t/a t/b
	setfattr -n user.tag -v one t/a
	setfattr -n user.tag -v two t/b
	run dedup t
	assert_success
	assert_output --partial "files linked 0"
	[ "$(ino t/a)" != "$(ino t/b)" ]
	# The control: the same value links.
	setfattr -n user.tag -v one t/b
	run dedup t
	assert_output --partial "files linked 1"
}

@test "xattrs: a user.* xattr on one file only: not linked" {
	mkdir t
	rand t/a 5000
	copies t/a t/b
	setfattr -n user.extra -v x t/b
	run dedup t
	assert_output --partial "files linked 0"
}

@test "xattrs: only our cache xattr user.spookyhash differs: linked" {
	mkdir t
	rand t/a 5000
	copies t/a t/b
	setfattr -n user.spookyhash -v 0x0102 t/a
	run dedup t
	assert_success
	assert_output --partial "files linked 1"
	[ "$(ino t/a)" = "$(ino t/b)" ]
}

@test "xattrs: the same xattrs set in a different order are equal" {
	mkdir t
	rand t/a 5000
	copies t/a t/b
	setfattr -n user.one -v 1 t/a
	setfattr -n user.two -v 2 t/a
	setfattr -n user.two -v 2 t/b
	setfattr -n user.one -v 1 t/b
	# The control: the listing order does differ on this filesystem.
	[ "$(getfattr --absolute-names -d t/a | tail -n +2)" != "$(getfattr --absolute-names -d t/b | tail -n +2)" ] ||
		[ "$(getfattr --absolute-names -d t/a | tail -n +2 | sort)" = "$(getfattr --absolute-names -d t/b | tail -n +2 | sort)" ]
	run dedup t
	assert_output --partial "files linked 1"
	[ "$(ino t/a)" = "$(ino t/b)" ]
}

@test "near-duplicates: same size, same first and last blocks, one middle byte differs: not linked" {
	mkdir t
	rand t/a 12288
	copies t/a t/b
	# Byte 6000 of b: a's plus one (mod 256), so it differs whatever a holds.
	dd if=t/a bs=1 skip=6000 count=1 status=none | tr '\000-\377' '\001-\377\000' |
		dd of=t/b bs=1 seek=6000 conv=notrunc status=none
	touch -r t/a t/b
	cmp -s t/a t/b && false
	[ "$(head -c 4096 t/a | md5sum)" = "$(head -c 4096 t/b | md5sum)" ]
	[ "$(tail -c 4096 t/a | md5sum)" = "$(tail -c 4096 t/b | md5sum)" ]
	run dedup t
	assert_success
	assert_output --partial "files linked 0"
	# Not even with --trust-hash: the hashes differ.
	run dedup --trust-hash t
	assert_output --partial "files linked 0"
	[ "$(ino t/a)" != "$(ino t/b)" ]
}

@test "hash records that lie cannot make different files one group: the bytes decide, for each member" {
	mkdir t
	# The kept file is compared with each other one of its group: whole
	# in one buffer (100000) or piece by piece (300000, over 256 KiB).
	for size in 100000 300000; do
		rm -f t/*
		rand t/a "$size"
		copies t/a t/b t/c t/d
		# c differs in one middle byte: a's plus one (mod 256).
		dd if=t/a bs=1 skip=$((size / 2)) count=1 status=none | tr '\000-\377' '\001-\377\000' |
			dd of=t/c bs=1 seek=$((size / 2)) conv=notrunc status=none
		# e and f: another group of the same size, with true records.
		rand t/e "$size"
		copies t/e t/f
		touch -d '2001-01-01' t/*	# one mtime, long before the records: not racy
		cmp -s t/a t/c && false
		# Every file gets a's record: the cache says all four are equal.
		hashcache t/a t/e t/f >/dev/null
		rec=$(getfattr --absolute-names -e hex -n user.spookyhash t/a | sed -n 's/^user.spookyhash=//p')
		[ -n "$rec" ]
		for f in t/b t/c t/d; do setfattr -n user.spookyhash -v "$rec" "$f"; done
		run dedup -v --list --keep=first t
		assert_success
		[ "$(counter cached)" -eq 6 ]
		[ "$(counter hashed)" -eq 0 ]
		assert_equal "$(grep "^t/" <<<"$output")" "$(printf "t/a\nt/b\nt/d\nt/e\nt/f")"
		run dedup --keep=first t
		assert_success
		assert_output --partial "files linked 3"
		[ "$(ino t/e)" = "$(ino t/f)" ]
		[ "$(ino t/a)" = "$(ino t/b)" ]
		[ "$(ino t/a)" = "$(ino t/d)" ]
		[ "$(ino t/a)" != "$(ino t/c)" ]
		cmp -s t/a t/c && false
		# Trusting the hash links c too: why the bytes are compared by default.
		run dedup --trust-hash t
		assert_output --partial "files linked 1"
		[ "$(ino t/a)" = "$(ino t/c)" ]
	done
}

@test "near-duplicates: files of 192 bytes and more differing only in the last byte: not linked" {
	mkdir t
	for n in 192 193 4096 4097 100000; do
		rand "t/a$n" "$n"
		head -c $((n - 1)) "t/a$n" >"t/b$n"
		tail -c 1 "t/a$n" | tr '\000-\377' '\001-\377\000' >>"t/b$n"
		touch -r "t/a$n" "t/b$n"
		[ "$(stat -c %s "t/b$n")" = "$n" ]
	done
	run dedup t
	assert_success
	assert_output --partial "files linked 0"
}

@test "different mode: not linked by default; linked with --ignore-mode" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	chmod 600 t/b
	touch -r t/a t/b
	run dedup t
	assert_output --partial "files linked 0"
	run dedup --ignore-mode t
	assert_output --partial "files linked 1"
	[ "$(ino t/a)" = "$(ino t/b)" ]
}

@test "different owner: not linked by default; linked with --ignore-owner" {
	need_root "chown"
	mkdir t
	rand t/a 3000
	copies t/a t/b
	chown 65534:65534 t/b
	touch -r t/a t/b
	run dedup t
	assert_output --partial "files linked 0"
	run dedup --ignore-owner t
	assert_output --partial "files linked 1"
}

@test "different mtime: not linked by default; linked with --ignore-time" {
	mkdir t
	rand t/a 3000
	cp t/a t/b
	touch -d '2001-01-01' t/b
	run dedup t
	assert_output --partial "files linked 0"
	run dedup --ignore-time t
	assert_output --partial "files linked 1"
}

@test "paths already sharing an inode: nothing to do, nothing counted" {
	mkdir t
	rand t/a 3000
	ln t/a t/b
	ln t/a t/c
	run dedup -v t
	assert_success
	assert_line --index 0 "groups 0, files linked 0, bytes freed 0 (0 B)"
	assert_line --regexp "first blocks read 0, hashed 0"
}

@test "bytes freed count only when an inode's last link goes" {
	mkdir t out
	rand t/a 3000
	copies t/a t/b
	ln t/b out/b-elsewhere
	run dedup --keep=first t
	assert_output "groups 1, files linked 1, bytes freed 0 (0 B)"
	[ "$(ino t/a)" = "$(ino t/b)" ]
	[ "$(ino out/b-elsewhere)" != "$(ino t/a)" ]
}

@test "--keep=most-linked (the default) keeps the inode with the most links" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	ln t/b t/b2
	ln t/b t/b3
	keep=$(ino t/b)
	run dedup t
	assert_output --partial "files linked 1"
	for f in t/a t/b t/b2 t/b3; do [ "$(ino "$f")" = "$keep" ]; done
	[ "$(stat -c %h t/a)" = 4 ]
}

@test "--keep=oldest, newest and first choose by mtime and by path" {
	for k in oldest newest first; do
		rm -rf t
		mkdir t
		rand t/m 3000
		copies t/m t/z t/a
		touch -d '2001-01-01' t/m t/a t/z
		touch -d '2000-01-01' t/z
		touch -d '2002-01-01' t/m
		run dedup --ignore-time --keep=$k -v t
		assert_success
		case $k in
		oldest) want=t/z ;;
		newest) want=t/m ;;
		first) want=t/a ;;
		esac
		assert_line --partial "=> '$want'"
		[ "$(stat -c %h "$want")" = 3 ]
	done
	run dedup --keep=biggest t
	[ "$status" -eq 2 ]
}

@test "-n changes nothing, not even ctime, and stores no hash record" {
	mkdir t
	rand t/a 5000
	copies t/a t/b
	before=$(stat -c '%i %Z.%z' t/a t/b)
	sleep 0.05
	run dedup -n -v t
	assert_success
	assert_line "would link 't/b' => 't/a' (would free its data)"
	assert_line --index 1 "groups 1, files to link 1, bytes to free 5000 (4.9 KiB)"
	[ "$(stat -c '%i %Z.%z' t/a t/b)" = "$before" ]
	run getfattr --absolute-names -d -m - t/a t/b
	refute_output --partial spookyhash
}

@test "a second run reuses cached hashes: an unchanged file is not read whole again" {
	mkdir t
	rand t/a 100000
	copies t/a t/b
	rand t/c 100000
	touch -r t/a t/c
	chmod 600 t/c	# a different mode: never a candidate with a and b
	touch -d '2001-01-01' t/a t/b t/c
	run dedup -v -n t
	[ "$(counter hashed)" -eq 2 ]	# -n stores nothing...
	run dedup -v -n t
	[ "$(counter hashed)" -eq 2 ]	# ...so it reads again
	hashcache t >/dev/null		# the same cache, filled by hashcache
	run dedup -v -n t
	[ "$(counter hashed)" -eq 0 ]
	[ "$(counter cached)" -eq 2 ]
	[ "$(counter 'first blocks read')" -eq 0 ]
	run dedup -v t
	assert_output --partial "files linked 1"
	[ "$(counter hashed)" -eq 0 ]
}

# Two files of SIZE bytes in DIR that share their first 8 KiB and differ
# after it: only their whole hashes tell them apart.
same_head() {
	local dir=$1 size=$2
	rand "$dir/head" 8192
	{ cat "$dir/head"; head -c $((size - 8192)) /dev/urandom; } >"$dir/p"
	{ cat "$dir/head"; head -c $((size - 8192)) /dev/urandom; } >"$dir/q"
	rm "$dir/head"
}

@test "a tree hashed with 'hashcache --store=file' is deduplicated warm: no file data read" {
	command -v strace >/dev/null || skip "needs strace"
	mkdir -p t/a t/b
	same_head t/a 50000
	rand t/a/x 30000
	copies t/a/x t/b/x
	touch -d '2001-01-01' t/a/* t/b/*
	hashcache --store=file t >/dev/null
	assert_file_exists t/a/.spookyhashes
	run getfattr --absolute-names -d -m - t/a/p
	refute_output --partial spookyhash
	trace_reads trace1 dedup -v -n t >out 2>&1
	run cat out
	assert_output --partial "files to link 1"
	[ "$(counter hashed)" -eq 0 ]
	[ "$(counter cached)" -eq 4 ]
	[ "$(counter 'first blocks read')" -eq 0 ]
	# Only the byte comparison of the two copies reads data...
	run data_reads trace1 "$PWD/t"
	refute_output --partial "/t/a/p>"
	refute_output --partial "/t/a/q>"
	# ...and with --trust-hash nothing is read at all.
	trace_reads trace2 dedup -v --trust-hash t >out 2>&1
	run cat out
	assert_output --partial "files linked 1"
	[ "$(ino t/a/x)" = "$(ino t/b/x)" ]
	run data_reads trace2 "$PWD/t"
	assert_output ""
}

@test "--store=file keeps new records in .spookyhashes, never in the xattr; the next run reuses them" {
	mkdir t
	same_head t 50000
	touch -d '2001-01-01' t/p t/q
	run dedup -v --store=file t
	assert_success
	[ "$(counter hashed)" -eq 2 ]
	assert_file_exists t/.spookyhashes
	run getfattr --absolute-names -d -m - t/p t/q
	refute_output --partial spookyhash
	run hashcache --store=file --show t
	assert_line --partial "  t/p"
	refute_line --partial "-  t/p"
	run dedup -v t
	assert_success
	[ "$(counter hashed)" -eq 0 ]
	[ "$(counter cached)" -eq 2 ]
	run dedup -v --store=xattr t	# the sidecar is not ours to read then
	[ "$(counter hashed)" -eq 2 ]
	run getfattr --absolute-names -n user.spookyhash t/p
	assert_success
}

# Hash record reads in the strace log $1: getxattrat (shown by number by an
# strace older than the call), or fgetxattr after the open where the
# kernel lacks it. A call strace splits ("<unfinished ...>", then
# "<... resumed>") counts once.
record_reads() {
	grep -cE '(getxattrat|syscall_0x1d0)\(|fgetxattr\(.*user\.spookyhash' "$1" || true
}

@test "a .spookyhashes is read once, while the walk holds its directory: no directory is opened again" {
	command -v strace >/dev/null || skip "needs strace"
	mkdir -p t/d1 t/d2 t/d3
	rand t/d1/x 5000
	copies t/d1/x t/d2/x t/d3/x
	rand t/d3/y 6000
	touch -d '2001-01-01' t/d*/*
	hashcache --store=file t >/dev/null
	for store in auto file; do
		ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log dedup -v -n --store=$store t >out 2>&1
		run cat out
		assert_output --partial "files to link 2"
		[ "$(counter cached)" -eq 3 ]
		[ "$(counter hashed)" -eq 0 ]
		[ "$(grep -c 'openat(.*"\.spookyhashes"' log)" -eq 3 ]
		run grep -E 'openat2\(.*O_DIRECTORY' log
		assert_output ""
	done
}

@test "a file whose owner, mode or time no other file of its size shares: its hash record is never read" {
	command -v strace >/dev/null || skip "needs strace"
	mkdir t
	rand t/a 5000
	rand t/b 5000
	touch -r t/a t/b
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log dedup -n t
	[ "$(record_reads log)" -eq 2 ]		# the oracle sees the reads
	chmod 600 t/b
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log dedup -n t
	[ "$(record_reads log)" -eq 0 ]
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log dedup -n --ignore-mode t
	[ "$(record_reads log)" -eq 2 ]
}

@test "each candidate's hash record is read once, in the walk or after it, and used" {
	command -v strace >/dev/null || skip "needs strace"
	mkdir -p t/d1 t/d2 t/d3 t/d4
	rand t/d1/x 5000
	copies t/d1/x t/d2/x t/d3/x t/d4/x
	rand t/d1/y 7000			# a size of its own
	rand t/d2/z 5000			# x's size, another mtime
	touch -d '2001-01-01' t/d*/x
	touch -d '2002-01-01' t/d1/y t/d2/z
	hashcache t >/dev/null
	for j in 1 2; do
		ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o log dedup -v -n -j "$j" t >out 2>&1
		run cat out
		[ "$(record_reads log)" -eq 4 ]
		[ "$(counter cached)" -eq 4 ]
		[ "$(counter hashed)" -eq 0 ]
		assert_output --partial "files to link 3"
	done
}

@test "--list prints groups, one path a line, blank-line separated; changes nothing" {
	mkdir -p t/d
	rand t/a 3000
	copies t/a t/d/a2
	rand t/b 4000
	copies t/b t/d/b2 t/d/b3
	run dedup --list t
	assert_success
	groups=$(awk 'BEGIN { RS = "" } { n++ } END { print n }' <<<"$output")
	[ "$groups" -eq 2 ]
	assert_line "t/d/a2"
	assert_line "t/d/b3"
	[ "$(stat -c %h t/a)" = 1 ]
	[ "$(stat -c %h t/b)" = 1 ]
}

@test "--list -0: odd names (newline, invalid UTF-8) come out raw, NUL-separated, groups end with an empty record" {
	mkdir t
	rand t/plain 3000
	copies t/plain "t/new"$'\n'"line" "t/bad"$'\xff'"utf8"
	dedup --list -0 t >out
	run python3 -c '
import sys
recs = open(sys.argv[1], "rb").read().split(b"\0")
assert recs[-1] == b"" and recs[-2] == b"", recs
print(sorted(recs[:-2]))' out
	assert_success
	assert_output "[b't/bad\\xffutf8', b't/new\\nline', b't/plain']"
}

@test "--links lists every hard-link group with the number of links outside the DIRs" {
	mkdir -p t/d out
	rand t/a 100
	ln t/a t/d/a2
	ln t/a out/a3
	echo b >t/b
	ln t/b t/d/b2
	echo single >t/single
	run dedup --links t
	assert_success
	assert_line "# links 3, outside 1"
	assert_line "# links 2, outside 0"
	assert_line "'t/d/a2'"
	refute_line "'t/single'"
	[ "$(grep -c "^'" <<<"$output")" -eq 4 ]
}

@test "--links -0 and --paths-of -0 with odd names; --paths-of reports links outside" {
	mkdir -p t out
	echo data >"t/we"$'\n'"ird"
	ln "t/we"$'\n'"ird" "t/tab"$'\t'"name"
	ln "t/we"$'\n'"ird" out/elsewhere
	dedup --links -0 t >out.bin
	run python3 -c '
import sys
recs = open(sys.argv[1], "rb").read().split(b"\0")
print(recs)' out.bin
	assert_output "[b'# links 3, outside 1', b't/tab\\tname', b't/we\\nird', b'', b'']"
	dedup --paths-of="out/elsewhere" -0 t >paths.bin 2>/dev/null
	run python3 -c 'import sys; print(open(sys.argv[1], "rb").read().split(b"\0"))' paths.bin
	assert_output "[b't/tab\\tname', b't/we\\nird', b'']"
	run dedup --paths-of=out/elsewhere t
	assert_line "'t/tab\\tname'"
	assert_line "'t/we\\nird'"
	assert_line "dedup: 1 more link of 'out/elsewhere' lies outside the DIRs"
}

@test "--min-size and --max-size take suffixes; empty files are skipped unless --min-size=0" {
	mkdir t
	: >t/e1
	: >t/e2
	touch -r t/e1 t/e2	# same mtime, as the default rules want, even across a clock tick
	rand t/k 2048
	copies t/k t/k2
	rand t/m 2000000
	copies t/m t/m2
	run dedup -n t
	assert_output --partial "files to link 2"
	run dedup -n --min-size=0 t
	assert_output --partial "files to link 3"
	run dedup -n --min-size=1M t
	assert_output --partial "files to link 1"
	run dedup -n --max-size=2K t
	assert_output --partial "files to link 1"
	run dedup -n --max-size=2KiB --min-size=2048 t
	assert_output --partial "files to link 1"
	run dedup --min-size=12Q t
	[ "$status" -eq 2 ]
}

@test "symlinks, FIFOs and other special files are never touched" {
	mkdir t
	rand t/a 3000
	ln -s a t/l1
	ln -s a t/l2
	mkfifo t/p1 t/p2
	run timeout 20 dedup -v t
	assert_success
	assert_output --partial "files linked 0"
	[ -L t/l1 ] && [ -L t/l2 ] && [ -p t/p1 ] && [ -p t/p2 ]
}

@test "a DIR that is a symlink is refused unless written with a trailing slash" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	ln -s t lnk
	run dedup lnk
	[ "$status" -eq 2 ]	# the only DIR refused: nothing could start
	assert_output --partial "cannot open directory 'lnk'"
	run dedup lnk/
	assert_success
	assert_output --partial "files linked 1"
}

@test "several DIRs: duplicates across them are linked" {
	mkdir a b
	rand a/x 3000
	copies a/x b/x
	run dedup --keep=first b a
	assert_output --partial "files linked 1"
	[ "$(stat -c %h b/x)" = 2 ]
}

@test "a DIR given twice, or inside another DIR, is walked once: the same links, summary and exit 0" {
	mkdir -p t/sub/deep
	rand t/a 5000
	copies t/a t/sub/b t/sub/deep/c
	rand t/x 3000
	copies t/x t/sub/y
	cp -a t orig
	run dedup t
	assert_success
	expected=$output
	[ "$expected" = "groups 2, files linked 3, bytes freed 13000 (12.7 KiB)" ]
	local args
	for args in "t t" "t t/sub" "t/sub t" "t ./t/ t/sub/deep"; do
		rm -rf t
		cp -a orig t
		[ "$(find t -type f -links +1 | wc -l)" -eq 0 ]
		# shellcheck disable=SC2086
		run dedup --list $args
		assert_success
		[ "$(grep -c . <<<"$output")" -eq 5 ]	# each path once
		# shellcheck disable=SC2086
		run dedup $args
		assert_success
		assert_output "$expected"
		[ "$(ino t/a)" = "$(ino t/sub/deep/c)" ]
		[ "$(ino t/x)" = "$(ino t/sub/y)" ]
		refute_output --partial "changed"
	done
}

@test "a pre-existing file with our temporary prefix is never clobbered" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	name=.tu-0123456789abcdef0123456789abcdef
	echo "not dedup's" >"t/$name"
	run dedup -v t
	assert_success
	run cat "t/$name"
	assert_output "not dedup's"
}

@test "a leftover temporary link of a file in the tree is removed on the next run" {
	mkdir t
	rand t/a 3000
	name=.tu-00000000000000000000000000000001
	ln t/a "t/$name"
	run dedup -v t
	assert_success
	assert_line "removed 't/$name' (a link of 't/a' left by an interrupted run)"
	[ ! -e "t/$name" ]
	[ "$(stat -c %h t/a)" = 1 ]
}

@test "a read-only directory is reported, and its file is left intact" {
	mkdir -p t/ro
	rand t/a 3000
	copies t/a t/ro/b
	sum=$(md5sum <t/ro/b)
	ino=$(ino t/ro/b)
	if [ "$(id -u)" = 0 ]; then
		chattr +i t/ro || skip "chattr +i not supported here"
		run dedup --keep=first t
		chattr -i t/ro
	else
		chmod 555 t/ro
		run dedup --keep=first t
		chmod 755 t/ro
	fi
	[ "$status" -eq 1 ]
	assert_output --partial "cannot link 't/ro/b'"
	[ "$(ino t/ro/b)" = "$ino" ]
	[ "$(md5sum <t/ro/b)" = "$sum" ]
	[ "$(stat -c %h t/a)" = 1 ]
}

@test "oracle: --list groups equal jdupes -r groups on a tree with many duplicate groups" {
	command -v jdupes >/dev/null || skip "needs jdupes"
	mkdir t
	python3 - t <<'PY'
import os, random, sys
random.seed(4)
root = sys.argv[1]
dirs = [root] + [os.path.join(root, f"d{i}") for i in range(8)]
for d in dirs[1:]:
    os.mkdir(d)
blobs = []
for i in range(60):
    n = random.choice([1, 7, 100, 191, 192, 4095, 4096, 4097, 20000, 70000])
    b = bytes(random.getrandbits(8) for _ in range(n))
    blobs.append(b)
    # near-duplicates of some: the last byte, or a middle byte, changed
    if i % 5 == 0:
        blobs.append(b[:-1] + bytes([(b[-1] + 1) % 256]))
    if i % 7 == 0 and n > 2:
        m = n // 2
        blobs.append(b[:m] + bytes([(b[m] + 1) % 256]) + b[m + 1:])
k = 0
for b in blobs:
    for c in range(random.choice([1, 1, 2, 3, 5])):
        with open(os.path.join(random.choice(dirs), f"f{k}"), "wb") as f:
            f.write(b)
        k += 1
PY
	norm() { python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
groups, cur = [], []
for rec in data.split(b"\n" if sys.argv[2] == "nl" else b"\0"):
    if rec == b"":
        if cur: groups.append(sorted(cur)); cur = []
    else:
        cur.append(rec)
if cur: groups.append(sorted(cur))
for g in sorted(groups): print(b" ".join(g).decode())' "$1" "$2"; }
	jdupes -r -q t >jd.txt
	dedup --list -0 --ignore-owner --ignore-mode --ignore-time t >ours.bin
	norm jd.txt nl >jd.norm
	norm ours.bin nul >ours.norm
	[ "$(wc -l <jd.norm)" -ge 20 ]
	run diff jd.norm ours.norm
	assert_success
}

@test "a size group larger than the fd limit: all linked, no 'Too many open files' (ulimit -n 32)" {
	mkdir t
	for i in $(seq 1 300); do printf 'same%03d' $((i % 3)) >"t/f$i"; done
	touch -d '2001-01-01' t/*
	run bash -c 'ulimit -n 32 && dedup -j2 t 2>&1'
	assert_success
	assert_output "groups 3, files linked 297, bytes freed 2079 (2.0 KiB)"
}

@test "bad usage exits 2" {
	run dedup --store=cloud t
	[ "$status" -eq 2 ]
	run dedup
	[ "$status" -eq 2 ]
	run dedup --list --links .
	[ "$status" -eq 2 ]
	run dedup -0 .
	[ "$status" -eq 2 ]
	run dedup --reflink=sometimes .
	[ "$status" -eq 2 ]
}

@test "--progress shows a progress line on stderr" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	on_tty dedup --progress t
	assert_success
	assert_output --partial "scanned"
}

@test "--list is sorted: kept file first, then names in order, groups by first name, the same every run" {
	mkdir -p s/x s/y
	for i in 1 2 3 4 5 6 7 8; do
		echo "content $i" >s/y/f$i
		cp -p s/y/f$i s/x/f$i
		cp -p s/y/f$i s/y/g$i
	done
	run dedup -j 4 --list s
	assert_success
	first=$output
	assert_line --index 0 "s/x/f1"
	assert_line --index 1 "s/y/f1"
	assert_line --index 2 "s/y/g1"
	for k in 1 2 3 4 5; do
		run dedup -j 4 --list s
		[ "$output" = "$first" ]
	done
	# Each group's names in order, and the groups ordered by first name.
	run bash -c "dedup --list s | awk 'NF' | sed -n '1~3p'"
	assert_output "$(for i in 1 2 3 4 5 6 7 8; do echo "s/x/f$i"; done)"
}

@test "util-linux hardlink's short options: -o -p -t -c ignore owner, mode, time; -s and -S bound sizes; -q drops the summary" {
	mkdir t
	rand t/a 5000
	copies t/a t/b t/c
	chmod 600 t/b
	touch -d '2001-01-01' t/c
	rand t/big 9000
	copies t/big t/big2
	run dedup -n -S 8K t
	assert_output "groups 0, files to link 0, bytes to free 0 (0 B)"
	run dedup -n -p -S 8K t
	assert_output "groups 1, files to link 1, bytes to free 5000 (4.9 KiB)"
	run dedup -n -p -t -S 8K t
	assert_output "groups 1, files to link 2, bytes to free 10000 (9.8 KiB)"
	run dedup -n -c -s 6K t
	assert_output "groups 1, files to link 1, bytes to free 9000 (8.8 KiB)"
	run dedup -q -c t
	assert_success
	assert_output ""
	[ "$(ino t/a)" = "$(ino t/b)" ] && [ "$(ino t/a)" = "$(ino t/c)" ]
	[ "$(ino t/big)" = "$(ino t/big2)" ]
	run dedup -q -v t
	assert_failure 2
	assert_output --partial "-q and -v"
	[ "$(id -u)" = 0 ] || return 0	# -o needs a file of another owner
	mkdir u
	rand u/a 700
	copies u/a u/b
	chown nobody u/b
	run dedup -n u
	assert_output "groups 0, files to link 0, bytes to free 0 (0 B)"
	run dedup -n -o u
	assert_output "groups 1, files to link 1, bytes to free 700 (700 B)"
}

@test "-0 with -v and -n -v: each action as three NUL-ended fields, names as they are; the summary on stderr" {
	mkdir t
	rand t/a 300
	copies t/a "t/b
x"
	run bash -c "dedup -n -v -0 t 2>/dev/null | tr '\0' '|'"
	assert_success
	assert_output "would link|t/b
x|t/a|"
	run bash -c "dedup -v -0 t 2>&1 >/dev/null"
	assert_output --partial "groups 1, files linked 1"
	[ "$(ino t/a)" = "$(ino "t/b
x")" ]
	run dedup -0 t
	assert_failure 2
}

@test "--list not on a terminal: raw paths, one a line, a blank line between groups, as fdupes and jdupes print them" {
	mkdir t
	rand t/a 3000
	copies t/a "t/b c" "t/it's" "t/bad"$'\xff'
	run dedup --list t
	assert_success
	assert_output "t/a
t/b c
t/bad"$'\xff'"
t/it's"
	# fdupes reads the same groups from the same tree.
	if command -v fdupes >/dev/null; then
		[ "$(fdupes -r t | sort)" = "$(dedup --list t | sort)" ]
	fi
}

@test "--list on a terminal: each path quoted so that a shell takes it back (\$'...' for control characters and bytes that are not UTF-8)" {
	command -v script >/dev/null || skip "needs script (util-linux) for a terminal"
	mkdir t
	rand t/a 3000
	copies t/a "t/b c" "t/it's" "t/nl"$'\n'"x" "t/bad"$'\xff'"é"
	run script -qc "dedup --list t" /dev/null
	assert_success
	lines=$(tr -d '\r' <<<"$output")
	assert_equal "$lines" "t/a
't/b c'
\$'t/bad\\xffé'
't/it'\\''s'
\$'t/nl\\nx'"
	# Pasted into a shell, each is the name itself.
	eval "names=($(grep . <<<"$lines" | tr '\n' ' '))"
	for n in "${names[@]}"; do [ -f "$n" ]; done
	[ "${#names[@]}" -eq 5 ]
}

@test "--exclude=PATTERN leaves out matching files and directories; .git directories are left out by default with one warning, and --include-git takes them" {
	mkdir -p t/keep t/skipdir t/repo/.git/objects
	rand t/a 3000
	copies t/a t/keep/a t/skipdir/a t/x.tmp t/repo/.git/objects/a t/repo/a
	run dedup -n --exclude='*.tmp' --exclude=skipdir t
	assert_success
	assert_output --partial "files to link 2,"
	assert_output --partial "left out 1 '.git' directory: linking git's own files can corrupt a repository"
	run dedup -n --include-git --exclude='*.tmp' t
	assert_output --partial "files to link 4,"
	refute_output --partial ".git"
	run dedup --list --exclude='skip*' t
	refute_output --partial "skipdir"
	refute_output --partial "t/repo/.git"
	assert_line "t/x.tmp"
	run dedup --links --exclude=x t
	assert_failure 2
}

@test "--json: each group's size, digest (as hashcache prints it) and paths, odd bytes given back by Python's os.fsencode; nothing changed" {
	mkdir t
	rand t/a 9000
	copies t/a "t/b c" "t/nl"$'\n'"x" "t/bad"$'\xff'
	echo small >t/s1
	copies t/s1 t/s2
	digest_a=$(hashcache -n t/a | cut -d' ' -f1)
	digest_s=$(hashcache -n t/s1 | cut -d' ' -f1)
	dedup --json t >out.json
	run python3 - out.json <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
for g in d["groups"]:
    print(g["size"], g["digest"], [os.fsencode(p) for p in g["paths"]])
PY
	assert_success
	assert_output "9000 $digest_a [b't/a', b't/b c', b't/bad\\xff', b't/nl\\nx']
6 $digest_s [b't/s1', b't/s2']"
	[ "$(stat -c %h t/a)" = 1 ]
	run dedup --json -0 t
	assert_failure 2
}

@test "file operands join the candidates, as hardlink file1 file2 dir/ takes them; an entry found twice counts once" {
	mkdir -p d
	rand f1 3000
	copies f1 f2 d/f3 d/f4
	mkfifo fifo
	run dedup -n -v f1 d/f4 d ./f2 f1
	assert_success
	assert_output --partial "groups 1, files to link 3,"
	assert_line "would link './f2' => 'f1' (would free its data)"
	run dedup f2 d/f3
	assert_success
	assert_output "groups 1, files linked 1, bytes freed 3000 (2.9 KiB)"
	[ "$(ino f2)" = "$(ino d/f3)" ] && [ "$(ino f1)" != "$(ino f2)" ]
	run dedup fifo f1
	assert_failure 1
	assert_output --partial "cannot open directory 'fifo': Not a directory"
	ln -s f1 link
	run dedup link f2	# a symlink operand is not followed
	assert_failure 1
	assert_output --partial "cannot open directory 'link': Not a directory"
}

@test "--list --size: 'N bytes each:' before each group, as fdupes -S prints it" {
	mkdir t
	rand t/a 3000
	copies t/a t/b
	echo x >t/c
	copies t/c t/d
	run dedup --list --size t
	assert_success
	assert_output "3000 bytes each:
t/a
t/b

2 bytes each:
t/c
t/d"
	if command -v fdupes >/dev/null; then
		[ "$(fdupes -r -S t | sort)" = "$(dedup --list --size t | sort)" ]
	fi
	run dedup --size t
	assert_failure 2
}
