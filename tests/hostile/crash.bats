#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Crash injection: each tool killed -9 at seeded, reproducible instants
# (tests/lib/attack.bash, kill_mid_run), then its promise about what a crash
# leaves is checked, and a rerun completes:
#   rmtree    what is left is a subset of what was there;
#   cptree    no final name holds partial data;
#   dedup     every path keeps its content;
#   hashcache no record claims a hash the content does not have.
# `make check` kills each a few times; `make check-hostile` 100 times.
# A failure prints the seed; TU_ATTACK_SEED=N replays its instants.
# Each check runs outside any condition, so bats's errexit stays on in it;
# nothing here may kill a process it did not start.

load ../lib/helpers
load ../lib/cptree
load ../lib/attack

setup() { tu_setup; }
teardown() { tu_teardown; }

# ---- rmtree --------------------------------------------------------------

rm_prepare() {
	[ ! -e t ] || rmtree t
	# 12,000 entries: about 0.1 s of work on a quiet tmpfs, so a kill at
	# 5-50 ms lands while rmtree runs (3,000 took 10 ms: every kill missed).
	mktree spread t 300 40
	mkdir -p t/d000007/x/y
	mktree sized t/d000007/x/y 5 64K
	ln -s ../f0000000 t/d000003/link
	mkfifo t/d000004/fifo
	[ -n "${RM_BEFORE:-}" ] || RM_BEFORE=$(tree_snapshot t)
}

rm_check() {
	[ -e t ] || return 0
	local extra
	extra=$(comm -13 <(echo "$RM_BEFORE") <(tree_snapshot t))
	[ -z "$extra" ] || { echo "not there before:"; echo "$extra" | head; return 1; }
}

@test "rmtree killed -9: what is left is a subset, and a rerun removes it" {
	kill_mid_run "$(rounds 3 100)" 5 50 rm_prepare rm_check rmtree t
	if [ -e t ]; then
		run rmtree t
		assert_success
	fi
	assert_not_exist t
}

# ---- cptree --------------------------------------------------------------

cp_prepare() {
	[ ! -e d ] || rmtree d
}

cp_check() {
	[ -d d ] || return 0
	assert_no_partial d
	# A rerun into the place the crash left, cleared by rmtree.
	rmtree d
	cptree -a -j 2 s d
	diff -r --no-dereference s d
}

@test "cptree killed -9: no final name holds partial data, and a rerun completes" {
	# About 0.15 s of copying on a quiet tmpfs, well past the last kill (50 ms).
	mktree sized s 20 8M
	mkdir -p s/sub/deeper
	mktree sized s/sub/deeper 30 16K
	kill_mid_run "$(rounds 3 100)" 5 50 cp_prepare cp_check cptree -a -j 2 s d
}

# ---- dedup ---------------------------------------------------------------

dd_prepare() {
	[ ! -e t ] || rmtree t
	mkdir -p t/x/y
	mktree sized t/d0 40 256K
	cp -a t/d0 t/d1
	cp -a t/d0 t/x/d2
	cp -a t/d0 t/x/y/d3
	[ -n "${DD_BEFORE:-}" ] || DD_BEFORE=$(tree_snapshot t)
}

# Every path there before is there with the same content; dedup's own
# temporary names (.tu-) may be left by a crash and are counted.
dd_check() {
	local now missing
	now=$(tree_snapshot t)
	missing=$(comm -23 <(echo "$DD_BEFORE") <(echo "$now"))
	[ -z "$missing" ] || { echo "lost or changed:"; echo "$missing" | head; return 1; }
	DD_LEFT=$((${DD_LEFT:-0} + $(grep -c '/\.tu-' <<<"$now" || true)))
	# The rerun completes and changes no content either.
	run dedup t
	assert_success
	[ -z "$(comm -23 <(echo "$DD_BEFORE") <(tree_snapshot t))" ]
}

@test "dedup killed -9: every path keeps its content, and a rerun completes" {
	kill_mid_run "$(rounds 3 100)" 3 40 dd_prepare dd_check dedup -j 2 t
	echo "temporary names left by crashes: ${DD_LEFT:-0}"
}

# ---- hashcache -----------------------------------------------------------

hc_prepare() {
	[ ! -e t ] || rmtree t
	# About 0.2 s of hashing on a quiet tmpfs, well past the last kill (80 ms).
	mktree sized t 24 8M
	mkdir t/sub
	mktree sized t/sub 40 16K
	touch -d '1 minute ago' t/f* t/sub/f*
	HC_ROUND=$((${HC_ROUND:--1} + 1))
	HC_STORE=auto
	[ $((HC_ROUND % 2)) -eq 0 ] || HC_STORE=file
}

# No record claims a wrong hash (--check says CORRUPT and exits 3 for
# one); a rerun stores every record, and --check then finds them all OK.
hc_check() {
	run hashcache --store=$HC_STORE --check t
	[ "$status" -ne 3 ] || { echo "$output" | grep -v '^OK ' | head; return 1; }
	refute_output --regexp '^CORRUPT '
	run hashcache --store=$HC_STORE -q t
	assert_success
	run hashcache --store=$HC_STORE --check t
	assert_success
	refute_output --regexp '^(NEW|CHANGED|CORRUPT) '
}

@test "hashcache killed -9: no record claims a hash the content does not have, and a rerun completes" {
	kill_mid_run "$(rounds 3 100)" 5 80 hc_prepare hc_check hashcache -j 2 -q t
}
