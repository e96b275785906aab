#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# What a packager relies on: a plain make installs nothing and names what is
# missing, the build flags are honoured, the version is in one place, the
# licence is there, and the SPDX scripts do what they say.

load ../lib/helpers

setup() {
	tu_setup
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
}
teardown() { tu_teardown; }

# fake_dpkg MISSING...: dpkg-query and apt-get stand-ins first on PATH. The
# named packages are "not installed"; apt-get only logs that it was called.
fake_dpkg() {
	mkdir -p fakebin
	printf '%s\n' "$@" >fakebin/missing
	cat >fakebin/dpkg-query <<SH
#!/bin/sh
for a; do p=\$a; done
grep -qx "\$p" "$PWD/fakebin/missing" && exit 1
printf 'install ok installed'
SH
	printf '#!/bin/sh\necho "apt-get $*" >>"%s/apt.log"\n' "$PWD" >fakebin/apt-get
	chmod +x fakebin/*
	export PATH=$PWD/fakebin:$PATH
}

@test "make with a build package missing installs nothing, names the package and fails" {
	fake_dpkg libarchive-dev
	run make -C "$top" --no-print-directory BUILD="$S/b" all
	assert_failure
	assert_output --partial "missing Debian packages for build: libarchive-dev"
	assert_output --partial "NO_DEPS=1"
	assert_not_exist "$S/apt.log"
	assert_not_exist "$S/b/lib"
	# make install: the same check, nothing installed.
	run make -C "$top" --no-print-directory BUILD="$S/b" install DESTDIR="$S/root"
	assert_failure
	assert_not_exist "$S/apt.log"
	assert_not_exist "$S/root"
}

@test "a plain make checks only the build group; check, demo, bench and deb-check install theirs" {
	run make -C "$top" -n --no-print-directory BUILD="$S/b" all
	assert_line "scripts/deps.sh --quiet --check build"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" install
	assert_line "scripts/deps.sh --quiet --check build"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" check
	assert_line "scripts/deps.sh --quiet  build test"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" demo
	assert_line "scripts/deps.sh --quiet  build demo"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" bench
	assert_line "scripts/deps.sh --quiet  build bench"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" deb-check
	assert_line "scripts/deps.sh --quiet  build deb"
	run make -C "$top" -n --no-print-directory BUILD="$S/b" NO_DEPS=1 all
	refute_output --partial deps.sh
}

@test "scripts/deps.sh --check installs nothing even as root; without --check, root installs what is missing" {
	fake_dpkg bats rsync
	run "$top/scripts/deps.sh" --check test
	assert_failure
	assert_output --partial "bats rsync"
	assert_not_exist "$S/apt.log"
	run "$top/scripts/deps.sh" --check build
	assert_success
	if [ "$(id -u)" = 0 ]; then
		run "$top/scripts/deps.sh" --quiet demo
		assert_success
		run cat "$S/apt.log"
		assert_output "apt-get install -y -qq --no-install-recommends rsync"
	fi
	# The groups are disjoint where they should be: building needs no test tool.
	run "$top/scripts/deps.sh" --list build
	refute_output --partial bats
	refute_output --partial hyperfine
}

@test "CPPFLAGS, CFLAGS and LDFLAGS are honoured: Debian's hardening flags build clean under -Werror" {
	command -v dpkg-buildflags >/dev/null || skip "needs dpkg-buildflags (dpkg-dev)"
	[[ $TU_BUILD != *asan* ]] || skip "the flags build is checked once, in the normal suite"
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	cppflags=$(dpkg-buildflags --get CPPFLAGS)
	cflags=$(dpkg-buildflags --get CFLAGS)
	ldflags=$(dpkg-buildflags --get LDFLAGS)
	[[ $cppflags == *-D_FORTIFY_SOURCE=2* && $ldflags == *-z,relro* ]]
	run make -C "$top" -j2 --no-print-directory NO_DEPS=1 BUILD="$S/b" WERROR=-Werror \
		CPPFLAGS="$cppflags" CFLAGS="$cflags" LDFLAGS="$ldflags" all
	assert_success
	refute_output --regexp '\.[ch]:[0-9]+:[0-9]+: (warning|error):'
	# The compile lines carry them as given, and the result shows them.
	assert_output --regexp "cc .*-D_FORTIFY_SOURCE=2.* -c lib/meta.c"
	assert_output --regexp "cc .*-fstack-protector-strong.* -c lib/walk.c"
	run sh -c "nm -D '$S/b/bin/cptree' | grep -c '_chk@'"
	[ "$output" -gt 0 ]
	run sh -c "readelf -lW '$S/b/lib/libtreeutils.so' | grep -c GNU_RELRO"
	assert_output 1
	run sh -c "readelf -dW '$S/b/bin/rmtree' | grep -E 'BIND_NOW|FLAGS.*NOW'"
	assert_success
}

@test "the version is the Makefile's VERSION everywhere: --version, debian/changelog, NEWS, libtreeutils(3)" {
	v=$(make -s -C "$top" --no-print-directory print-version NO_DEPS=1)
	[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
	for t in $(make -s -C "$top" --no-print-directory print-tools NO_DEPS=1); do
		run "$t" --version
		assert_success
		assert_line --index 0 "$t (treeutils) $v"
		assert_line --index 1 --regexp '^Copyright \(C\) [0-9]{4} The treeutils authors\.$'
		assert_line --index 2 --partial "License Apache-2.0"
	done
	run head -n 1 "$top/debian/changelog"
	assert_output --regexp "^treeutils \($v\) "
	run grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+ ' "$top/NEWS"
	assert_output --regexp "^$v "
	run grep -c "\"treeutils $v\"" "$top/man/libtreeutils.3"
	assert_output 1
}

@test "LICENSE is the Apache License 2.0, and debian/copyright says so" {
	run grep -c 'Apache License' "$top/LICENSE"
	[ "$output" -ge 1 ]
	run grep -F 'Version 2.0, January 2004' "$top/LICENSE"
	assert_success
	run grep -F 'END OF TERMS AND CONDITIONS' "$top/LICENSE"
	assert_success
	run grep -x 'License: Apache-2.0' "$top/debian/copyright"
	assert_success
}

@test "scripts/spdx-check.sh lists files without the SPDX line; spdx-add.sh adds it once, keeping first lines first" {
	mkdir tree
	(cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c \
		'[ -e "$1" ] && cp -a --parents "$1" "$2" || true' _ {} "$S/tree")
	cd tree
	# The tree itself carries the line everywhere; take it out of the copy.
	run scripts/spdx-check.sh
	assert_success
	assert_output ""
	git -C "$top" ls-files | while IFS= read -r f; do
		[ -f "$f" ] && sed -i -E '/^(\/\* |# |\.\\" )SPDX-License-Identifier: Apache-2\.0( \*\/)?$/d' "$f"
	done
	run scripts/spdx-check.sh
	assert_failure
	assert_line lib/treeutils.h
	assert_line scripts/deps.sh
	assert_line completions/zsh/_rmtree
	run scripts/spdx-add.sh
	assert_success
	run scripts/spdx-check.sh
	assert_success
	assert_output ""
	# Idempotent: a second run changes nothing.
	find . -type f -not -path './.git/*' -exec md5sum {} + | sort >../before
	run scripts/spdx-add.sh
	assert_output ""
	find . -type f -not -path './.git/*' -exec md5sum {} + | sort >../after
	run diff ../before ../after
	assert_success
	# What must stay first stays first, and the files still work.
	assert_equal "$(head -n 1 scripts/deps.sh)" "#!/usr/bin/env bash"
	assert_equal "$(sed -n 2p scripts/deps.sh)" "# SPDX-License-Identifier: Apache-2.0"
	assert_equal "$(head -n 1 completions/zsh/_rmtree)" "#compdef rmtree"
	assert_equal "$(head -n 1 man/hashcache.1)" "'\\\" t"
	assert_equal "$(head -n 1 lib/treeutils.h)" "/* SPDX-License-Identifier: Apache-2.0 */"
	run cc -fsyntax-only -x c lib/treeutils.h
	assert_success
	bash -n scripts/deps.sh
	if command -v mandoc >/dev/null; then
		run mandoc -T lint man/rmtree.1
		assert_output ""
	fi
	run scripts/deps.sh --list build
	assert_success
}

@test "the test helpers, fault shims and bench programs are built by make, not by scripts" {
	# The scripts that used to compile them call no compiler now (tests that
	# are about compiling, like abi.bats, do so on purpose).
	run grep -nE '(^|[^a-z_.-])(cc|gcc|\$\{?CC\}?(:-[a-z]+\})?) ' "$top"/tests/lib/*.bash \
		"$top/tests/run" "$top/bench/run" "$top/bench/spooky-speed"
	assert_output ""
	for f in "$top"/tests/data/*.c; do
		assert_file_exists "$TU_BUILD/shims/$(basename "${f%.c}").so"
	done
	for f in "$top"/tests/helpers/*.c "$top"/tests/hostile/*.c; do
		[ -e "$f" ] || continue
		assert_file_executable "$TU_BUILD/helpers/$(basename "${f%.c}")"
	done
}
