#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# make install and make demo: what a distribution packager and a first-time user rely on.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

@test "make install honours PREFIX and DESTDIR and installs tools, man pages, library, header, treeutils.pc and completions" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	run make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/root" PREFIX=/opt/tu
	assert_success
	r=$S/root/opt/tu
	for t in $(make -s -C "$top" --no-print-directory print-tools NO_DEPS=1); do
		assert_file_executable "$r/bin/$t"
		assert_file_exists "$r/share/man/man1/$t.1"
		assert_file_exists "$r/share/bash-completion/completions/$t"
		assert_file_exists "$r/share/zsh/site-functions/_$t"
	done
	assert_file_exists "$r/share/man/man3/libtreeutils.3"
	assert_file_exists "$r/include/treeutils.h"
	assert_file_exists "$r/lib/libtreeutils.a"
	v=$(make -s -C "$top" --no-print-directory print-version NO_DEPS=1)
	n=$(make -s -C "$top" --no-print-directory print-soversion NO_DEPS=1)
	# The real file, its soname link and the development link.
	assert_file_exists "$r/lib/libtreeutils.so.$v"
	[ ! -L "$r/lib/libtreeutils.so.$v" ]
	assert_equal "$(readlink "$r/lib/libtreeutils.so.$n")" "libtreeutils.so.$v"
	assert_equal "$(readlink "$r/lib/libtreeutils.so")" "libtreeutils.so.$n"
	run sh -c "readelf -d '$r/lib/libtreeutils.so.$v' | grep SONAME"
	assert_output --partial "[libtreeutils.so.$n]"
	run cat "$r/lib/pkgconfig/treeutils.pc"
	assert_line "prefix=/opt/tu"
	assert_line "libdir=/opt/tu/lib"
	assert_line "includedir=/opt/tu/include"
	assert_line "Version: $v"
	assert_line "Libs.private: -larchive -lacl -pthread"
	run find "$S/root" -newer "$top/Makefile" -path '*/usr/local/*'
	assert_output ""
}

@test "make install honours BINDIR, LIBDIR, INCLUDEDIR (and INCDIR), MANDIR and the completion directories" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	run make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/root" PREFIX=/p \
		BINDIR=/b LIBDIR=/l INCLUDEDIR=/i MANDIR=/m BASHCOMPDIR=/cb ZSHCOMPDIR=/cz
	assert_success
	assert_file_executable "$S/root/b/rmtree"
	assert_file_exists "$S/root/l/libtreeutils.a"
	assert_file_exists "$S/root/l/pkgconfig/treeutils.pc"
	assert_file_exists "$S/root/i/treeutils.h"
	assert_file_exists "$S/root/m/man1/rmtree.1"
	assert_file_exists "$S/root/m/man3/libtreeutils.3"
	assert_file_exists "$S/root/cb/rmtree"
	assert_file_exists "$S/root/cz/_rmtree"
	run grep -x 'includedir=/i' "$S/root/l/pkgconfig/treeutils.pc"
	assert_success
	# Nothing went to PREFIX's own directories.
	assert_not_exist "$S/root/p"
	# INCDIR, the old name, still works.
	run make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/old" PREFIX=/p INCDIR=/inc
	assert_success
	assert_file_exists "$S/old/inc/treeutils.h"
}

@test "make uninstall removes exactly what make install put there, and nothing else" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	args=(BUILD="$TU_BUILD" DESTDIR="$S/root" PREFIX=/usr LIBDIR=/usr/lib/x MANDIR=/usr/man)
	mkdir -p "$S/root/usr/bin" "$S/root/usr/man/man1"
	echo mine >"$S/root/usr/bin/other-tool"
	echo mine >"$S/root/usr/man/man1/other-tool.1"
	run make -C "$top" --no-print-directory "${args[@]}" install
	assert_success
	run find "$S/root" -not -type d
	[ "${#lines[@]}" -gt 10 ]
	run make -C "$top" --no-print-directory "${args[@]}" uninstall
	assert_success
	run sh -c "find '$S/root' -not -type d | sort"
	assert_output "$(printf '%s\n' "$S/root/usr/bin/other-tool" "$S/root/usr/man/man1/other-tool.1" | sort)"
	run find "$S/root" -not -type d -newer "$top/Makefile" -not -name 'other-tool*'
	assert_output ""
}

# san_flags LIB: the flags a sanitizer build of the library needs in a
# program linked with it (none for a normal build).
san_flags() {
	if nm "$1" 2>/dev/null | grep -q __asan; then
		echo -fsanitize=address,undefined
	elif nm "$1" 2>/dev/null | grep -q __tsan; then
		echo -fsanitize=thread
	fi
}

@test "examples/tu-example.c builds against the installed library through pkg-config, shared and --static" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	make -C "$top" --no-print-directory BUILD="$TU_BUILD" install DESTDIR="$S/root" PREFIX=/usr >/dev/null
	export PKG_CONFIG_SYSROOT_DIR=$S/root PKG_CONFIG_LIBDIR=$S/root/usr/lib/pkgconfig
	san=$(san_flags "$S/root/usr/lib/libtreeutils.a")
	cflags=$(echo $(pkg-config --cflags treeutils))
	assert_equal "$cflags" "-I$S/root/usr/include"

	# Shared: the program needs libtreeutils.so.0 and finds it installed.
	run cc -std=gnu17 -Wall -Werror $san $cflags "$top/examples/tu-example.c" -o ex-shared \
		$(pkg-config --libs treeutils)
	assert_success
	run env LD_LIBRARY_PATH="$S/root/usr/lib" ldd ./ex-shared
	assert_output --partial "libtreeutils.so.0 => $S/root/usr/lib/libtreeutils.so.0"
	mkdir -p victim/a && echo x >victim/a/f
	run env LD_LIBRARY_PATH="$S/root/usr/lib" ./ex-shared hash victim
	assert_success
	assert_output --regexp '^[0-9a-f]{32}  victim/a/f$'
	run env LD_LIBRARY_PATH="$S/root/usr/lib" ./ex-shared rm victim
	assert_success
	assert_not_exist victim

	# Static: libtreeutils.a, and Libs.private supplies what it needs.
	libs=$(pkg-config --static --libs treeutils)
	[[ " $libs " == *" -larchive "* ]]
	run cc -std=gnu17 -Wall -Werror $san $cflags "$top/examples/tu-example.c" -o ex-static \
		${libs/-ltreeutils/-l:libtreeutils.a}
	assert_success
	run ldd ./ex-static
	refute_output --partial libtreeutils
	mkdir -p victim/b && echo y >victim/b/g
	run ./ex-static cp victim copy
	assert_success
	run diff -r victim copy
	assert_success
	run ./ex-static rm victim
	assert_success
	assert_output "removed 3 entries"
	assert_not_exist victim
	# Without Libs.private the static link fails: the test can tell.
	run cc -std=gnu17 $san $cflags "$top/examples/tu-example.c" -o ex-bad \
		$(pkg-config --libs treeutils | sed 's/-ltreeutils/-l:libtreeutils.a/')
	assert_failure
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
