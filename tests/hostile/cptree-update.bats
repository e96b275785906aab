#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree --update under faults and attack: a full disk while files are
# replaced, kill -9 at seeded instants of an update, and the symlink-exchange
# attacker on SOURCE and on DEST during an update with --delete.

load ../lib/helpers
load ../lib/attack

setup() {
	tu_setup
	canary_make
}
teardown() {
	if mountpoint -q m 2>/dev/null; then umount m; fi
	tu_teardown
}

# DIR: directories three deep, small files, a few larger ones, owned by
# nobody (as attack.bats's attack_tree).
attack_tree() {
	mktree spread "$1" 40 6
	mkdir -p "$1"/d000001/x/y "$1"/d000002/x/y
	mktree sized "$1/d000001/x/y" 3 4K
	mktree sized "$1/d000002/x" 3 64K
	mktree sized "$1/big" 4 256K
	give_to_nobody "$1"
}

# Rewrite every file of DIR (same size, other bytes), so that an update
# must rebuild each one.
rewrite_all() {
	local f
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		head -c "$(stat -c %s "$f")" /dev/urandom >"$f"
	done
}

@test "update, ENOSPC: the file being replaced keeps its old content, and the error names it" {
	need_root mount
	truncate -s 16M "$S/ext4.img"
	mkfs.ext4 -q "$S/ext4.img"
	mkdir m
	mount -o loop "$S/ext4.img" m
	mktree sized s 6 1M
	run cptree -a s m/d
	assert_success
	cp -a m/d old
	rewrite_all s
	# Nothing left for a temporary copy of even one file.
	fallocate -l "$(($(df --output=avail -B1 m | tail -1) - 4096))" m/filler 2>/dev/null ||
		dd if=/dev/zero of=m/filler bs=64K status=none 2>/dev/null || true
	run cptree -a -u s m/d
	assert_failure 1
	assert_output --partial "No space left on device"
	assert_output --partial "m/d/f0000000"
	local f
	for f in old/*; do
		cmp "$f" "m/d/${f#old/}"
	done
	run bash -c "find m/d -name '.tu-*' | grep ."
	assert_failure
	# With room again, the next update finishes.
	rm m/filler
	run cptree -a -u s m/d
	assert_success
	run rsync -aHAXn -i -c -@-1 --numeric-ids s/ m/d/
	assert_output ""
}

# Each file of d is its old version (in old) or its new one (in s).
old_or_new() {
	local f rel
	while IFS= read -r -d '' f; do
		rel=${f#d/}
		cmp -s "$f" "s/$rel" || cmp -s "$f" "old/$rel" || {
			echo "'$f' is neither old nor new"
			return 1
		}
	done < <(find d -type f ! -name '.tu-*' -print0)
}

prepare_update() {
	rm -rf d old
	cptree -a s d
	cp -a d old
	rewrite_all s
}

check_then_finish() {
	old_or_new
	run cptree -a -u --delete s d
	assert_success
	run rsync -aHAXn -i -c -@-1 --numeric-ids --delete s/ d/
	assert_output ""
	run bash -c "find d -name '.tu-*' | grep ."
	assert_failure
}

@test "update, kill -9 at seeded instants: every DEST file is old or new, and the next run finishes" {
	local n
	n=$(rounds 5 40)
	# About 0.2 s of rewriting on tmpfs.
	mktree sized s 40 4M
	kill_mid_run "$n" 5 80 prepare_update check_then_finish cptree -a -u --delete -j 2 s d
}

@test "update --delete, SOURCE under attack: the canary is untouched and none of its data copied" {
	need_root "chown to nobody, and the attacker runs as nobody"
	local n i
	n=$(rounds 2 100)
	for ((i = 0; i < n; i++)); do
		attack_tree s
		cptree -a s d
		mktree spread d/gone 10 5	# for --delete
		rewrite_all s/big
		attack_run s -- cptree -a -u --delete --force-dest -j 2 s d
		run grep -rlE 'precious|secret|bait' d
		assert_failure
		rm -rf s d "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

@test "update --delete, a DEST the attacker can write: the canary is untouched" {
	need_root "chown to nobody, and the attacker runs as nobody"
	local n i
	n=$(rounds 2 100)
	for ((i = 0; i < n; i++)); do
		attack_tree s
		mktree sized s/bulk 8 1M
		chown -R root:root s
		cptree -a s d
		mktree spread d/gone 10 5	# for --delete
		rewrite_all s/bulk
		rewrite_all s/big
		give_to_nobody d
		attack_run d -- cptree -a -u --delete --force-dest -j 2 s d
		rm -rf s d "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}
