#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deps.sh: the Debian packages treeutils needs, in groups, and their install.
# Idempotent and non-interactive: it asks dpkg what is missing and installs
# only that. It must never install anything with --check, and never anything
# outside the groups asked for.
#
#   scripts/deps.sh [OPTIONS] [GROUP...]
#
# Groups (default: build test demo, what `make check` and `make demo` need):
#   build   compile the library and the tools (make, make all, make install)
#   test    the unit, CLI and hostile suites (make check, make asan check)
#   demo    make demo
#   bench   the peers bench/run measures (make bench)
#   deb     build and lint the Debian packages (make deb-check)
#   chroot  build them in a fresh Debian 12 chroot (make deb-check-chroot)
#   lint    make lint, make fuzz, make valgrind (clang, clang-tidy, cppcheck,
#           valgrind)
#   all     every group
#
# Options:
#   --check   install nothing: name what is missing and fail if anything is
#             (what make, make all and make install do)
#   --quiet   silent when nothing is missing
#   --list    print the packages of the groups and exit
#
# As non-root, a missing package is an error that prints the exact apt-get
# line to run as root.
set -euo pipefail

declare -A group=(
	[build]="gcc make pkg-config libc6-dev libarchive-dev libacl1-dev"
	[test]="libcmocka-dev bats bats-assert bats-support bats-file
		attr acl e2fsprogs btrfs-progs xfsprogs dosfstools fusefat util-linux
		coreutils findutils diffutils rsync strace libcap2-bin python3 time bc
		xxd binutils g++ mandoc groff-base zsh"
	[demo]="rsync attr e2fsprogs coreutils findutils diffutils"
	[bench]="hyperfine jdupes rdfind rmlint fdupes xxhash b3sum strace time python3"
	[deb]="dpkg-dev debhelper fakeroot lintian"
	[lint]="clang clang-tidy cppcheck valgrind"
	[chroot]="mmdebstrap"
)
order=(build test demo bench deb chroot lint)

usage() {
	echo "usage: scripts/deps.sh [--check] [--quiet] [--list] [build|test|demo|bench|deb|chroot|lint|all]..." >&2
	exit 2
}

check=0 quiet=0 list=0 groups=()
for a in "$@"; do
	case $a in
		--check) check=1 ;;
		--quiet) quiet=1 ;;
		--list) list=1 ;;
		all) groups+=("${order[@]}") ;;
		-*) usage ;;
		*) [ -n "${group[$a]+set}" ] || usage; groups+=("$a") ;;
	esac
done
[ ${#groups[@]} -gt 0 ] || groups=(build test demo)

# The packages of the groups asked for, each once, in order.
packages=()
declare -A seen=()
for g in "${groups[@]}"; do
	for p in ${group[$g]}; do
		[ -n "${seen[$p]+set}" ] && continue
		seen[$p]=1
		packages+=("$p")
	done
done

if [ $list = 1 ]; then
	printf '%s\n' "${packages[@]}"
	exit 0
fi

if ! command -v dpkg-query >/dev/null; then
	[ $quiet = 1 ] || echo "deps: no dpkg here; not checking packages (${groups[*]})" >&2
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet = 1 ] || echo "deps: all ${#packages[@]} packages present (${groups[*]})"
	exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ $check = 1 ]; then
	echo "deps: missing Debian packages for ${groups[*]}: ${missing[*]}" >&2
	echo "deps: install them (as root: apt-get update && $cmd), or build with NO_DEPS=1" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: run as root: apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once if the install
# cannot find a package.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
