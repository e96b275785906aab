#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# rmtree under attack: symlink races, concurrent runs, trees that keep
# growing, kill -9, read-only filesystems. `make check` runs a quick slice;
# `make check-hostile` (TU_HOSTILE_LONG=1) runs the long campaign.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# A tree of about 300 directories with files, and a symlink to the canary.
race_tree() {
	mktree spread "$1" 300 5
	for d in "$1"/d00000*; do mkdir -p "$d/x/y" && : >"$d/x/y/f"; done
}

@test "symlink race: a subdirectory swapped with a link to a canary, many rounds" {
	local n total=0
	n=$(rounds 15 500)
	for ((i = 0; i < n; i++)); do
		race_tree t
		ln -s "$CANARY" outside-link
		swapper -t 5 t/d000150 outside-link >swaps &
		ATTACKER=$!
		sleep 0.05
		run rmtree -j 2 t
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		n_swaps=$(cat swaps 2>/dev/null); total=$((total + ${n_swaps:-0}))
		assert_canary
		# Whatever was left (the swapped-out half) must go on a second run.
		for x in t outside-link; do
			if [ -L "$x" ]; then rm "$x"; elif [ -e "$x" ]; then rmtree "$x"; fi
		done
		assert_not_exist t
	done
	assert_canary
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "symlink race inside the tree: directory and link both in the tree" {
	local n total=0
	n=$(rounds 15 500)
	for ((i = 0; i < n; i++)); do
		race_tree t
		ln -s "$CANARY/sub" t/link
		swapper -t 5 t/d000007 t/link >swaps &
		ATTACKER=$!
		sleep 0.05
		run rmtree t
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		n_swaps=$(cat swaps 2>/dev/null); total=$((total + ${n_swaps:-0}))
		assert_canary
		[ -e t ] && rmtree t
		assert_not_exist t
	done
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "symlink race on the base: DIR itself swapped with a link" {
	local n total=0
	n=$(rounds 15 300)
	for ((i = 0; i < n; i++)); do
		race_tree t
		ln -s "$CANARY" link
		swapper -t 5 t link >swaps &
		ATTACKER=$!
		sleep 0.05
		run rmtree t
		kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
		n_swaps=$(cat swaps 2>/dev/null); total=$((total + ${n_swaps:-0}))
		assert_canary
		for x in t link; do
			if [ -L "$x" ]; then rm "$x"; elif [ -e "$x" ]; then rmtree "$x"; fi
		done
	done
	assert_canary
	echo "swaps: $total"
	[ "$total" -gt 0 ]
}

@test "two rmtree runs on the same tree at once: no spurious errors" {
	local n
	n=$(rounds 5 100)
	for ((i = 0; i < n; i++)); do
		mktree spread t 200 50
		for d in t/d0000[0-4]*; do mktree chain "$d/deep" 30; done
		rmtree t 2>err1 &
		local p1=$!
		rmtree t 2>err2 &
		local p2=$!
		local s1=0 s2=0
		wait $p1 || s1=$?
		wait $p2 || s2=$?
		cat err1 err2
		[ "$s1" -eq 0 ] && [ "$s2" -eq 0 ]
		[ ! -s err1 ] && [ ! -s err2 ]
		assert_not_exist t
	done
}

@test "entries appearing while deleting: finishes within the timeout or reports clearly" {
	mktree spread t 20 100
	# A writer that keeps recreating the tree as fast as it can.
	( end=$((SECONDS + 8)); i=0
	  while [ $SECONDS -lt $end ]; do
		mkdir -p t/grow 2>/dev/null && : >"t/grow/f$((i++))" 2>/dev/null
	  done ) &
	ATTACKER=$!
	start=$SECONDS
	run rmtree --timeout=2 t
	took=$((SECONDS - start))
	kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
	echo "status $status after ${took}s: $output"
	[ "$took" -le 8 ]
	if [ "$status" -ne 0 ]; then
		assert_failure 1
		assert_output --partial "entries kept appearing"
	fi
	[ -e t ] && rmtree t
	assert_not_exist t
}

@test "a directory refilled continuously is retried, then reported with the reason" {
	mktree spread t 5 10
	mkdir -p t/hot
	# Keep t/hot non-empty: recreate a file in it as soon as it goes.
	( end=$((SECONDS + 10))
	  while [ $SECONDS -lt $end ]; do : >t/hot/again 2>/dev/null || mkdir -p t/hot 2>/dev/null; done ) &
	ATTACKER=$!
	start=$SECONDS
	run rmtree --timeout=1 t
	took=$((SECONDS - start))
	kill "$ATTACKER" 2>/dev/null || true; wait "$ATTACKER" 2>/dev/null || true; ATTACKER=
	echo "status $status after ${took}s: $output"
	[ "$took" -le 6 ]
	[ "$status" -eq 0 ] || assert_output --partial "entries kept appearing"
}

@test "kill -9 at random moments: a second run removes what is left, temporary names included" {
	need_root chattr
	local n hits=0
	n=$(rounds 8 100)
	for ((i = 0; i < n; i++)); do
		mktree spread t 400 100
		mkdir -p t/d000001/keep && : >t/d000001/keep/imm && chattr +i t/d000001/keep/imm
		rmtree --hide t 2>/dev/null &
		local p=$!
		sleep "0.0$((RANDOM % 8 + 1))"
		kill -9 $p 2>/dev/null && hits=$((hits + 1))
		wait $p 2>/dev/null || true
		chattr -R -i . 2>/dev/null || true
		# Whatever is left: t itself or a hidden .tu- name.
		for x in t .tu-*; do [ -e "$x" ] && rmtree "$x"; done
		run ls -A
		assert_output "canary"
	done
	echo "killed mid-run: $hits of $n"
	[ "$hits" -gt 0 ]
}

@test "a read-only filesystem: each failure reported once, no waiting for the timeout" {
	need_root mount
	mkdir ro
	mount -t tmpfs tmpfs ro
	mktree spread ro/t 3 3
	mount -o remount,ro ro
	start=$SECONDS
	run rmtree --timeout=30 ro/t
	took=$((SECONDS - start))
	assert_failure 1
	assert_output --partial "Read-only file system"
	[ "$took" -le 5 ]
	[ "$(count_entries ro/t)" -eq 12 ]
}

@test "a million entries in 1000 directories (long campaign only)" {
	[ -n "${TU_HOSTILE_LONG:-}" ] || skip "long campaign: make check-hostile"
	mktree spread t 1000 1000
	run /usr/bin/time -f 'maxrss %M' rmtree t
	assert_success
	assert_not_exist t
}

@test "a filesystem without d_type (ext4 -O ^filetype): DT_UNKNOWN resolved safely" {
	need_root "loop mounts"
	truncate -s 64M ext4.img
	mkfs.ext4 -q -O ^filetype ext4.img
	mkdir m
	mount -o loop ext4.img m
	mkdir -p m/t/a/b
	touch m/t/f m/t/a/g
	ln -s "$CANARY" m/t/link-to-dir
	ln -s "$CANARY/file" m/t/link-to-file
	mkfifo m/t/fifo
	# The readdir of this filesystem says DT_UNKNOWN for every entry.
	ASAN_OPTIONS=detect_leaks=0 run strace -f -qq -e trace=getdents64 -v -o gd ls m/t
	run grep -c 'd_type=DT_UNKNOWN' gd
	refute_output 0
	run grep -c 'd_type=DT_REG\|d_type=DT_DIR' gd
	assert_output 0
	ASAN_OPTIONS=detect_leaks=0 run timeout 20 strace -f -qq -e trace=open,openat -o trace rmtree -v m/t
	assert_success
	assert_line "removed 'm/t/link-to-dir'"
	assert_line "removed directory 'm/t/a/b'"
	assert_not_exist m/t
	assert_canary
	# Links, files and the FIFO were only probed, with O_PATH|O_NOFOLLOW
	# (no permission needed, nothing opened for reading, no link followed).
	run grep -cE '"(fifo|link-to-dir|link-to-file|f)", .*O_PATH' trace
	assert_output 4
	run grep -E '"(fifo|link-to-dir|link-to-file|f)", ' trace
	refute_output --regexp 'O_RDONLY\|O_NONBLOCK'
	run grep -E '"(fifo|link-to-dir|link-to-file|f)", ' trace
	assert_output --partial O_NOFOLLOW
	umount m
}
