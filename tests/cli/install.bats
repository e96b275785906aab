#!/usr/bin/env bats
# make install and make demo: what a distribution packager and a first-time user rely on.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

@test "make install honours PREFIX and DESTDIR and installs tools, man pages, library and header" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	run make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/root" PREFIX=/opt/tu
	assert_success
	for t in "$top"/tools/*/; do
		t=$(basename "$t")
		[ "$t" = common ] && continue
		assert_file_executable "$S/root/opt/tu/bin/$t"
		assert_file_exists "$S/root/opt/tu/share/man/man1/$t.1"
	done
	assert_file_exists "$S/root/opt/tu/include/treeutils.h"
	assert_file_exists "$S/root/opt/tu/lib/libtreeutils.a"
	assert_link_exists "$S/root/opt/tu/lib/libtreeutils.so"
	run find "$S/root" -newer "$top/Makefile" -path '*/usr/local/*'
	assert_output ""
}

@test "the installed header and library build a program that uses the API" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/root" PREFIX=/usr >/dev/null
	cat >prog.c <<'C'
#include <treeutils.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	struct tu_rmtree_opts o;
	tu_rmtree_opts_init(&o);
	return tu_rmtree(argv[argc - 1], &o) == 0 ? 0 : 1;
}
C
	# A sanitizer build of the library needs the sanitizer runtime first.
	san=
	if nm -D "$S/root/usr/lib/libtreeutils.so" | grep -q __asan; then
		san=-fsanitize=address,undefined
	fi
	run cc -std=gnu17 $san -I"$S/root/usr/include" prog.c -o prog \
		"$S/root/usr/lib/libtreeutils.so" -Wl,-rpath,"$S/root/usr/lib" -pthread
	assert_success
	mkdir -p victim/a
	touch victim/a/f
	run ./prog victim
	assert_success
	assert_not_exist victim
}

@test "the README's demo runs from the top with a relative build dir, as 'make demo' does" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	rel=$(realpath --relative-to="$top" "$TU_BUILD")
	[ "${rel#/}" = "$rel" ]	# relative, as make passes $(BUILD)
	cd "$top"
	run env TMPDIR="$S" scripts/demo.sh "$rel"
	assert_success
	assert_output --partial "the oracle: rsync -aHAXn"
	assert_output --partial "dedup --links"
	assert_output --partial "hashcache --check"
	assert_output --partial "demo done"
	cd "$S"
}

@test "every long option in each tool's --help is in its man page" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	local t o missing=
	for t in "$top"/tools/*/; do
		t=$(basename "$t")
		[ "$t" = common ] && continue
		for o in $("$t" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
			# groff writes a hyphen as \-
			grep -qF -- "${o//-/\\-}" "$top/man/$t.1" || missing+=" $t:$o"
		done
	done
	[ -z "$missing" ] || { echo "not in the man page:$missing"; return 1; }
}
