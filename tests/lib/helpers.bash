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

# Undo what tests leave that a plain rm cannot: immutable flags, mounts.
tu_teardown() {
	cd / || return
	[ -n "${S:-}" ] && [ -d "$S" ] || return 0
	local m
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
