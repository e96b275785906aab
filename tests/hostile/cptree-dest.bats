#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree's destination side under attack (issue 9, "Destination-side safety",
# items 1-9): root copies into a DEST, or beside a DEST, that user nobody can
# write, or from a SOURCE nobody can write. One named test per item (item 9
# has one per sub-item). Each shows the hole with nobody attacking or setting
# up, and asserts the promise, not the mechanism, so a fixed engine passes.
#
# Races are made reproducible with a pause shim (built here, from the C at the
# end of this file's setup_file): cptree stops inside one chosen call on one
# chosen name until the test says go, and the attacker acts in that window.
# The shim only widens a window an attacker can hit by speed alone.
#
# Tests that fail on today's code are skipped unless TU_DEST_HOLES=1, so the
# suite stays green until the engine closes them; run them with
#   TU_DEST_HOLES=1 TU_BUILD=$PWD/build PATH=$PWD/build/bin:$PWD/build/helpers:$PATH \
#	bats tests/hostile/cptree-dest.bats
# This file must never leave a sysctl, a mount or a user change behind.

load ../lib/helpers

# hole N: skip unless TU_DEST_HOLES is set (the hole is still open today).
hole() {
	[ -n "${TU_DEST_HOLES:-}" ] || skip "fails on today's code: issue 9 item $1"
}

setup_file() {
	export SHIM=$BATS_FILE_TMPDIR/pause.so
	cc -shared -fPIC -O2 -Wall -o "$SHIM" -x c - -ldl <<'C'
/* pause shim: TU_PAUSE="before|after:CALL:PATTERN" stops the first call
   matching the fnmatch pattern CALL (mkdirat, mknodat, symlinkat, linkat,
   renameat, renameat2, openat) whose name (the new name for linkat, the
   old one for renames) matches PATTERN, creates $TU_PAUSE_DIR/paused and
   waits (at most 20 s) until $TU_PAUSE_DIR/go exists. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_int done;

static int hit(const char *call, const char *name, int after)
{
	const char *spec = getenv("TU_PAUSE"), *dir = getenv("TU_PAUSE_DIR");
	if (!spec || !dir || !name || atomic_load(&done))
		return 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	char *when = buf, *c = strchr(when, ':');
	if (!c) return 0;
	*c++ = 0;
	char *pat = strchr(c, ':');
	if (!pat) return 0;
	*pat++ = 0;
	if (fnmatch(c, call, 0) != 0 || (strcmp(when, "after") == 0) != after)
		return 0;
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (fnmatch(pat, base, 0) != 0 || atomic_exchange(&done, 1))
		return 0;
	char p[4096];
	snprintf(p, sizeof p, "%s/paused", dir);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0) close(fd);
	snprintf(p, sizeof p, "%s/go", dir);
	struct stat st;
	for (int i = 0; i < 20000 && syscall(SYS_newfstatat, AT_FDCWD, p, &st, 0) != 0; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 1;
}

#define NEXT(f) static __typeof__(f) *real; if (!real) real = dlsym(RTLD_NEXT, #f)

int mkdirat(int d, const char *n, mode_t m)
{ NEXT(mkdirat); hit("mkdirat", n, 0); int r = real(d, n, m); if (!r) hit("mkdirat", n, 1); return r; }
int mknodat(int d, const char *n, mode_t m, dev_t v)
{ NEXT(mknodat); hit("mknodat", n, 0); int r = real(d, n, m, v); if (!r) hit("mknodat", n, 1); return r; }
int symlinkat(const char *t, int d, const char *n)
{ NEXT(symlinkat); hit("symlinkat", n, 0); int r = real(t, d, n); if (!r) hit("symlinkat", n, 1); return r; }
int linkat(int od, const char *o, int nd, const char *n, int f)
{ NEXT(linkat); hit("linkat", n, 0); int r = real(od, o, nd, n, f); if (!r) hit("linkat", n, 1); return r; }
int renameat(int od, const char *o, int nd, const char *n)
{ NEXT(renameat); hit("renameat", o, 0); int r = real(od, o, nd, n); if (!r) hit("renameat", o, 1); return r; }
int renameat2(int od, const char *o, int nd, const char *n, unsigned f)
{ NEXT(renameat2); hit("renameat2", o, 0); int r = real(od, o, nd, n, f); if (!r) hit("renameat2", o, 1); return r; }
int openat(int d, const char *n, int fl, ...)
{
	NEXT(openat);
	mode_t m = 0;
	if (fl & (O_CREAT | __O_TMPFILE)) { va_list ap; va_start(ap, fl); m = va_arg(ap, mode_t); va_end(ap); }
	hit("openat", n, 0);
	int r = real(d, n, fl, m);
	if (r >= 0) hit("openat", n, 1);
	return r;
}
int openat64(int d, const char *n, int fl, ...) __attribute__((alias("openat")));
C
}

setup() {
	tu_setup
	PD=$S/pause
	mkdir "$PD"
	# With --force-dest (if the engine adds it), a DEST others can write
	# is taken on purpose, which is what the race tests need.
	FORCE=()
	CP_WRAP=()
	if cptree --help | grep -q -- --force-dest; then FORCE=(--force-dest); fi
	# A directory the attacker owns, beside the trees.
	mkdir "$S/P"
	chown nobody:nogroup "$S/P"
}

teardown() {
	[ -z "${CP_PID:-}" ] || { touch "$PD/go"; wait "$CP_PID" 2>/dev/null; }
	if [ -n "${OLD_PH:-}" ]; then sysctl -q -w fs.protected_hardlinks="$OLD_PH"; fi
	tu_teardown
}

# paused_cptree PAUSE ARG...: start cptree ARG... in the background, to stop
# at PAUSE (see the shim); CP_PID is its pid. Output goes to $S/cp.out.
# CP_WRAP, if set, is a command cptree is run through (env ...).
paused_cptree() {
	local spec=$1
	shift
	rm -f "$PD/paused" "$PD/go"
	# shellcheck disable=SC2097,SC2098
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		LD_PRELOAD=$SHIM TU_PAUSE=$spec TU_PAUSE_DIR=$PD "${CP_WRAP[@]}" cptree "$@" >"$S/cp.out" 2>&1 &
	CP_PID=$!
}

# wait_paused: true once cptree stopped at its pause (within 10 s), false if
# it finished or never got there (then the attack window does not exist).
wait_paused() {
	local i
	for ((i = 0; i < 1000; i++)); do
		[ -e "$PD/paused" ] && return 0
		kill -0 "$CP_PID" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

# finish_cptree: let cptree go on; $status is its exit status, $output its
# output.
finish_cptree() {
	touch "$PD/go"
	status=0
	wait "$CP_PID" || status=$?
	CP_PID=
	output=$(cat "$S/cp.out")
}

# The directory below $S/P whose inode is $1, or nothing.
by_ino() {
	find "$S/P" -xdev -inum "$1" -print -quit
}

# A DEST nobody owns, empty.
nobody_dest() {
	mkdir "$1"
	chown nobody:nogroup "$1"
}

# ---- item 1 ---------------------------------------------------------------

@test "item 1: an inherited default ACL never opens a copy (-a: ACLs exactly the source's)" {
	need_root "chown, mknod"
	mkdir -p s/dir
	echo secret >s/shadow
	chown root:shadow s/shadow
	chmod 0640 s/shadow
	echo inner >s/dir/f
	chmod 0700 s/dir
	chmod 0600 s/dir/f
	mknod s/disk b 7 200
	chown root:disk s/disk
	chmod 0660 s/disk
	mkfifo -m 0600 s/fifo
	# Entries with ACLs of their own keep exactly those.
	mkfifo -m 0640 s/aclfifo
	setfacl -m u:1234:r s/aclfifo
	mkdir s/acldir
	setfacl -m u:1234:rx -d -m u:4321:rwx s/acldir
	mkdir s/defonly
	setfacl -d -m g:5678:rx s/defonly
	echo f >s/defonly/f
	# The attacker owns DEST's parent and gives itself a default ACL.
	as_nobody setfacl -d -m u:nobody:rwx P
	run cptree -a s P/d
	assert_success
	local e a b
	for e in . shadow dir dir/f disk fifo aclfifo acldir defonly defonly/f; do
		a=$(cd s && getfacl -P -c -p "$e" 2>&1)
		b=$(cd P/d && getfacl -P -c -p "$e" 2>&1)
		[ "$a" = "$b" ] || { echo "$e:"; diff <(echo "$a") <(echo "$b"); return 1; }
	done
	run as_nobody cat P/d/shadow
	assert_failure
	run as_nobody sh -c 'echo x >P/d/disk'
	assert_failure
}

@test "item 1: a copy is never more open than its final mode, even while made" {
	need_root "chown"
	mkdir s
	echo secret >s/shadow
	chmod 0640 s/shadow
	as_nobody setfacl -d -m u:nobody:rwx P
	# Stopped right after the file is placed, before its metadata: the
	# attacker opens it then and keeps the fd.
	paused_cptree after:linkat:shadow -a s P/d
	wait_paused || true
	run as_nobody python3 -c 'import sys
try:
    print(open(sys.argv[1]).read())
except OSError:
    pass' P/d/shadow
	finish_cptree
	assert_success
	[ "$(cat P/d/shadow)" = secret ]
	# Whatever it opened then, it holds no bytes of the file now.
	run as_nobody cat P/d/shadow
	assert_failure
}

# ---- item 2 ---------------------------------------------------------------

@test "item 2: metadata of a special file is applied to the entry made, never to what replaced its name" {
	need_root "sysctl, chown"
	OLD_PH=$(sysctl -n fs.protected_hardlinks)
	sysctl -q -w fs.protected_hardlinks=0
	mkdir s outside
	echo "root's" >outside/passwd
	chmod 0644 outside/passwd
	local before
	before=$(stat -c '%u:%g %a %Y' outside/passwd)
	mkfifo -m 0666 s/fifo
	chown nobody:nogroup s/fifo
	touch -h -d '2001-01-01' s/fifo
	nobody_dest d
	paused_cptree after:mknodat:fifo -a "${FORCE[@]}" s d
	wait_paused || true
	# The fifo root just made is replaced by a link to a root file
	# outside both trees. (The link itself changes that file's ctime,
	# so owner, mode and mtime are what must stay.)
	as_nobody sh -c 'ln outside/passwd d/.x && mv -f d/.x d/fifo'
	finish_cptree
	[ "$(stat -c '%u:%g %a %Y' outside/passwd)" = "$before" ] || {
		stat outside/passwd; echo "$output"; return 1; }
}

# ---- item 3 ---------------------------------------------------------------

# A root-owned directory beside DEST, in the attacker's directory.
precious() {
	mkdir P/precious
	echo precious >P/precious/file
	PINO=$(stat -c %i P/precious)
}

assert_precious() {
	local p
	p=$(by_ino "$PINO")
	[ -n "$p" ] || { echo "the precious directory is gone"; return 1; }
	[ "$(ls -A "$p")" = file ] || { echo "$p holds:"; ls -A "$p"; return 1; }
	[ "$(cat "$p/file")" = precious ]
}

# atomic_paused: cptree --atomic s P/d stopped before its final rename;
# $HIDDEN is the hidden name of its tree in P.
atomic_paused() {
	mktree sized s 10 4k
	precious
	paused_cptree 'before:renameat*:.tu-*' --atomic s P/d
	wait_paused || true
	HIDDEN=$(cd P && echo .tu-*)
}

@test "item 3: a failed --atomic copy removes only the hidden tree it made" {
	need_root "chown"
	atomic_paused
	# Make the final rename fail (DEST is now a non-empty directory),
	# and put root's directory under the hidden name.
	as_nobody sh -c 'mkdir P/d && touch P/d/x'
	as_nobody swapper -n 1 -t 2 "P/$HIDDEN" P/precious
	finish_cptree
	assert_failure
	assert_precious
	# The hidden tree, under whatever name it was moved to, is gone.
	run find P -name f0000000
	assert_output ""
}

@test "item 3: the final rename of --atomic moves the directory it made, or fails" {
	need_root "chown"
	atomic_paused
	as_nobody swapper -n 1 -t 2 "P/$HIDDEN" P/precious
	finish_cptree
	assert_precious
	if [ "$status" -eq 0 ]; then
		[ "$(stat -c %i P/d)" != "$PINO" ]
		cmp s/f0000000 P/d/f0000000
	else
		run find P -name f0000000
		assert_output ""
	fi
}

@test "item 3: a failed --atomic copy never removes what someone moved into its hidden tree" {
	need_root "chown"
	# SOURCE's top directory is the attacker's: with -a the copy's top
	# becomes theirs too, but only once it is in place.
	mktree sized s 10 4k
	chown nobody:nogroup s
	chmod 0777 s
	# Root's file in the attacker's directory (a directory would need
	# write permission on itself to move to another parent; a file not).
	echo precious >P/rootfile
	local fino
	fino=$(stat -c %i P/rootfile)
	paused_cptree 'before:renameat*:.tu-*' -a --atomic s P/d
	wait_paused || true
	HIDDEN=$(cd P && echo .tu-*)
	as_nobody mv P/rootfile "P/$HIDDEN/" 2>/dev/null || true
	as_nobody sh -c 'mkdir P/d && touch P/d/x'
	finish_cptree
	assert_failure
	local f
	f=$(find P -xdev -inum "$fino" -print -quit)
	[ -n "$f" ] || { echo "root's file is gone: $output"; return 1; }
	[ "$(cat "$f")" = precious ]
}

# ---- item 4 ---------------------------------------------------------------

@test "item 4: DEST made by cptree is held, never re-opened by name" {
	need_root "chown"
	mktree sized s 10 4k
	precious
	paused_cptree after:mkdirat:d s P/d
	wait_paused || true
	as_nobody swapper -n 1 -t 2 P/d P/precious
	finish_cptree
	assert_precious
}

@test "item 4: a directory made inside DEST is held, never re-opened by name" {
	need_root "chown"
	mkdir -p s/sub
	echo data >s/sub/f
	nobody_dest d
	paused_cptree after:mkdirat:sub "${FORCE[@]}" s d
	wait_paused || true
	as_nobody mkdir d/trap
	local tino
	tino=$(stat -c %i d/trap)
	as_nobody swapper -n 1 -t 2 d/sub d/trap
	finish_cptree
	local t
	t=$(find d -xdev -inum "$tino" -print -quit)
	[ -z "$t" ] || [ -z "$(ls -A "$t")" ] || {
		echo "root wrote into the attacker's directory $t:"; ls -lA "$t"; return 1; }
}

# ---- item 5 ---------------------------------------------------------------

@test "item 5: an empty DEST that another user owns is refused (unless forced)" {
	need_root "chown"
	mkdir s
	echo data >s/f
	echo secret >s/secret
	chmod 0600 s/secret
	nobody_dest d
	run cptree s d
	assert_failure 2
	assert_output --partial "'d'"
	assert_output --partial "--force-dest"
	[ -z "$(ls -A d)" ]
	run cptree -a -n s d
	assert_failure 2
	# Forced, the copy is made, and nothing in it is more open than
	# its source: the owner of DEST cannot read root's 0600 file.
	run cptree --force-dest s d
	assert_success
	cmp s/f d/f
	[ "$(stat -c '%u %a' d/secret)" = "0 600" ]
	run as_nobody cat d/secret
	assert_failure
}

@test "item 5: an empty DEST writable by group or others is refused (unless forced); one of ours is not" {
	need_root "chown"
	mkdir s
	echo data >s/f
	mkdir g o mine
	chmod 0775 g
	chmod 1777 o
	run cptree s g
	assert_failure 2
	assert_output --partial "writable by its group"
	run cptree s o
	assert_failure 2
	assert_output --partial "writable by others"
	# A named user's write, through an ACL, shows in the mask.
	mkdir acl
	setfacl -m u:nobody:rwx acl
	run cptree s acl
	assert_failure 2
	[ -z "$(find g o acl -mindepth 1)" ]
	run cptree s mine
	assert_success
	run cptree --force-dest s o
	assert_success
	cmp s/f o/f
	# A DEST cptree makes may lie where others can write.
	run cptree s P/new
	assert_success
	cmp s/f P/new/f
}

# ---- item 6 ---------------------------------------------------------------

@test "item 6: an inode number reused during the copy never makes a link to an earlier copy" {
	need_root "mount"
	truncate -s 32M ext4.img
	mkfs.ext4 -q ext4.img
	mkdir m
	mount -o loop ext4.img m
	mkdir -p m/s/a/z/y
	echo old >m/s/a/f1
	ln m/s/a/f1 m/s/a/f2
	chown -R nobody:nogroup m/s
	local i1 i
	i1=$(stat -c %i m/s/a/f1)
	# Stopped once a's files are done and before y is read.
	paused_cptree after:mkdirat:y -a -j 1 m/s m/d
	wait_paused || true
	# The attacker frees the inode and makes a new file with two names,
	# which reuses its number.
	for ((i = 0; i < 20; i++)); do
		as_nobody sh -c 'rm -f m/s/a/f1 m/s/a/f2 m/s/a/z/y/n1 m/s/a/z/y/n2
			echo new >m/s/a/z/y/n1 && ln m/s/a/z/y/n1 m/s/a/z/y/n2'
		[ "$(stat -c %i m/s/a/z/y/n1)" != "$i1" ] || break
	done
	[ "$(stat -c %i m/s/a/z/y/n1)" = "$i1" ] || {
		finish_cptree; skip "ext4 gave no inode number back"; }
	finish_cptree
	local n
	for n in n1 n2; do
		[ ! -e "m/d/a/z/y/$n" ] || [ "$(cat "m/d/a/z/y/$n")" = new ] || {
			echo "m/d/a/z/y/$n: $(cat "m/d/a/z/y/$n")"; return 1; }
	done
}

# ---- item 7 ---------------------------------------------------------------

@test "item 7: --link=hard never hands SOURCE's files to a DEST others can write" {
	need_root "chown"
	mkdir s
	echo secret >s/secret
	chmod 0600 s/secret
	nobody_dest d
	run cptree --link=hard s d
	assert_failure 2
	assert_output --partial "--force-dest"
	# Nothing of SOURCE is reachable through the attacker's directory.
	run find d -samefile s/secret
	assert_output ""
	# Nor through a DEST made where the attacker can rename it away.
	run cptree --link=hard s P/farm
	assert_failure 2
	assert_output --partial "rename entries in DEST's parent"
	[ ! -e P/farm ]
	# A sticky directory others write (as /tmp) keeps our entries ours.
	mkdir t
	chmod 1777 t
	run cptree --link=hard s t/farm
	assert_success
	[ "$(stat -c %i t/farm/secret)" = "$(stat -c %i s/secret)" ]
	# Asked for, it is done.
	run cptree --link=hard --force-dest s d
	assert_success
	[ "$(stat -c %i d/secret)" = "$(stat -c %i s/secret)" ]
}

# ---- item 8 ---------------------------------------------------------------

@test "item 8: metadata of a special file is read from the entry stat'ed, never from what replaced its name" {
	need_root "trusted xattrs"
	mkdir s
	chown nobody:nogroup s
	mkfifo s/fifo
	chown nobody:nogroup s/fifo
	echo 1234 >s/secret
	chmod 0600 s/secret
	setfattr -n trusted.pin -v 1234 s/secret
	paused_cptree after:mknodat:fifo -a s d
	wait_paused || true
	as_nobody swapper -n 1 -t 2 s/fifo s/secret
	finish_cptree
	run getfattr -h -d -m - d/fifo
	refute_output --partial "trusted.pin"
}

# ---- item 9 ---------------------------------------------------------------

# cp's result beside cptree's: modes of every entry, in order.
modes_of() {
	(cd "$1" && find . -printf '%p %M\n' | sort)
}

@test "item 9: without -a, a new entry under a default ACL takes its mode from the ACL, as cp -r" {
	need_root "chown"
	mkdir -p s/sub
	echo f >s/f
	echo g >s/sub/g
	chmod 0644 s/f s/sub/g
	chmod 0755 s/sub
	as_nobody setfacl -m d:u::rwx,d:g::rwx,d:o::rwx P
	(umask 077 && cptree s P/c)
	(umask 077 && cp -r s P/cp)
	[ "$(modes_of P/c)" = "$(modes_of P/cp)" ] || {
		diff <(modes_of P/cp) <(modes_of P/c); return 1; }
}

@test "item 9: without -a, a directory made under a setgid parent keeps the setgid bit, as cp -r" {
	need_root "chown"
	mkdir -p s/sub
	echo f >s/sub/f
	as_nobody chmod 2775 P
	cptree s P/c
	cp -r s P/cp
	[ "$(modes_of P/c)" = "$(modes_of P/cp)" ] || {
		diff <(modes_of P/cp) <(modes_of P/c); return 1; }
}

@test "item 9: -a onto a filesystem without user xattrs copies the data and reports the loss once" {
	need_root "mount"
	mkdir s m
	local i
	for i in 1 2 3 4 5; do
		echo "$i" >"s/f$i"
		setfattr -n user.k -v "$i" "s/f$i"
	done
	mount -t ramfs none m
	run cptree -a s m/d
	# Exit 1, as rsync -aX's 23 (partial), not cp -a's silent 0: what -a
	# promised was not all kept (man/cptree.1, WHAT -a KEEPS).
	assert_failure 1
	for i in 1 2 3 4 5; do cmp "s/f$i" "m/d/f$i"; done
	[ "$(grep -c . <<<"$output")" -eq 1 ] || { echo "$output"; return 1; }
	assert_output --partial "user.* xattrs"
	assert_output --partial "not reported again"
}

@test "item 9: -a -L, a file reached directly and through a followed symlink is one inode, as cp -a -L" {
	mkdir s
	echo one >s/f
	ln -s f s/l
	cptree -a -L s d
	cp -a -L s cp
	[ "$(stat -c %i cp/f)" = "$(stat -c %i cp/l)" ] || skip "cp -a -L here makes two inodes"
	[ "$(stat -c %i d/f)" = "$(stat -c %i d/l)" ]
}

# ---- signals (issue 13) ---------------------------------------------------

@test "SIGTERM or SIGINT mid --atomic copy: the hidden tree is removed, DEST is not made, cptree dies of the signal" {
	local sig num
	mkdir -p s/sub
	mktree sized s/sub 20 4k
	mktree sized s 20 4k
	for sig in TERM INT; do
		num=$(kill -l "$sig")
		# env: a background job starts with SIGINT ignored, and an
		# ignored signal is left ignored; a terminal's is not.
		CP_WRAP=(env --default-signal=INT)
		paused_cptree after:mkdirat:sub --atomic s d
		wait_paused || { finish_cptree; echo "$output"; return 1; }
		kill -s "$sig" "$CP_PID"
		finish_cptree
		CP_WRAP=()
		[ "$status" -eq $((128 + num)) ] || { echo "SIG$sig: status $status: $output"; return 1; }
		[ ! -e d ]
		local left
		left=$(find . -maxdepth 1 -name '.tu-*')
		[ -z "$left" ] || { echo "SIG$sig left $left: $output"; return 1; }
		assert_output --partial "interrupted"
	done
}
