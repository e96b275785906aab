#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The fuzz targets of tests/fuzz, replayed over their checked-in corpora
# (tests/fuzz/corpus/NAME) without libFuzzer, in this build (ASan+UBSan
# in build-asan): every crasher a fuzzing run ever found stays fixed, and
# each target's properties (round trips, agreement with a reference) hold
# on every saved input. `make fuzz` is the fuzzing itself.

load ../lib/helpers

setup() {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
}

replay() {
	local t=$1
	[ -x "$TU_BUILD/fuzz/replay_$t" ] || fail "no $TU_BUILD/fuzz/replay_$t: build with make check"
	[ "$(ls "$top/tests/fuzz/corpus/$t" | wc -l)" -ge 3 ] || fail "corpus $t has under 3 inputs"
	run "$TU_BUILD/fuzz/replay_$t" "$top/tests/fuzz/corpus/$t"
	assert_success
	assert_output --partial "inputs replayed"
}

@test "sidecar text: what is parsed formats to a fixed point, and put records read back exactly" {
	replay sidecar
}

@test "user.spookyhash values: only 41- and 49-byte values decode, and re-encode to themselves" {
	replay xattr
}

@test "quoted and sidecar-escaped names unquote to the name, byte for byte" {
	replay quote
}

@test "exclude patterns match as the fnmatch reference does, on every saved input" {
	replay exclude
}

@test "every tool's option parser survives its saved argument lists" {
	local t n=0
	for t in $(make -s -C "$top" print-tools); do
		replay "options_$t"
		n=$((n + 1))
	done
	[ "$n" -ge 5 ]
}
