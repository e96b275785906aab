#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree under attack: symlink races on SOURCE and DEST, a full disk, kill -9,
# files changing while copied. `make check` runs a quick slice;
# `make check-hostile` (TU_HOSTILE_LONG=1) runs the long campaign.

load ../lib/helpers
load ../lib/attack

setup() { tu_setup; }
teardown() { tu_teardown; }

race_tree() {
	mktree spread "$1" 300 5
	for d in "$1"/d00000*; do mkdir -p "$d/x/y" && echo data >"$d/x/y/f"; done
}

# The canary directory holds exactly what tu_setup put there.
assert_canary_untouched() {
	assert_canary
	[ "$(find "$CANARY" -mindepth 1 | sort)" = \
	  "$(printf '%s\n' "$CANARY/file" "$CANARY/sub" "$CANARY/sub/file")" ]
}

@test "symlink race on SOURCE: nothing outside SOURCE is read" {
	local n total=0
	n=$(rounds 10 300)
	for ((i = 0; i < n; i++)); do
		race_tree s
		ln -s "$CANARY" outside-link
		swapper -t 5 s/d000150 outside-link >swaps &
		ATTACKER=$!
		sleep 0.02
		run cptree -a -j 2 s d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		assert_canary_untouched
		# Nothing of the canary's was copied: the link, if met, is a link.
		run grep -rl precious d
		assert_failure
		rm -rf s d outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "symlink race on DEST: nothing outside DEST is written" {
	local n total=0
	n=$(rounds 10 300)
	for ((i = 0; i < n; i++)); do
		race_tree s
		ln -s "$CANARY/sub" outside-link
		# The attacker waits for d/d000150 to be made, then swaps it
		# with a link to the canary, again and again.
		swapper -t 5 d/d000150 outside-link >swaps &
		ATTACKER=$!
		run cptree -a -j 2 s d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		assert_canary_untouched
		rm -rf s d outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

# -L follows symlinks, so the guarantee under a race is narrower (see
# DEREFERENCE in cptree(1)): data from outside SOURCE reaches DEST only below
# the name of an entry that was a symlink when cptree followed it, and is
# what that symlink led to then; nothing else outside (here $S/secret, next to
# the canary) is ever read, and nothing outside DEST is ever written.
@test "-L, symlink race on SOURCE: outside data only where a symlink was, nothing outside DEST written" {
	local n total=0 f
	n=$(rounds 10 300)
	mkdir secret
	echo topsecret >secret/file
	for ((i = 0; i < n; i++)); do
		race_tree s
		ln -s "$CANARY" outside-link
		swapper -t 5 s/d000150 outside-link >swaps &
		ATTACKER=$!
		sleep 0.02
		run timeout 60 cptree -L -a -j 2 s d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		[ "$status" -le 1 ] || { echo "$output"; return 1; }
		assert_canary_untouched
		[ "$(cat secret/file)" = topsecret ] && [ "$(ls -A secret)" = file ]
		# The canary's content is copied only where the swapped name was,
		# and as it was.
		run bash -c "grep -rl precious d | grep -v '^d/d000150/'"
		assert_failure
		for f in file sub/file; do
			[ ! -e "d/d000150/$f" ] || cmp "d/d000150/$f" "$CANARY/$f"
		done
		run grep -rl topsecret d
		assert_failure
		rm -rf s d outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "-L, symlink race on DEST: nothing outside DEST is written" {
	local n total=0
	n=$(rounds 10 300)
	for ((i = 0; i < n; i++)); do
		race_tree s
		ln -s "$CANARY/sub" outside-link
		swapper -t 5 d/d000150 outside-link >swaps &
		ATTACKER=$!
		run timeout 60 cptree -L -a -j 2 s d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		[ "$status" -le 1 ] || { echo "$output"; return 1; }
		assert_canary_untouched
		rm -rf s d outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

# A 16 MiB ext4 and a 40 MiB SOURCE.
small_disk() {
	truncate -s 16M "$S/ext4.img"
	mkfs.ext4 -q "$S/ext4.img"
	mkdir m
	mount -o loop "$S/ext4.img" m
	mktree sized s 40 1M
}

@test "ENOSPC: a clear error, and no partial file under a final name" {
	need_root mount
	small_disk
	run cptree s m/d
	assert_failure 1
	assert_output --partial "No space left on device"
	assert_no_partial m/d
}

@test "ENOSPC with --atomic: no DEST at all, nothing hidden left" {
	need_root mount
	small_disk
	run cptree --atomic s m/d
	assert_failure 1
	assert_output --partial "No space left on device"
	assert_not_exist m/d
	run ls -A m
	assert_output "lost+found"
}

# kill_mid_copy N LO HI OPTION...: N times, start `cptree OPTION... s d`,
# kill -9 it after LO to HI milliseconds (seeded: see kill_mid_run), and
# check that no partially written file carries a final name under d; at
# least one kill must have landed while it ran.
kill_mid_copy() {
	local n=$1 lo=$2 hi=$3
	shift 3
	kill_mid_run "$n" "$lo" "$hi" true check_and_clear_d cptree "$@" s d
}

check_and_clear_d() {
	[ ! -d d ] || assert_no_partial d
	rm -rf d
}

@test "kill -9 mid-copy: no partially written file carries its final name" {
	local n
	n=$(rounds 5 50)
	# About 0.2 s of copying on tmpfs: long enough to be killed in the
	# middle, whatever the machine's speed within reason.
	mktree sized s 40 8M
	kill_mid_copy "$n" 10 80 -j 2
}

@test "kill -9 in the middle of large files copied in pieces: no partial file under a final name" {
	local n
	n=$(rounds 4 30)
	# Three files of 256 MiB, each copied in 64 MiB pieces by four
	# threads: 0.3 s or more on tmpfs; killed within its first 0.15 s.
	mktree sized s 3 256M
	kill_mid_copy "$n" 10 149 -a -j 4
}

@test "a large file changing while copied in pieces is copied again, never left torn" {
	local n
	n=$(rounds 3 20)
	mkdir s
	for ((i = 0; i < n; i++)); do
		rm -rf s/f0000000 d go
		mktree sized s 1 200M
		cp s/f0000000 old
		# 40 one-byte changes, in order, at offsets 5 MiB apart, over
		# 0.2 s from the start of the copy on: every state the file
		# passes through is "old" with the first k made.
		python3 - s/f0000000 <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(40):
    os.pwrite(fd, b"\xa5", i * (5 << 20) + 12345)
    if i == 0:
        open("go", "w").close()
    time.sleep(0.005)
PY
		ATTACKER=$!
		while [ ! -e go ]; do sleep 0.01; done
		run cptree -j 4 --timeout=5 s d
		wait "$ATTACKER"
		ATTACKER=
		assert_success
		# The copy is one of those states.
		python3 - old d/f0000000 <<'PY'
import sys
a, b = open(sys.argv[1], "rb").read(), bytearray(open(sys.argv[2], "rb").read())
offs = [i * (5 << 20) + 12345 for i in range(40)]
made = [i for i, o in enumerate(offs) if b[o] != a[o]]
assert made == list(range(len(made))), made
for o in offs:
    b[o] = a[o]
assert b == a, "other bytes differ"
PY
	done
}

@test "a file that keeps changing is reported after the timeout, never left torn" {
	mkdir s
	mktree sized s 3 1M
	( end=$((SECONDS + 6)); while [ $SECONDS -lt $end ]; do echo more >>s/f0000001; done ) &
	ATTACKER=$!
	sleep 0.2
	run cptree --timeout=1 s d
	kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
	if [ "$status" -ne 0 ]; then
		assert_failure 1
		assert_output --partial "kept changing"
		assert_not_exist d/f0000001
	fi
	cmp s/f0000000 d/f0000000
	cmp s/f0000002 d/f0000002
}
