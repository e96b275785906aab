#!/usr/bin/env bash
# Installs the Debian packages treeutils needs to build, test, demo and bench.
# Idempotent and non-interactive: it asks dpkg what is missing and installs only
# that. As non-root it prints the exact apt-get line and fails.
#   scripts/deps.sh            install what is missing (verbose)
#   scripts/deps.sh --quiet    the same, silent when nothing is missing
#   scripts/deps.sh --list     print the package list and exit
set -euo pipefail

packages=(
	# build
	gcc make pkg-config libc6-dev libarchive-dev libacl1-dev libattr1-dev
	# unit and CLI tests
	libcmocka-dev bats bats-assert bats-support bats-file
	# tools the tests and oracles call
	attr acl e2fsprogs btrfs-progs xfsprogs dosfstools fusefat util-linux coreutils
	findutils rsync strace libcap2-bin python3 time bc xxd binutils
	# peers measured by bench/run
	hyperfine jdupes rdfind rmlint fdupes xxhash b3sum
)

quiet=0
case "${1:-}" in
	--list) printf '%s\n' "${packages[@]}"; exit 0 ;;
	--quiet) quiet=1 ;;
	"") ;;
	*) echo "usage: scripts/deps.sh [--quiet|--list]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet = 1 ] || echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
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
