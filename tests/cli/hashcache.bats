#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# hashcache: what a user can rely on, one behaviour per test.

load ../lib/helpers
load ../lib/tty

setup() { tu_setup; }
teardown() { tu_teardown; }

# A small tree of old files (mtime a minute ago, so no record is "racy").
make_tree() {
	mkdir -p "$1/a/b" "$1/c"
	echo one >"$1/f1"
	echo two >"$1/a/f2"
	head -c 300000 /dev/urandom >"$1/a/b/big"
	: >"$1/c/empty"
	age "$1"
}

# Set every file's mtime a minute back (sub-second part kept non-zero). The
# moment is fixed once per test, and files already aged are not touched
# again: a touch moves the ctime, which outdates an xattr record (the racy
# rule for ctime).
age() {
	: "${AGE_AT:=$(($(date +%s) - 60))}"
	find "$1" -type f ! -name .spookyhashes -newermt "@$AGE_AT.123456789" \
		-exec touch -m -d "@$AGE_AT.123456789" {} +
}

# rot FILE TEXT: silent corruption, as a disk gives it. TEXT overwrites the
# start of FILE with its size and mtime restored, and its xattr record is
# restamped as written a minute ahead, so that the ctime the edit moved is
# not past the record (bit rot moves no ctime at all).
rot() {
	touch -r "$1" "$1.ref"
	printf '%s' "$2" | dd of="$1" conv=notrunc status=none
	touch -m -r "$1.ref" "$1"
	rm -f "$1.ref"
	python3 - "$1" <<-'PY'
	import os, struct, sys, time
	v = bytearray(os.getxattr(sys.argv[1], "user.spookyhash"))
	assert v[0] == 2 and len(v) == 49
	v[41:49] = struct.pack("<q", time.time_ns() + 60 * 10**9)
	os.setxattr(sys.argv[1], "user.spookyhash", bytes(v))
	PY
}

# The message of a SpookyHash "L" reference vector: byte i is i mod 251.
l_message() {
	python3 -c 'import sys; n = int(sys.argv[1]); p = bytes(range(251)) * (n // 251 + 1); sys.stdout.buffer.write(p[:n])' "$1"
}

# The message of an "A" reference vector: byte i is (i + 128) mod 256.
a_message() {
	python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.buffer.write(bytes((i + 128) % 256 for i in range(n)))' "$1"
}

@test "prints 'HASH  PATH' for every file, the reference vectors' digests, and exits 0" {
	mkdir t
	local expect=() len hex
	while read -r kind len hex; do
		l_message "$len" >"t/L$len"
		expect+=("$hex  t/L$len")
	done < <(grep '^L ' "$TU_VECTORS")
	for len in 0 1 95 96 97 191 192 193 512; do
		a_message "$len" >"t/A$len"
		hex=$(awk -v n="$len" '$1 == "A" && $2 == n { print $3 }' "$TU_VECTORS")
		expect+=("$hex  t/A$len")
	done
	[ "${#expect[@]}" -eq 15 ]
	run hashcache t
	assert_success
	[ "$(sort <<<"$output")" = "$(printf '%s\n' "${expect[@]}" | sort)" ]
	# The same digests come from the cache the second time.
	age t
	hashcache t >/dev/null
	run hashcache t
	[ "$(sort <<<"$output")" = "$(printf '%s\n' "${expect[@]}" | sort)" ]
}

@test "a file PATH prints just that file, by the name given" {
	make_tree t
	run hashcache t/a/f2 ./t/f1
	assert_success
	assert_line --index 0 --regexp '^[0-9a-f]{32}  t/a/f2$'
	assert_line --index 1 --regexp '^[0-9a-f]{32}  \./t/f1$'
	[ "${#lines[@]}" -eq 2 ]
}

@test "a second run over an unchanged tree reads no file data (counters)" {
	make_tree t
	run hashcache -v t
	assert_success
	[ "$(counter hashed)" -eq 4 ]
	[ "$(counter stored)" -eq 4 ]
	first=$output
	run hashcache -v t
	assert_success
	[ "$(counter files)" -eq 4 ]
	[ "$(counter cached)" -eq 4 ]
	[ "$(counter hashed)" -eq 0 ]
	[ "$(counter 'bytes read')" -eq 0 ]
	[ "$(counter stored)" -eq 0 ]
	[ "$(grep -v '^hashcache:' <<<"$output" | sort)" = "$(grep -v '^hashcache:' <<<"$first" | sort)" ]
}

@test "a second run reads no file data (strace: no read of any file in the tree)" {
	make_tree t
	trace_reads trace1 hashcache t >/dev/null
	# The oracle itself: the first run is seen reading the files.
	[ "$(data_reads trace1 "$PWD/t" | wc -l)" -ge 4 ]
	trace_reads trace2 hashcache t >out
	[ "$(wc -l <out)" -eq 4 ]
	run data_reads trace2 "$PWD/t"
	assert_output ""
}

@test "a second run reads no file data with --store=file either" {
	make_tree t
	hashcache --store=file t >/dev/null
	assert_file_exists t/a/.spookyhashes
	trace_reads trace hashcache --store=file t >out
	[ "$(wc -l <out)" -eq 4 ]
	run data_reads trace "$PWD/t"
	assert_output ""
}

@test "storing a record changes neither mtime nor atime nor content" {
	make_tree t
	sum=$(md5sum <t/f1)
	touch -a -d '2001-01-01' t/f1	# relatime would update an atime this old
	before=$(stat -c '%x %y %s' t/f1)
	run hashcache t/f1
	assert_success
	run getfattr --absolute-names -n user.spookyhash t/f1
	assert_success
	[ "$(stat -c '%x %y %s' t/f1)" = "$before" ]
	[ "$(md5sum <t/f1)" = "$sum" ]
}

@test "the xattr record is 49 bytes: version 2, the digest, size, mtime, hash time and write time" {
	make_tree t
	before=$(date +%s%N)
	run hashcache t/f1
	hash=${output%% *}
	val=$(getfattr --absolute-names --only-values -e hex -n user.spookyhash t/f1 | xxd -p | tr -d '\n')
	# getfattr --only-values writes raw bytes; xxd shows them as hex.
	[ "${#val}" -eq 98 ]
	[ "${val:0:2}" = 02 ]
	written=$(python3 -c 'import sys, struct; print(struct.unpack("<q", bytes.fromhex(sys.argv[1][82:98]))[0])' "$val")
	[ "$written" -ge "$((before - 20000000))" ]
	[ "$written" -le "$(date +%s%N)" ]
	[ "${val:2:32}" = "$hash" ]
	size_le=$(printf '%016x' "$(stat -c %s t/f1)" | fold -w2 | tac | tr -d '\n')
	[ "${val:34:16}" = "$size_le" ]
}

@test "--check: OK for unchanged files, exit 0" {
	make_tree t
	hashcache t >/dev/null
	run hashcache --check t
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	run grep -vc '^OK  ' <<<"$output"
	assert_output 0
}

@test "silent corruption (content changed, size, mtime and ctime not): --check says CORRUPT, exits 3, keeps the record" {
	make_tree t
	hashcache t >/dev/null
	run hashcache t/a/f2
	old=${output%% *}
	rot t/a/f2 TWO
	run hashcache --check t
	[ "$status" -eq 3 ]
	assert_line "CORRUPT  t/a/f2"
	assert_line "OK  t/f1"
	# The record is kept: the default run still answers from it...
	run hashcache --show t/a/f2
	assert_output "$old  t/a/f2"
	# ...and a second check finds the same corruption; -q hides only the
	# OK lines.
	run hashcache -q --check t
	[ "$status" -eq 3 ]
	assert_output "CORRUPT  t/a/f2"
}

@test "--check --fix replaces a CORRUPT record; the next check is clean" {
	make_tree t
	hashcache t >/dev/null
	rot t/f1 ONE
	run hashcache --check --fix t
	[ "$status" -eq 3 ]
	assert_line "CORRUPT  t/f1"
	run hashcache --check t
	assert_success
	assert_line "OK  t/f1"
	# The record now holds the new content's hash (computed afresh here).
	run hashcache --show t/f1
	assert_output "$(hashcache --no-store --store=file t/f1)"
}

ctime_rule_case() {
	make_tree t
	hashcache "$@" t >/dev/null
	run hashcache "$@" t/a/f2
	old=${output%% *}
	sleep 0.05	# past the 10 ms granularity
	touch -r t/a/f2 ref
	printf 'TWO' | dd of=t/a/f2 conv=notrunc status=none
	touch -m -r ref t/a/f2
	run hashcache -v "$@" t/a/f2
	assert_success
	[ "$(counter hashed)" -eq 1 ]
	new=${lines[0]%% *}
	[ "$new" != "$old" ]
	[ "$new" = "$(hashcache --no-store --store=file t/a/f2 | cut -d' ' -f1)" ]
}

@test "ctime rule, xattr store: content changed with size and mtime restored (touch -d) is read again" {
	ctime_rule_case --store=xattr
	# A check calls it what it is: a change, not corruption.
	printf 'Two' | dd of=t/a/f2 conv=notrunc status=none
	touch -m -r ref t/a/f2
	run hashcache --check --store=xattr t
	assert_success
	assert_line "CHANGED  t/a/f2"
	assert_line "OK  t/f1"
}

@test "ctime rule, sidecar store: content changed with size and mtime restored (touch -d) is read again" {
	ctime_rule_case --store=file
}

@test "ctime rule: a version 1 xattr record (no write time) is read again once, then trusted" {
	make_tree t
	hashcache t >/dev/null
	hash=$(hashcache --show t/f1 | cut -d' ' -f1)
	v1=$(getfattr --absolute-names --only-values -n user.spookyhash t/f1 | xxd -p | tr -d '\n')
	setfattr -n user.spookyhash -v "0x01${v1:2:80}" t/f1
	run hashcache --show t/f1
	assert_output "-  t/f1"
	run hashcache -v t/f1
	[ "$(counter hashed)" -eq 1 ]
	assert_line "$hash  t/f1"
	run hashcache -v t/f1
	[ "$(counter hashed)" -eq 0 ]
}

@test "--check: a file modified normally is CHANGED, exit 0, and its record is updated" {
	make_tree t
	hashcache t >/dev/null
	echo changed >>t/f1
	age t
	run hashcache --check t
	assert_success
	assert_line "CHANGED  t/f1"
	run hashcache --check t
	assert_success
	assert_line "OK  t/f1"
}

@test "--check: a file without a record is NEW" {
	make_tree t
	hashcache t >/dev/null
	echo new >t/c/new
	age t
	run hashcache --check t
	assert_success
	assert_line "NEW  t/c/new"
	assert_line "OK  t/f1"
}

@test "--show prints cached hashes without reading anything; '-' for missing or stale" {
	make_tree t
	hashcache t/f1 t/a/f2 >expected
	echo more >>t/a/f2
	age t
	trace_reads trace hashcache --show t >out
	run cat out
	assert_line "$(head -n 1 expected)"
	assert_line -- "-  t/a/f2"
	assert_line -- "-  t/a/b/big"
	run data_reads trace "$PWD/t"
	assert_output ""
	run getfattr --absolute-names -n user.spookyhash t/a/b/big
	assert_failure
}

@test "--clear removes our xattrs and .spookyhashes files; -v names what was cleared" {
	make_tree t
	hashcache t >/dev/null
	hashcache --store=file t >/dev/null
	assert_file_exists t/.spookyhashes
	setfattr -n user.other -v keep t/f1
	run hashcache --clear -v t
	assert_success
	assert_line "cleared  t/f1"
	[ "${#lines[@]}" -eq 5 ]	# four files and the summary
	run getfattr --absolute-names -d t/f1
	assert_output --partial 'user.other="keep"'
	refute_output --partial spookyhash
	run find t -name .spookyhashes
	assert_output ""
	run hashcache --show t
	assert_line -- "-  t/f1"
}

@test "--no-store and --dry-run write nothing" {
	make_tree t
	for opt in --no-store -n; do
		run hashcache "$opt" t
		assert_success
		[ "${#lines[@]}" -eq 4 ]
		run hashcache "$opt" --store=file t
		assert_success
	done
	run getfattr --absolute-names -R -d -m - t
	refute_output --partial spookyhash
	run find t -name .spookyhashes
	assert_output ""
	hashcache t >/dev/null
	run hashcache --clear -n t
	run getfattr --absolute-names -n user.spookyhash t/f1
	assert_success
}

@test "--store=file keeps records in .spookyhashes, touches no xattr" {
	make_tree t
	run hashcache --store=file t
	assert_success
	run getfattr --absolute-names -R -d -m - t
	refute_output --partial spookyhash
	run head -n 1 t/.spookyhashes
	assert_output "spookyhashes 1"
	run grep -c . t/a/.spookyhashes
	assert_output 2		# header and f2
	run awk 'NR == 2 { print NF, $7 }' t/a/.spookyhashes
	assert_output "8 f2"
}

@test "the sidecar is replaced whole by rename (never edited in place) and is mode 0600" {
	make_tree t
	hashcache --store=file t >/dev/null
	[ "$(stat -c %a t/.spookyhashes)" = 600 ]
	ino=$(stat -c %i t/.spookyhashes)
	echo three >t/f3
	age t
	hashcache --store=file t >/dev/null
	[ "$(stat -c %i t/.spookyhashes)" != "$ino" ]
	run grep -c . t/.spookyhashes
	assert_output 3
	run find t -name '.tu-*'
	assert_output ""
	# A mode the user chose is kept.
	chmod 644 t/.spookyhashes
	echo four >t/f4
	age t
	hashcache --store=file t >/dev/null
	[ "$(stat -c %a t/.spookyhashes)" = 644 ]
}

@test "records of files gone from a directory are dropped from its sidecar" {
	make_tree t
	echo x >t/gone
	age t
	hashcache --store=file t >/dev/null
	run grep -c ' gone ' t/.spookyhashes
	assert_output 1
	rm t/gone
	hashcache --store=file t >/dev/null
	run grep -c ' gone ' t/.spookyhashes
	assert_output 0
	run grep -c ' f1 ' t/.spookyhashes
	assert_output 1
}

@test "a file replaced by mv or cp -p with the same size and mtime: no false hit in the sidecar" {
	make_tree t
	echo aaaa >t/f
	echo bbbb >other
	echo cccc >third
	age t
	touch -r t/f other third
	hashcache --store=file t >/dev/null
	mv other t/f
	run hashcache --store=file -v t/f
	assert_line "$(hashcache --no-store --store=xattr t/f)"
	[ "$(counter hashed)" -eq 1 ]
	cp -p third t/f
	[ "$(stat -c %Y.%y t/f)" = "$(stat -c %Y.%y third)" ]
	run hashcache --store=file -v t/f
	[ "$(counter hashed)" -eq 1 ]
	run hashcache --store=file --show t/f
	[ "${output%% *}" = "$(hashcache --no-store third | cut -d' ' -f1)" ]
}

@test "racy: a file rewritten within the same timestamp tick after hashing gets no stale hit" {
	mkdir t
	echo aaaa >t/f
	# An mtime just ahead of the clock puts the hashing "in the same tick"
	# as the last write, however slowly this machine starts processes.
	tick="@$(($(date +%s) + 2)).500000000"
	touch -m -d "$tick" t/f
	run hashcache t/f
	hash_a=${output%% *}
	run hashcache --show t/f
	assert_output -- "-  t/f"	# stored, but not trusted
	echo bbbb >t/f			# same size...
	touch -m -d "$tick" t/f		# ...and the same mtime
	run hashcache -v t/f
	[ "$(counter hashed)" -eq 1 ]
	hash_b=${lines[0]%% *}
	[ "$hash_a" != "$hash_b" ]
	[ "$hash_b" = "$(hashcache --no-store --store=file t/f | cut -d' ' -f1)" ]
	# The control: an old mtime is trusted at once.
	echo cccc >t/old
	age t
	hashcache t/old >/dev/null
	run hashcache --show t/old
	assert_output --regexp '^[0-9a-f]{32}  t/old$'
}

@test "hard links share one record (xattr): hashing one name answers for the other" {
	make_tree t
	ln t/f1 t/c/link
	hashcache t/f1 >/dev/null
	run hashcache -v t/c/link
	[ "$(counter cached)" -eq 1 ]
	[ "$(counter hashed)" -eq 0 ]
}

@test "hard links in one directory with --store=file: read once for two names" {
	make_tree t
	ln t/f1 t/f1-link
	run hashcache --store=file -v t
	[ "$(counter files)" -eq 5 ]
	[ "$(counter hashed)" -eq 4 ]
	[ "$(grep -c '  t/f1' <<<"$output")" -eq 2 ]
	run hashcache --store=file -v t
	[ "$(counter hashed)" -eq 0 ]
}

@test "symlinks, FIFOs and sockets are skipped and never opened; links are not followed" {
	make_tree t
	mkfifo t/fifo t/a/fifo2
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' t/sock
	ln -s "$CANARY" t/out
	ln -s "$CANARY/file" t/a/outfile
	ln -s f1 t/rel
	run timeout 20 env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=open,openat,openat2 -o trace hashcache -v t
	assert_success
	[ "$(counter files)" -eq 4 ]
	[ "$(counter skipped)" -eq 6 ]
	refute_output --partial fifo
	refute_output --partial canary
	run grep -E 'fifo|sock|"out|outfile|"rel' trace
	assert_output ""
	run getfattr --absolute-names -R -d -m - "$CANARY"
	refute_output --partial spookyhash
	assert_canary
}

@test "a symlink PATH is not followed (a warning, exit 0); 'LINK/' walks its directory" {
	make_tree t
	ln -s t tl
	run hashcache tl
	assert_success
	assert_output --partial "warning"
	assert_output --partial "not followed"
	run hashcache tl/
	assert_success
	assert_line --regexp '^[0-9a-f]{32}  tl/f1$'
	[ "${#lines[@]}" -eq 4 ]
}

@test "odd names (newline, invalid UTF-8, backslash) round-trip through the sidecar and -0" {
	mkdir t
	nl=$'new\nline' bad=$'bad\xff\xfename' bs='back\slash'
	echo 1 >"t/$nl"
	echo 2 >"t/$bad"
	echo 3 >"t/$bs"
	echo 4 >"t/sp ace"
	age t
	hashcache --store=file -0 t >out0
	run grep -c 'new\\x0aline' t/.spookyhashes
	assert_output 1
	run grep -c 'bad\\xff\\xfename' t/.spookyhashes
	assert_output 1
	run grep -c 'back\\x5cslash' t/.spookyhashes
	assert_output 1
	# -0: raw names, NUL-terminated; every name comes back as it is.
	mapfile -d '' -t recs <out0
	[ "${#recs[@]}" -eq 4 ]
	printf '%s\n' "${recs[@]#*  }" | LC_ALL=C sort >got
	printf '%s\n' "t/$nl" "t/$bad" "t/$bs" "t/sp ace" | LC_ALL=C sort >want
	cmp got want
	# From the cache, the same records, and nothing is read.
	run hashcache --store=file -v t
	[ "$(counter hashed)" -eq 0 ]
	[ "$(hashcache --store=file -0 t | tr '\0' '\n' | sort)" = "$(tr '\0' '\n' <out0 | sort)" ]
}

@test "names with a newline or backslash are escaped the md5sum way" {
	mkdir t
	echo 1 >"t/a"$'\n'"b"
	echo 2 >'t/c\d'
	age t
	run hashcache t
	assert_line --regexp '^\\[0-9a-f]{32}  t/a\\nb$'
	assert_line --regexp '^\\[0-9a-f]{32}  t/c\\\\d$'
}

@test "-q prints nothing; the exit status still tells" {
	make_tree t
	run hashcache -q t
	assert_success
	assert_output ""
	run hashcache -q --check t
	assert_success
	assert_output ""
}

@test "a corrupt sidecar: garbage lines are ignored with a warning, and the file is rewritten right" {
	make_tree t
	hashcache --store=file t >/dev/null
	printf 'garbage here\n\x01\x02 binary junk\n' >>t/.spookyhashes
	run hashcache --store=file -v t
	assert_success
	assert_output --partial "warning: cannot read cache 't/.spookyhashes'"
	assert_output --partial "line 3: not a record"
	assert_output --partial "line 4: not a record"
	[ "$(counter hashed)" -eq 0 ]	# the good records still count
	run grep -c 'garbage' t/.spookyhashes
	assert_output 0
	run hashcache --store=file -v t
	[ "$(counter warnings)" -eq 0 ]
	[ "$(counter hashed)" -eq 0 ]
}

@test "a corrupt sidecar: a record with a bad check value is not trusted" {
	make_tree t
	hashcache --store=file t >/dev/null
	# Change one digit of f1's digest; the check value no longer fits.
	awk '/ f1 / { $0 = (substr($0, 1, 1) == "0" ? "1" : "0") substr($0, 2) } 1' \
		t/.spookyhashes >sc && cat sc >t/.spookyhashes
	run hashcache --store=file -v t
	assert_output --partial "bad check value"
	[ "$(counter hashed)" -eq 1 ]
	run hashcache --store=file -v t
	[ "$(counter warnings)" -eq 0 ]
	[ "$(counter hashed)" -eq 0 ]
}

@test "a corrupt sidecar: a truncated last line is ignored and the file rewritten" {
	make_tree t
	echo zzz >t/zz
	age t
	hashcache --store=file t >/dev/null
	truncate -s -7 t/.spookyhashes
	run hashcache --store=file -v t
	assert_output --partial "truncated"
	[ "$(counter hashed)" -eq 1 ]
	run tail -c 1 t/.spookyhashes
	assert_output ""	# ends with a newline again
	run hashcache --store=file -v t
	[ "$(counter warnings)" -eq 0 ]
	[ "$(counter hashed)" -eq 0 ]
}

@test "a corrupt sidecar: duplicate names are both ignored, and one record is written back" {
	make_tree t
	hashcache --store=file t >/dev/null
	grep ' f1 ' t/.spookyhashes >dup
	cat dup >>t/.spookyhashes
	run hashcache --store=file -v t
	assert_output --partial "duplicate name"
	[ "$(counter hashed)" -eq 1 ]
	run grep -c ' f1 ' t/.spookyhashes
	assert_output 1
}

@test "a sidecar of an unknown version is not trusted at all, and is rewritten as version 1" {
	make_tree t
	hashcache --store=file t >/dev/null
	sed -i '1s/.*/spookyhashes 9/' t/.spookyhashes
	run hashcache --store=file -v t
	assert_output --partial "unknown version 9"
	[ "$(counter hashed)" -eq 1 ]	# t/f1; the other directories have sidecars of their own
	run head -n 1 t/.spookyhashes
	assert_output "spookyhashes 1"
}

@test "an xattr record of an unknown version is ignored with a warning and replaced" {
	make_tree t
	setfattr -n user.spookyhash -v 0x09aabbcc t/f1
	run hashcache -v t/f1
	assert_success
	assert_output --partial "unknown version"
	[ "$(counter hashed)" -eq 1 ]
	run hashcache -v t/f1
	[ "$(counter cached)" -eq 1 ]
}

@test "an unreadable file is reported, the rest is hashed, exit 1" {
	need_root "chown to another user"
	make_tree own/t
	chown -R nobody: own
	chmod 000 own/t/a/f2
	run as_nobody hashcache own/t
	[ "$status" -eq 1 ]
	assert_output --partial "cannot open 'own/t/a/f2': Permission denied"
	assert_line --regexp '^[0-9a-f]{32}  own/t/f1$'
}

@test "a directory we may not write: hashes are printed, a warning, exit 0" {
	need_root "chown to another user"
	make_tree own/t
	chown -R nobody: own
	chmod 555 own/t
	run as_nobody hashcache --store=file own/t
	assert_success
	assert_output --partial "warning: cannot store hashes in 'own/t': Permission denied"
	assert_line --regexp '^[0-9a-f]{32}  own/t/f1$'
	assert_file_not_exists own/t/.spookyhashes
	assert_file_exists own/t/a/.spookyhashes
}

@test "a temporary sidecar left by a crash is removed; other '.tu-' names are left alone" {
	make_tree t
	hashcache --store=file t >/dev/null
	cp t/.spookyhashes t/.tu-0123456789abcdef0123456789abcdef
	echo 'not ours' >t/.tu-fedcba9876543210fedcba9876543210
	touch -d '1 hour ago' t/.tu-*
	cp t/.spookyhashes t/.tu-00000000000000000000000000000000	# fresh: maybe in use
	run hashcache --store=file t
	assert_success
	refute_output --partial '.tu-'
	assert_file_not_exists t/.tu-0123456789abcdef0123456789abcdef
	assert_file_exists t/.tu-fedcba9876543210fedcba9876543210
	assert_file_exists t/.tu-00000000000000000000000000000000
}

@test "-j 1 and -j 4 give the same lines" {
	make_tree t
	mkdir -p t/d{1..6}
	for i in 1 2 3 4 5 6; do echo "$i" >"t/d$i/f"; done
	age t
	run hashcache -j 1 --no-store t
	one=$(sort <<<"$output")
	run hashcache -j 4 t
	[ "$(sort <<<"$output")" = "$one" ]
	[ "${#lines[@]}" -eq 10 ]
}

@test "--one-file-system does not enter other mounts" {
	need_root "mount"
	make_tree t
	mkdir t/mnt
	mount -t tmpfs none t/mnt
	echo inside >t/mnt/f
	age t
	run hashcache -x t
	assert_success
	refute_output --partial "t/mnt/f"
	run hashcache t
	assert_output --partial "t/mnt/f"
}

@test "--progress draws a line on a terminal's stderr and changes no output" {
	make_tree t
	on_tty hashcache --progress t
	assert_success
	assert_output --partial "looked at 4 files"
}

@test "bad usage exits 2" {
	mkdir t
	run hashcache --check --show t
	[ "$status" -eq 2 ]
	run hashcache --fix t
	[ "$status" -eq 2 ]
	run hashcache --store=cloud t
	[ "$status" -eq 2 ]
	run hashcache
	[ "$status" -eq 2 ]
	run hashcache -j 0 t
	[ "$status" -eq 2 ]
}

@test "a missing PATH is reported, the others are done, exit 1" {
	make_tree t
	run hashcache nowhere t/f1
	[ "$status" -eq 1 ]
	assert_output --partial "cannot open 'nowhere': No such file or directory"
	assert_line --regexp '^[0-9a-f]{32}  t/f1$'
}

@test "--help and --version" {
	run hashcache --help
	assert_success
	assert_output --partial "--check"
	assert_output --partial "Exit status"
	run hashcache --version
	assert_success
	assert_output --partial "treeutils"
}

# ---- issue 12/13: output that scripts can rely on ----------------------------------

@test "--quiet hides only OK lines: --check -q still prints NEW, CHANGED and CORRUPT" {
	make_tree t
	hashcache t >/dev/null
	echo changed >>t/f1
	echo new >t/c/new
	age t
	rot t/a/f2 TWO
	run hashcache -q --check t
	[ "$status" -eq 3 ]
	assert_line "CHANGED  t/f1"
	assert_line "NEW  t/c/new"
	assert_line "CORRUPT  t/a/f2"
	refute_output --partial "OK  "
	[ "${#lines[@]}" -eq 3 ]
}

@test "output in a stable order: sorted by path within each directory, so two runs diff clean" {
	mkdir -p t
	# Made in reverse order, so neither inode nor creation order is the
	# name order.
	for d in z y a-b a; do
		mkdir -p "t/$d/sub"
		for f in 9 5 1 b_ a; do echo "$d $f" >"t/$d/$f"; echo "$d sub $f" >"t/$d/sub/$f"; done
	done
	age t
	run hashcache -j 4 t
	assert_success
	printf '%s\n' "${lines[@]}" | cut -c35- >got
	python3 -c 'import sys; p = [l.rstrip("\n") for l in open(sys.argv[1])]; sys.stdout.write("".join(x + "\n" for x in sorted(p, key=lambda s: s.encode().split(b"/"))))' got >want
	diff want got
	[ "$(head -n 1 got)" = "t/a/1" ]
	hashcache -j 4 --check t >check1
	hashcache -j 1 --check t >check2
	diff check1 check2
}

@test "stdout lines are written whole: two runs on one pipe never split each other's lines" {
	mkdir t
	long=$(printf 'n%.0s' $(seq 1 150))
	for i in $(seq 1 400); do echo "$i" >"t/${long}_$i"; done
	age t
	hashcache t >/dev/null
	{ hashcache t & hashcache t & hashcache t & wait; } | cat >out
	[ "$(wc -l <out)" -eq 1200 ]
	run grep -vc "^[0-9a-f]\{32\}  t/${long}_[0-9]*\$" out
	assert_output 0
}

# ---- issue 13: -c, md5sum-style lists (checked against md5sum itself) ---------------

# A list of FILES in both formats: ours in sums, md5sum's in md5s.
make_lists() {
	hashcache "$@" >sums
	md5sum "$@" >md5s
}

@test "-c FILE checks an md5sum-format list as md5sum -c does: 'NAME: OK', exit 0" {
	make_tree t
	make_lists t/f1 t/a/f2 t/c/empty
	run hashcache -c sums
	assert_success
	assert_output "$(md5sum -c md5s)"
	assert_line "t/f1: OK"
	# --check-list is -c.
	run hashcache --check-list sums
	assert_output "$(md5sum -c md5s)"
	# The list itself is never hashed as a tree file (the old -c did).
	refute_output --partial "sums"
}

@test "-c: a changed file is 'NAME: FAILED', with md5sum's closing warning, exit 1" {
	make_tree t
	make_lists t/f1 t/a/f2
	echo different >t/f1
	run hashcache -c sums
	[ "$status" -eq 1 ]
	md5out=$(md5sum -c md5s 2>&1) || true
	assert_output "${md5out//md5sum:/hashcache:}"
	assert_line "t/f1: FAILED"
	assert_line "hashcache: WARNING: 1 computed checksum did NOT match"
}

@test "-c: a missing file is 'FAILED open or read' and counted, as with md5sum" {
	make_tree t
	make_lists t/f1 t/a/f2
	rm t/a/f2
	run hashcache -c sums
	[ "$status" -eq 1 ]
	assert_line "t/a/f2: FAILED open or read"
	assert_line "hashcache: WARNING: 1 listed file could not be read"
	run md5sum -c md5s
	[ "$status" -eq 1 ]
	assert_line "t/a/f2: FAILED open or read"
}

@test "-c --quiet prints only failures, --status prints nothing; the exit status tells (as md5sum)" {
	make_tree t
	make_lists t/f1 t/a/f2
	run hashcache -c --quiet sums
	assert_success
	assert_output ""
	echo different >t/f1
	run hashcache -c --quiet sums
	[ "$status" -eq 1 ]
	md5out=$(md5sum -c --quiet md5s 2>&1) || true
	assert_output "${md5out//md5sum:/hashcache:}"
	run hashcache -c --status sums
	[ "$status" -eq 1 ]
	assert_output ""
	run md5sum -c --status md5s
	[ "$status" -eq 1 ]
	assert_output ""
}

@test "-c: improperly formatted lines are counted, comments and blank lines skipped; none good is an error" {
	make_tree t
	make_lists t/f1
	{ echo '# a comment'; echo; echo 'not a checksum line'; cat sums; } >mixed
	{ echo '# a comment'; echo; echo 'not a checksum line'; cat md5s; } >mixed5
	run hashcache -c mixed
	assert_success
	md5out=$(md5sum -c mixed5 2>&1)
	assert_output "${md5out//md5sum:/hashcache:}"
	assert_line "hashcache: WARNING: 1 line is improperly formatted"
	echo 'garbage' >bad
	run hashcache -c bad
	[ "$status" -eq 1 ]
	assert_output --partial "no properly formatted SpookyHash checksum lines found"
	run md5sum -c bad
	[ "$status" -eq 1 ]
}

@test "-c: names with a newline or backslash round-trip through the '\\' escape, as with md5sum" {
	mkdir t
	echo a >"t/new
line"
	echo b >'t/back\slash'
	age t
	make_lists t/*
	grep -q '^\\' sums
	run hashcache -c sums
	assert_success
	assert_output "$(md5sum -c md5s)"
	assert_line '\t/new\nline: OK'
	assert_line 't/back\slash: OK'
}

@test "-c: '-' reads the list from standard input, as does no operand; a name '-' is standard input" {
	make_tree t
	hashcache t >sums
	run sh -c 'hashcache -c - <sums'
	assert_success
	[ "$(grep -c ': OK$' <<<"$output")" -eq 4 ]
	run sh -c 'hashcache -c <sums'
	assert_success
	[ "$(grep -c ': OK$' <<<"$output")" -eq 4 ]
	run sh -c 'printf data | hashcache -'
	assert_success
	[ "${output#*  }" = "-" ]
	echo "$output" >stdin.sums
	run sh -c 'printf data | hashcache -c stdin.sums'
	assert_success
	assert_output -- "-: OK"
	run sh -c 'printf other | hashcache -c stdin.sums'
	[ "$status" -eq 1 ]
	assert_line -- "-: FAILED"
}

@test "-c with a directory operand checks the tree as --check does (what -c meant before)" {
	make_tree t
	hashcache t >/dev/null
	run hashcache -c t
	assert_success
	assert_output "$(hashcache --check t)"
	assert_line "OK  t/f1"
}

# ---- issue 13: --files0-from ------------------------------------------------------------

@test "--files0-from=FILE takes NUL-ended operands from FILE or standard input" {
	make_tree t
	echo x >"t/odd
name"
	age t
	printf 't/f1\0t/a\0t/odd\nname\0' >list0
	run hashcache --files0-from=list0
	assert_success
	assert_output "$(hashcache t/f1 t/a "t/odd
name")"
	run sh -c 'printf "t/f1\0" | hashcache --files0-from=-'
	assert_success
	assert_output "$(hashcache t/f1)"
}

@test "--files0-from: a zero-length name is an error, the rest is done; operands too is bad usage" {
	make_tree t
	printf 't/f1\0\0t/a/f2\0' >list0
	run hashcache --files0-from=list0
	[ "$status" -eq 1 ]
	assert_output --partial "invalid zero-length file name"
	assert_output --partial "  t/f1"
	assert_output --partial "  t/a/f2"
	run hashcache --files0-from=list0 t
	[ "$status" -eq 2 ]
	assert_output --partial "cannot be combined with --files0-from"
	run hashcache --files0-from=missing
	[ "$status" -eq 2 ]
}
