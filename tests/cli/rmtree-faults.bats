#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# rmtree's retry and rename-away steps, driven by injected unlinkat() failures
# (tests/data/fault_unlinkat.c, an LD_PRELOAD shim): transient errors are
# retried until the timeout, permanent ones are not, and an entry that will
# not go where it is is renamed into the base and retried there.

load ../lib/helpers

setup_file() { build_shim fault_unlinkat.c; }

setup() {
	tu_setup
	mkdir -p t/a/b
	echo data >t/a/b/victim
	touch t/a/other
}
teardown() { tu_teardown; }

faulty() { # ERRNO COUNT NAME -- COMMAND...
	local e=$1 c=$2 n=$3
	shift 4
	TU_FAULT_ERRNO=$e TU_FAULT_COUNT=$c TU_FAULT_NAME=$n TU_FAULT_LOG=$S/calls \
		LD_PRELOAD=$SHIM "$@"
}

@test "a busy file (EBUSY three times) is retried and removed; exit 0" {
	run faulty 16 3 victim -- rmtree t
	assert_success
	assert_output ""
	assert_not_exist t
	[ "$(wc -l <calls)" -eq 4 ]
}

@test "ETXTBSY, EAGAIN and EINTR are transient too" {
	for e in 26 11 4; do
		mkdir -p t2/x && touch t2/x/victim
		rm -f calls
		run faulty "$e" 2 victim -- rmtree t2
		assert_success
		assert_not_exist t2
		[ "$(wc -l <calls)" -eq 3 ]
	done
}

@test "an entry busy beyond --timeout is renamed into the base and retried there" {
	run faulty 16 -1 victim -- rmtree --timeout=0.3 t
	# The shim fails only the original name, so under its random name in
	# the base the file goes, and then so does everything else.
	assert_success
	assert_not_exist t
	[ "$(wc -l <calls)" -ge 3 ]
}

@test "a permanent error (EPERM) is not retried: the rename-away still removes what it can" {
	start=$SECONDS
	run faulty 1 -1 b -- rmtree --timeout=30 t
	# b cannot be removed by name; renamed into the base it can.
	assert_success
	[ $((SECONDS - start)) -lt 10 ]
	rm -f calls
	mkdir -p u/a/b && touch u/a/b/f
	run faulty 1 -1 u -- rmtree --timeout=30 u
	assert_failure 1
	assert_output "rmtree: cannot remove 'u': Operation not permitted"
	[ "$(wc -l <calls)" -eq 1 ]
	assert_dir_exists u
	[ "$(count_entries u)" -eq 0 ]
}

@test "an entry that fails for good even in the base is reported with where it lies" {
	run env TU_FAULT_PREFIX=.tu- bash -c "$(declare -f faulty); faulty 1 -1 victim -- rmtree t"
	assert_failure 1
	assert_output --regexp "^rmtree: cannot remove 't/a/b/victim': Operation not permitted \(left at 't/\.tu-[0-9a-f]{32}'\)$"
	# Its directories went; the base stays, holding only it.
	run find t -mindepth 1
	assert_output --regexp '^t/\.tu-[0-9a-f]{32}$'
	run cat t/.tu-*
	assert_output data
}

@test "an entry busy until the timeout, in the base already, is reported after about the timeout" {
	mkdir v && touch v/stuck v/fine
	start=$(date +%s.%N)
	run faulty 16 -1 stuck -- rmtree --timeout=1 v
	took=$(echo "$(date +%s.%N) - $start" | bc)
	assert_failure 1
	assert_output --partial "cannot remove 'v/stuck': Device or resource busy"
	assert_not_exist v/fine
	assert_file_exists v/stuck
	echo "took $took s"
	[ "$(echo "$took >= 0.9 && $took < 6" | bc)" -eq 1 ]
}
