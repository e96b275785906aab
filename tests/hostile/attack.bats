#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Every tool under the one attacker (tests/hostile/attacker.c, run as
# nobody): exchanges with symlinks to a canary outside the tree, subtrees
# moved away and back, files swapped for FIFOs, hard links and other files,
# saves by rename, planted .spookyhashes and .tu- names. The canary (content,
# mode, owner, xattrs, ctime) must come out unchanged, and the tool must end
# by itself with 0 or 1. `make check` runs a few rounds per tool;
# `make check-hostile` (TU_HOSTILE_LONG=1) runs 300.
#
# A failure prints the attack seed; TU_ATTACK_SEED=N replays that run's
# choices (see tests/lib/attack.bash). Known holes are skipped unless
# TU_KNOWN_HOLES=1. This file must never leave a sysctl changed, nor run a
# tool on the canary.

load ../lib/helpers
load ../lib/attack

setup() {
	need_root "chown to nobody, and the attacker runs as nobody"
	tu_setup
	canary_make
}

teardown() {
	if [ -n "${OLD_PH:-}" ]; then sysctl -q -w fs.protected_hardlinks="$OLD_PH"; fi
	tu_teardown
}

# attack_tree DIR: directories three deep, small files, a few larger ones,
# owned by nobody.
attack_tree() {
	mktree spread "$1" 40 6
	mkdir -p "$1"/d000001/x/y "$1"/d000002/x/y
	mktree sized "$1/d000001/x/y" 3 4K
	mktree sized "$1/d000002/x" 3 64K
	mktree sized "$1/big" 4 256K
	give_to_nobody "$1"
}

# The canary's bytes reached nothing under DIR (symlinks are not followed).
refute_canary_data() {
	run grep -rlE 'precious|secret|bait' "$1"
	assert_failure
}

@test "rmtree under attack: the canary is untouched, and a second run removes the rest" {
	local n i
	n=$(rounds 2 300)
	for ((i = 0; i < n; i++)); do
		attack_tree t
		attack_run t -- rmtree t
		if [ -e t ]; then
			run rmtree t
			assert_success
		fi
		assert_not_exist t
		rm -rf "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

@test "cptree -a, SOURCE under attack: the canary is untouched and none of its data copied" {
	local n i
	n=$(rounds 2 300)
	for ((i = 0; i < n; i++)); do
		attack_tree s
		attack_run s -- cptree -a -j 2 s d
		refute_canary_data d
		rm -rf s d "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

@test "cptree -a, a DEST the attacker can write: the canary is untouched" {
	local n i force=()
	if cptree --help | grep -q -- --force-dest; then force=(--force-dest); fi
	n=$(rounds 3 300)
	for ((i = 0; i < n; i++)); do
		attack_tree s
		# Enough data that the copy lasts while the attacker works.
		mktree sized s/bulk 16 1M
		chown -R root:root s
		mkdir d
		give_to_nobody d
		attack_run d -- cptree -a -j 2 "${force[@]}" s d
		rm -rf s d "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

# dup_tree DIR: 30 groups of 4 identical files (same owner, mode and
# mtime: copies of one directory), in several directories, owned by nobody.
dup_tree() {
	mkdir -p "$1/x/y"
	mktree sized "$1/d0" 30 8K
	cp -a "$1/d0" "$1/d1"
	cp -a "$1/d0" "$1/x/d2"
	cp -a "$1/d0" "$1/x/y/d3"
	give_to_nobody "$1"
}

@test "dedup under attack: the canary is untouched" {
	local n i
	n=$(rounds 2 300)
	for ((i = 0; i < n; i++)); do
		dup_tree t
		attack_run t -- dedup -j 2 t
		rm -rf t "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

@test "dedup while files are saved by rename: every save survives" {
	local n i p lost=0
	n=$(rounds 5 300)
	for ((i = 0; i < n; i++)); do
		dup_tree t
		attack_run t -a s -- dedup -j 2 t
		# The last save of each name must be what the name holds.
		while read -r p; do
			[ -e "$p" ] || continue
			grep -q '^saved ' "$p" || { lost=$((lost + 1)); echo "save lost: $p"; }
		done < <(awk '$2 == "save" { print $3 }' "$S/hold/attack.log" | sort -u)
		rm -rf t "$S/hold"/.atk-*
	done
	[ "$lost" -eq 0 ]
}

@test "hashcache under attack: no xattr, sidecar or ctime change outside the tree" {
	local n i store
	n=$(rounds 2 300)
	for ((i = 0; i < n; i++)); do
		store=auto
		[ $((i % 2)) -eq 0 ] || store=file
		attack_tree t
		attack_run t -- hashcache -j 2 --store=$store t
		rm -rf t "$S/hold"/.atk-*
	done
	echo "attacks: $ATTACK_TOTAL"
	[ "$ATTACK_TOTAL" -gt 0 ]
}

@test "hashcache under attack with fs.protected_hardlinks=0: no record on a planted link to a file outside" {
	local n i
	OLD_PH=$(sysctl -n fs.protected_hardlinks)
	sysctl -q -w fs.protected_hardlinks=0
	n=$(rounds 2 300)
	for ((i = 0; i < n; i++)); do
		attack_tree t
		attack_run t -a fp -- hashcache -j 2 t
		rm -rf t "$S/hold"/.atk-*
	done
}
