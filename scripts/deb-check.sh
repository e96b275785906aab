#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deb-check.sh: make deb-check. Builds the Debian packages (treeutils,
# libtreeutils0, libtreeutils-dev) from a copy of this tree with
# dpkg-buildpackage, lints them with lintian (no error, no warning that
# debian/*.lintian-overrides does not explain), installs them with dpkg -i,
# runs every tool's --version, builds examples/tu-example.c against the
# installed -dev package, and purges the packages again.
#
#   scripts/deb-check.sh            on this machine (root: it runs dpkg -i)
#   scripts/deb-check.sh --chroot   the same in a fresh Debian 12 chroot made
#                                   by mmdebstrap, holding only build-essential
#                                   and the Build-Depends (slow: it fetches
#                                   the packages)
#
# It writes only into a scratch directory, never into this tree, and it never
# removes a treeutils package it did not install: it refuses to start when
# one is installed already.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
chroot=0
case "${1:-}" in
	--chroot) chroot=1 ;;
	"") ;;
	*) echo "usage: scripts/deb-check.sh [--chroot]" >&2; exit 2 ;;
esac

say() { printf 'deb-check: [%3ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'deb-check: %s\n' "$*" >&2; exit 1; }

version=$(make -s --no-print-directory -f Makefile print-version NO_DEPS=1)
changelog=$(dpkg-parsechangelog -S Version)
[ "$changelog" = "$version" ] ||
	die "debian/changelog says $changelog, the Makefile's VERSION $version"
packages=(treeutils libtreeutils0 libtreeutils-dev)
tools=$(make -s --no-print-directory -f Makefile print-tools NO_DEPS=1)

work=$(mktemp -d /tmp/tu-deb.XXXXXX)
installed=0
cleanup() {
	if [ $installed = 1 ]; then
		dpkg -P "${packages[@]}" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The source: what git tracks plus new files not ignored, so uncommitted
# work is built as it is; no build directory comes along.
src=$work/treeutils-$version
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c \
		'[ -e "$1" ] && cp -a --parents "$1" "$2" || true' _ {} "$src"
else
	tar -C "$top" --exclude=./build --exclude=./build-asan -cf - . | tar -C "$src" -xf -
fi

if [ $chroot = 1 ]; then
	command -v mmdebstrap >/dev/null || die "needs mmdebstrap (scripts/deps.sh chroot)"
	[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot)"
	say "building in a fresh Debian 12 chroot (build-essential + Build-Depends)"
	start=$(date +%s)
	# buildd variant: Essential, apt and build-essential. In the chroot,
	# in-chroot.sh adds the Build-Depends from debian/control (apt-get
	# build-dep), builds, installs the packages with apt (so their Depends
	# resolve from Debian) and runs every tool; the packages are copied out.
	name=$(basename "$src")
	debs_in=
	for p in "${packages[@]}"; do
		debs_in+="/build/${p}_${version}_*.deb "
	done
	cat >"$work/in-chroot.sh" <<SH
set -eu
cd /build/$name
apt-get build-dep -y -qq ./ >/build/build-dep.log 2>&1 || { tail -20 /build/build-dep.log; exit 1; }
echo "deb-check: in the chroot: \$(dpkg-query -W -f='\${binary:Package}\n' | wc -l) packages"
dpkg-buildpackage -us -uc -b >/build/build.log 2>&1 || { tail -40 /build/build.log; exit 1; }
apt-get install -y -qq $debs_in >/build/install.log 2>&1 ||
	{ tail -20 /build/install.log; exit 1; }
for t in $tools; do
	first=\$(/usr/bin/\$t --version | head -n 1)
	[ "\$first" = "\$t (treeutils) $version" ] || { echo "\$t --version says '\$first'"; exit 1; }
	echo "\$first"
done
SH
	mmdebstrap --variant=buildd --quiet \
		--customize-hook='mkdir -p "$1/build"' \
		--customize-hook="copy-in $src $work/in-chroot.sh /build" \
		--customize-hook='chroot "$1" sh /build/in-chroot.sh' \
		--customize-hook='copy-out /build '"$work/out" \
		bookworm "$work/chroot" >&2
	rm -rf "$work/chroot"
	say "chroot build, install and run: $(($(date +%s) - start)) s"
	ls "$work/out/build/"*.deb
	exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (dpkg -i); run it as root or use --chroot"
for p in "${packages[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok'; then
		die "$p is installed already; not touching it"
	fi
done

say "dpkg-buildpackage -us -uc -b"
(cd "$src" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
	{ tail -40 "$work/build.log"; die "the package build failed (log above)"; }
# dpkg-gensymbols: new or lost symbols against debian/libtreeutils0.symbols.
grep -A20 'dpkg-gensymbols: warning' "$work/build.log" >&2 || true

say "lintian"
lintian --fail-on error,warning --info --display-level ">=info" "$work"/treeutils_"$version"_*.changes

say "dpkg -i"
installed=1
debs=()
for p in "${packages[@]}"; do
	debs+=("$work/${p}_${version}_"*.deb)
done
dpkg -i "${debs[@]}" >/dev/null
for t in $tools; do
	first=$("/usr/bin/$t" --version | head -n 1)
	[ "$first" = "$t (treeutils) $version" ] || die "/usr/bin/$t --version says '$first'"
	echo "$first"
done
for m in $tools; do
	[ -f "/usr/share/man/man1/$m.1.gz" ] || die "no man page for $m"
done
# The -dev package: the example builds through pkg-config and runs.
cc -o "$work/tu-example" "$top/examples/tu-example.c" $(pkg-config --cflags --libs treeutils)
mkdir -p "$work/t/a"
echo x >"$work/t/a/f"
"$work/tu-example" rm "$work/t" >/dev/null
[ ! -e "$work/t" ] || die "tu-example did not remove its tree"
grep -qE 'libtreeutils.so.0 => /(usr/)?lib/' <<<"$(ldd "$work/tu-example")" ||
	die "tu-example is not linked against the installed libtreeutils.so.0"

say "dpkg -P"
dpkg -P "${packages[@]}" >/dev/null
installed=0
for t in $tools; do
	[ ! -e "/usr/bin/$t" ] || die "/usr/bin/$t is left after dpkg -P"
done
say "ok: built, lint-clean, installed, ran and removed treeutils $version"
