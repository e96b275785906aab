#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The library as others link it: only what treeutils.h declares is exported,
# no test hook ships, the soname is what the Makefile says, and the header
# works from C++ with the layout C sees.

load ../lib/helpers
load ../lib/options

setup() {
	tu_setup
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	so=$TU_BUILD/lib/libtreeutils.so
}
teardown() { tu_teardown; }

@test "nm -D of libtreeutils.so lists exactly the functions treeutils.h declares" {
	header_functions "$top/lib/treeutils.h" >declared
	[ "$(wc -l <declared)" -ge 20 ]
	# Sanitizer builds also export the sanitizer's interceptors; ours are tu_*.
	nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { sub(/@.*/, "", $3); print $3 }' |
		grep -vE '^(__(asan|ubsan|sanitizer|lsan)_|_(init|fini)$)' | sort -u >exported
	run diff declared exported
	assert_success
}

@test "the shared library's soname is libtreeutils.so.N, with every export under TREEUTILS_N" {
	n=$(make -s -C "$top" --no-print-directory print-soversion NO_DEPS=1)
	run sh -c "readelf -d '$so' | grep SONAME"
	assert_output --partial "[libtreeutils.so.$n]"
	run sh -c "nm -D --defined-only '$so' | grep ' tu_' | grep -v '@@TREEUTILS_$n\$'"
	assert_output ""
}

@test "the shipped libraries hold no test hook; the unit tests' variant does" {
	test_lib=$TU_BUILD/lib/libtreeutils-test.a
	[ -f "$test_lib" ] || skip "no $test_lib (make check builds it)"
	nm --defined-only "$test_lib" | awk 'NF == 3 { print $3 }' | sort -u >test-syms
	nm --defined-only "$TU_BUILD/lib/libtreeutils.a" | awk 'NF == 3 { print $3 }' | sort -u >shipped
	comm -23 test-syms shipped >hooks
	# The variant adds the hooks, and only them.
	run cat hooks
	assert_line tu_dedup_hook
	assert_line tu_dedup_link_max
	assert_line tu_hash_read_hook
	assert_line tu_move_hook
	run sh -c "nm '$TU_BUILD/lib/libtreeutils.a' '$so' 2>/dev/null | grep -E 'tu_dedup_hook|tu_hash_read_hook|tu_dedup_link_max|tu_move_hook'"
	assert_output ""
}

@test "treeutils.h compiles as C++ and the C++ structs have the C layout" {
	command -v g++ >/dev/null || skip "needs g++ (scripts/deps.sh test)"
	# sizeof and the offset of the last field of every struct holding counters.
	cat >layout.inc <<'C'
#include "treeutils.h"
#include <stddef.h>
#include <stdio.h>
#define L(s, f) printf(#s " %zu %zu %zu\n", sizeof(struct s), offsetof(struct s, f), (size_t)_Alignof(struct s))
int main(void)
{
	L(tu_stats, errors);
	L(tu_hashcache_counts, status);
	L(tu_dedup_counts, leftovers);
	L(tu_rmtree_opts, ctx);
	L(tu_hashcache_opts, ctx);
	L(tu_dedup_opts, ctx);
	L(tu_cptree_opts, ctx);
	L(tu_hash_info, size);
	return 0;
}
C
	cp layout.inc layout.c
	sed 's/_Alignof/alignof/' layout.inc >layout.cc
	run cc -std=gnu17 -Wall -Werror -I"$top/lib" layout.c -o layout-c
	assert_success
	run g++ -std=c++11 -Wall -Wextra -pedantic -Werror -I"$top/lib" layout.cc -o layout-cxx
	assert_success
	./layout-c >c.txt
	./layout-cxx >cxx.txt
	run diff c.txt cxx.txt
	assert_success
	# i386 is where _Atomic uint64_t and uint64_t differ in alignment.
	# (Only where both compilers have 32-bit libraries: not on a stock CI.)
	if echo 'int main(void){return 0;}' | cc -m32 -x c - -o m32 2>/dev/null &&
		echo 'int main(){}' | g++ -m32 -x c++ - -o m32 2>/dev/null; then
		cc -m32 -std=gnu17 -I"$top/lib" layout.c -o l32c && g++ -m32 -std=c++11 -I"$top/lib" layout.cc -o l32x &&
			diff <(./l32c) <(./l32x)
	fi
}
