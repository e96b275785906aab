#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# mvtree under crashes, full disks, changing and read-only sources: the data
# is always whole in at least one place, and a rerun finishes the move.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# loop_ext4 DIR SIZE: an ext4 of SIZE at DIR.
loop_ext4() {
	need_root mount
	truncate -s "$2" "$S/$1.img"
	mkfs.ext4 -q "$S/$1.img"
	mkdir -p "$1"
	mount -o loop "$S/$1.img" "$1" || skip "cannot loop-mount ext4 here"
}

# whole TREE: TREE equals the snapshot ./snap (the rsync oracle).
whole() {
	[ -d "$1" ] || return 1
	[ -z "$(rsync -aHAXn -i -c -@-1 --numeric-ids snap/ "$1/" 2>&1)" ]
}

assert_no_hidden() {
	run bash -c "ls -A '$1' | grep '^\.tu-'"
	assert_failure
}

key_of() {
	printf '.tu-mv-%016x%016x' "$(stat -c %d "$1")" "$(stat -c %i "$1")"
}

# kill_rounds N SIGNAL...: N moves of snap across filesystems into e/d, each
# sent the next SIGNAL (in turn) at a seeded instant of the move: after each,
# SOURCE or DEST is whole, a rerun finishes, and nothing hidden is left.
# The move runs with every signal at its default action (a background job
# of a script starts with SIGINT ignored).
kill_rounds() {
	local n=$1 i t0 t1 ms p delay sig st hits=0
	shift
	local -a sigs=("$@")
	# How long one whole move takes here, to spread the signals over it.
	cp -a snap s
	t0=$(date +%s%N)
	mvtree s e/d
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000 + 1))
	rm -rf e/d
	RANDOM=${TU_SEED:-4242}
	for ((i = 0; i < n; i++)); do
		cp -a snap s
		delay=$((RANDOM % ms))
		sig=${sigs[i % ${#sigs[@]}]}
		env --default-signal=INT mvtree s e/d 2>/dev/null &
		p=$!
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -"$sig" $p 2>/dev/null || true
		# Counted only when the signal, not the end of the move, ended it.
		st=0
		wait $p 2>/dev/null || st=$?
		[ "$st" -le 128 ] || hits=$((hits + 1))
		# Whole in at least one place; DEST, if there, is always whole.
		if [ -e e/d ]; then
			whole e/d || { echo "round $i ($sig at $delay ms): DEST partial"; return 1; }
		else
			whole s || { echo "round $i ($sig at $delay ms): neither whole"; return 1; }
		fi
		# Stopped after the marker went: the move was complete.
		if [ -e s ] || [ -n "$(ls -A e | grep '^\.tu-')" ]; then
			run mvtree s e/d
			assert_success
		fi
		whole e/d
		assert_not_exist s
		assert_no_hidden e
		assert_no_hidden .
		rm -rf e/d
	done
	echo "ended by the signal: $hits of $n (whole move $ms ms)"
	[ "$hits" -gt 0 ]
}

# snap_tree BIG SMALL: the tree the kill tests move, in ./snap.
snap_tree() {
	mkdir snap
	mktree sized snap/big 1 "$1"
	mktree spread snap/small "$2" 100
	mktree sized snap/mid 50 64K
	touch -d '2001-02-03 04:05:06.7' snap/small/d000000/f0000000
}

@test "kill -9 at seeded points: SOURCE or DEST is whole, and a rerun finishes with nothing hidden left" {
	if [ -n "${TU_HOSTILE_LONG:-}" ]; then
		loop_ext4 e 1G
		snap_tree 200M 40
		kill_rounds 20 KILL
	else
		loop_ext4 e 256M
		snap_tree 16M 4
		kill_rounds 3 KILL
	fi
}

@test "SIGINT and SIGTERM at seeded points: the same states as a crash, and a rerun finishes with nothing hidden left" {
	loop_ext4 e 256M
	snap_tree 16M 4
	if [ -n "${TU_HOSTILE_LONG:-}" ]; then
		kill_rounds 20 INT TERM
	else
		kill_rounds 4 INT TERM
	fi
}

@test "ENOSPC on DEST: SOURCE untouched, the copy removed, the error says how much room was needed" {
	loop_ext4 m 16M
	mktree sized s 40 1M
	cp -a s snap
	run mvtree s m/d
	assert_failure 1
	assert_output --partial "not enough room: the copy needs about 40."
	assert_output --partial "MiB free"
	whole s
	assert_not_exist m/d
	assert_no_hidden m
}

@test "a file appended to after it was copied is kept in SOURCE and reported" {
	loop_ext4 e 512M
	mkdir s
	echo small >s/small
	mktree sized s/z 2 96M
	key=$(key_of s)
	mvtree -j 1 s e/d >out 2>&1 &
	p=$!
	# The hidden copy of s/small is complete once it has its final name.
	for ((i = 0; i < 500; i++)); do
		[ -e "e/$key/small" ] && break
		sleep 0.01
	done
	[ -e "e/$key/small" ] || skip "the move ran too fast to catch"
	[ ! -e e/d ] || skip "the move ran too fast to catch"
	echo appended >>s/small
	wait $p && rc=0 || rc=$?
	cat out
	[ "$rc" = 1 ]
	grep -q "cannot remove 's/small'.*changed after it was copied; kept in SOURCE" out
	[ "$(cat s/small)" = $'small\nappended' ]
	[ "$(cat e/d/small)" = small ]
}

@test "a read-only SOURCE filesystem: the copy is made and kept, SOURCE could not be removed, exit 1" {
	loop_ext4 r 64M
	mkdir r/s
	mktree sized r/s 5 64K
	echo x >r/s/f
	cp -a r/s snap
	mount -o remount,ro r
	run mvtree r/s d
	assert_failure 1
	assert_output --partial "Read-only file system"
	assert_output --partial "SOURCE could not be removed"
	whole d
	whole r/s
	mount -o remount,rw r
}

race_tree() {
	mktree spread "$1" 300 5
	for d in "$1"/d00000*; do mkdir -p "$d/x/y" && echo data >"$d/x/y/f"; done
}

assert_canary_untouched() {
	assert_canary
	[ "$(find "$CANARY" -mindepth 1 | sort)" = \
	  "$(printf '%s\n' "$CANARY/file" "$CANARY/sub" "$CANARY/sub/file")" ]
}

# Every x/y/f of race_tree is somewhere: in SOURCE, in DEST, or (the swapped
# directory) where the attacker's link was.
assert_nothing_lost() {
	local d n f
	for d in d000000 d000001 d000002 d000003 d000004 d000005 d000006 d000007 d000008 d000009; do
		n=0
		for f in "s/$d/x/y/f" "e/d/$d/x/y/f" "$1/x/y/f"; do
			[ -f "$f" ] && [ "$(cat "$f")" = data ] && n=$((n + 1))
		done
		[ "$n" -ge 1 ] || { echo "lost: $d"; return 1; }
	done
	for ((n = 0; n < 300; n++)); do
		printf -v d 'd%06d' "$n"
		[ -e "s/$d/f0000004" ] || [ -e "e/d/$d/f0000004" ] || [ -e "$1/f0000004" ] ||
			{ echo "lost: $d/f0000004"; return 1; }
	done
}

@test "symlink race on SOURCE during a move across filesystems: nothing outside touched, nothing lost" {
	local n total=0 i
	n=$(rounds 2 100)
	loop_ext4 e 128M
	for ((i = 0; i < n; i++)); do
		race_tree s
		ln -s "$CANARY" outside-link
		swapper -t 5 s/d000150 outside-link >swaps &
		ATTACKER=$!
		sleep 0.02
		run timeout 60 mvtree -j 2 s e/d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		[ "$status" -le 1 ] || { echo "$output"; return 1; }
		assert_canary_untouched
		run grep -rl precious e
		assert_failure
		assert_nothing_lost outside-link
		rm -rf s e/d e/.tu-* outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "symlink race in DEST's parent during a move across filesystems: nothing outside touched, nothing lost" {
	local n total=0 i key
	n=$(rounds 2 100)
	loop_ext4 e 128M
	for ((i = 0; i < n; i++)); do
		race_tree s
		key=$(key_of s)
		ln -s "$CANARY/sub" e/outside-link
		swapper -t 5 "e/$key/d000150" e/outside-link >swaps &
		ATTACKER=$!
		run timeout 60 mvtree -j 2 s e/d
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		total=$((total + $(cat swaps)))
		[ "$status" -le 1 ] || { echo "$output"; return 1; }
		assert_canary_untouched
		assert_nothing_lost e/outside-link
		rm -rf s e/d e/.tu-* e/outside-link
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "a deep chain under ulimit -n 64 moves across filesystems, whole" {
	local depth
	depth=$(rounds 400 3000)
	loop_ext4 e 256M
	mktree chain s "$depth"
	run bash -c "ulimit -n 64 && mvtree -j 2 s e/d"
	assert_success
	assert_not_exist s
	[ "$(cd e/d && find . -name f | wc -l)" = "$depth" ]
	assert_no_hidden e
}
