# SPDX-License-Identifier: Apache-2.0
# Shared setup for the bats suites: assertions, scratch space, and helpers
# for tests that need root (chattr, mounts, other users).

bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load
bats_load_library bats-file 2>/dev/null || load /usr/lib/bats/bats-file/load

: "${TU_BUILD:?run through tests/run (it sets TU_BUILD and PATH)}"

# A scratch directory per test, and a canary outside every tree a tool works
# on. The scratch directory is world-searchable so other users can work in
# their own subdirectories of it.
tu_setup() {
	S=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/tu.XXXXXX")
	chmod 755 "$S"
	CANARY=$S/canary
	mkdir -p "$CANARY/sub"
	echo precious >"$CANARY/file"
	echo precious >"$CANARY/sub/file"
	cd "$S" || return 1
}

# Undo what tests leave that a plain rm cannot: an attacker still running
# ($ATTACKER), FUSE and loop mounts, immutable flags.
tu_teardown() {
	if [ -n "${ATTACKER:-}" ]; then
		kill "$ATTACKER" 2>/dev/null
		wait 2>/dev/null
	fi
	cd / || return
	[ -n "${S:-}" ] && [ -d "$S" ] || return 0
	local m
	for m in $(awk -v s="$S" 'index($2, s) == 1 && $3 ~ /fuse/ { print $2 }' /proc/mounts); do
		fusermount -u "$m" 2>/dev/null
	done
	for m in $(awk -v s="$S" 'index($2, s) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	if [ "$(id -u)" = 0 ]; then
		chattr -R -i -a "$S" 2>/dev/null
	fi
	chmod -R u+rwx "$S" 2>/dev/null
	rm -rf "$S"
}

# The canary outside the tree must be exactly as tu_setup made it.
assert_canary() {
	assert_file_exists "$CANARY/file"
	assert_file_exists "$CANARY/sub/file"
	run cat "$CANARY/file" "$CANARY/sub/file"
	assert_output $'precious\nprecious'
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (${1:-chattr, mount or chown})"
}

# Run a command as the unprivileged user nobody.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# Count the entries below a directory (itself excluded).
count_entries() {
	find "$1" -mindepth 1 | wc -l
}

ino() { stat -c %i "$1"; }

# rounds QUICK LONG: how many rounds a race test runs; LONG in the long
# campaign (make check-hostile sets TU_HOSTILE_LONG).
rounds() {
	if [ -n "${TU_HOSTILE_LONG:-}" ]; then echo "$2"; else echo "$1"; fi
}

# counter NAME: its value in a -v summary held in $output, where counters
# read "NAME N" at the start, or after ': ' or ', '.
counter() {
	sed -n "s/.*\(^\|[:,] \)$1 \([0-9]*\).*/\2/p" <<<"$output" | head -n 1
}

# trace_reads LOG COMMAND...: run COMMAND under strace, logging every
# read-type call with the paths of the fds. LeakSanitizer cannot run under
# ptrace, so leak checks are off here.
trace_reads() {
	local log=$1
	shift
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -y -o "$log" \
		-e trace=read,pread64,readv,preadv,preadv2 "$@"
}

# data_reads LOG DIR: the reads of file data below DIR in a trace_reads log
# (a .spookyhashes sidecar holds records, not file data, and is left out).
data_reads() {
	grep -F "<$2/" "$1" | grep -vF '.spookyhashes>' || true
}

# build_shim SOURCE: the LD_PRELOAD fault shim make built from
# tests/data/SOURCE, as $SHIM (call it from setup_file).
build_shim() {
	export SHIM=$TU_BUILD/shims/${1%.c}.so
	[ -f "$SHIM" ] || { echo "no $SHIM: run make check (or make helpers)" >&2; return 1; }
	# A sanitizer build wants its runtime first; the shim is harmless.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
}

need_fusefat() {
	need_root "mount"
	command -v mkfs.vfat >/dev/null || skip "needs mkfs.vfat (dosfstools)"
	command -v fusefat >/dev/null || skip "needs fusefat (this kernel has no vfat module)"
	[ -c /dev/fuse ] || skip "needs /dev/fuse"
}

# mount_vfat DIR: a FAT image from dosfstools, mounted read-write through
# FUSE at DIR (this kernel has no vfat module).
mount_vfat() {
	truncate -s 16M fat.img
	mkfs.vfat fat.img >/dev/null
	mkdir -p "$1"
	fusefat -o rw+ fat.img "$1" 2>/dev/null
}

# small_tmpfs_with_sidecar DIR: a 4 MiB tmpfs mounted at DIR (needs root),
# with DIR/d holding 20 small files a minute old whose records are in
# DIR/d/.spookyhashes; a copy of that sidecar is saved as ./before.
small_tmpfs_with_sidecar() {
	local dir=$1 i
	need_root "mount"
	mkdir "$dir"
	mount -t tmpfs -o size=4m none "$dir"
	mkdir "$dir/d"
	for i in $(seq 1 20); do echo "$i" >"$dir/d/f$i"; done
	touch -m -d '1 minute ago' "$dir"/d/f*
	hashcache --store=file "$dir/d" >/dev/null
	cp "$dir/d/.spookyhashes" before
}
