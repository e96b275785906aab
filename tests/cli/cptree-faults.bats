#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree's data copy under injected failures (tests/data/fault_io.c, an
# LD_PRELOAD shim failing copy_file_range or pwrite, as a FUSE or network
# filesystem may): transient errors (EAGAIN, EINTR, EBUSY) are retried at the
# same offset until --timeout, then reported with the path; permanent ones are
# not retried; a file that failed never appears under its final name.

load ../lib/helpers

setup_file() { build_shim fault_io.c; }

setup() {
	tu_setup
	mkdir s
	head -c 3M /dev/urandom >s/victim
	echo other >s/other
}
teardown() { tu_teardown; }

faulty() { # FN ERRNO COUNT PATH -- COMMAND...
	local fn=$1 e=$2 c=$3 p=$4
	shift 5
	TU_FAULT_FN=$fn TU_FAULT_ERRNO=$e TU_FAULT_COUNT=$c TU_FAULT_PATH=$p \
		TU_FAULT_LOG=$S/calls LD_PRELOAD=$SHIM "$@"
}

@test "copy_file_range failing with EAGAIN, EINTR or EBUSY a few times: retried, identical copy, exit 0" {
	for e in 11 4 16; do
		rm -rf d calls
		run faulty copy_file_range "$e" 3 /s/victim -- cptree -a s d
		assert_success
		assert_output ""
		cmp s/victim d/victim
		cmp s/other d/other
		[ "$(wc -l <calls)" -eq 4 ]
	done
}

@test "read/write: a write failing with EAGAIN after the first MiB resumes at its offset" {
	TU_FAULT_NO_CFR=1 TU_FAULT_SKIP=1 run faulty pwrite 11 3 /d/ -- cptree s d
	assert_success
	assert_output ""
	cmp s/victim d/victim
	cmp s/other d/other
	# 3 MiB in 1 MiB writes, one for "other", three failures.
	[ "$(wc -l <calls)" -eq 7 ]
}

@test "copy_file_range failing for good: reported after --timeout, exit 1, no file under its final name" {
	local start=$SECONDS
	run faulty copy_file_range 11 -1 /s/victim -- cptree --timeout=0.5 s d
	assert_failure 1
	assert_output "cptree: cannot copy 's/victim': Resource temporarily unavailable (still failing after --timeout=0.5 s; not copied)"
	[ $((SECONDS - start)) -lt 10 ]
	[ "$(wc -l <calls)" -ge 3 ]
	assert_not_exist d/victim
	cmp s/other d/other
	run ls -A d
	assert_output "other"
}

@test "a write failing for good is reported with the copy's path" {
	TU_FAULT_NO_CFR=1 run faulty pwrite 16 -1 /d/ -- cptree --timeout=0.3 s d
	assert_failure 1
	assert_line "cptree: cannot write 'd/victim': Device or resource busy (still failing after --timeout=0.3 s; not copied)"
	assert_line "cptree: cannot write 'd/other': Device or resource busy (still failing after --timeout=0.3 s; not copied)"
	run ls -A d
	assert_output ""
}

@test "a permanent error (EIO) is not retried" {
	local start=$SECONDS
	run faulty copy_file_range 5 -1 /s/victim -- cptree --timeout=30 s d
	assert_failure 1
	assert_output "cptree: cannot copy 's/victim': Input/output error"
	[ $((SECONDS - start)) -lt 10 ]
	[ "$(wc -l <calls)" -eq 1 ]
	assert_not_exist d/victim
	cmp s/other d/other
}

# A file of 200 MiB is copied in pieces (64 MiB each) with -j 4.
@test "-j 4, a large file in pieces: transient failures are retried; a piece failing for good fails the whole file" {
	mktree sized s/big 1 200M
	run faulty copy_file_range 11 5 /s/big/f0000000 -- cptree -a -j 4 s d
	assert_success
	cmp s/big/f0000000 d/big/f0000000
	rm -rf d calls
	# The first pieces go through, a later one never does.
	TU_FAULT_SKIP=2 run faulty copy_file_range 5 -1 /s/big/f0000000 -- cptree -a -j 4 s d
	assert_failure 1
	assert_output "cptree: cannot copy 's/big/f0000000': Input/output error"
	assert_not_exist d/big/f0000000
	run ls -A d/big
	assert_output ""
	cmp s/victim d/victim
}
