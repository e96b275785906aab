# SPDX-License-Identifier: Apache-2.0
# Seeded random mutations of a tree, for oracles that bring a copy up to date
# (cptree --update, and later mvtree and clone tests), and the oracle that
# says whether two trees are equal.
#
#   mutate_init DIR SEED        a fresh random tree in DIR (files, directories,
#                               symlinks, hard-link groups, a FIFO, odd names;
#                               devices, owners when root)
#   mutate_round DIR SEED [N] [KIND...]
#                               N (default 12) random mutations of DIR, each of
#                               one of KIND (default: every kind in
#                               MUTATE_KINDS); with MUTATE_LOG set, one line
#                               per mutation ("KIND path") appended to it
#   trees_equal SRC DST         silent and 0 when DST equals SRC as
#                               `rsync -aHAXn -i -c -@-1 --numeric-ids --delete`
#                               sees it, with the same chattr flags and the
#                               same hard-link groups (tree_facts); else
#                               prints the differences and fails
#   reference_update SRC DST [RSYNC_OPTION...]
#                               a correct updater built from rsync -c, a
#                               breaker of hard links SOURCE no longer has
#                               (rsync -H keeps them) and a flag copier, to
#                               show the oracle passes with a correct updater
#                               (and fails without one)
#
# The same SEED always gives the same tree and the same mutations (bash's
# RANDOM, names sorted in the C locale). Everything stays inside DIR. Needs
# python3 (flags through FS_IOC_GETFLAGS, fast) and, for owners, devices and
# some flags, root; without root those kinds are left out. Safe under
# `set -e` (bats): a mutation with nothing to act on does nothing.

MUTATE_KINDS=(create mkdir delete modify modify_restored chmod chown xattr acl chattr
	rename type link unlink relink retarget touch)

# Names, a few of them odd: a space, a newline, UTF-8, a leading dash.
_MUTATE_NAMES=(a b c d e f g h k m n p q r s t 'sp ace' $'nl\nx' 'é' '-dash' x.o y.txt)

# Bash reseeds RANDOM in every subshell, so nothing here that draws a random
# number may run in one ($(...), a pipe): helpers return through REPLY.

_mut_name() { REPLY="${_MUTATE_NAMES[RANDOM % ${#_MUTATE_NAMES[@]}]}$((RANDOM % 50))"; }

# SIZE random bytes (hex digits) from the seeded generator, into FILE.
_mut_content() {
	local n=$1 file=$2 i out="" w
	for ((i = 0; i < n; i += 16)); do
		printf -v w '%04x%04x%04x%04x' $RANDOM $RANDOM $RANDOM $RANDOM
		out+=$w
	done
	printf '%s' "${out:0:n}" >"$file"
}

_mut_write() {
	local size
	case $((RANDOM % 10)) in
	0) size=0 ;;
	1) size=$((4096 + RANDOM % 20000)) ;;
	*) size=$((1 + RANDOM % 300)) ;;
	esac
	_mut_content "$size" "$1"
}

# Entries of DIR matching find's tests, sorted, into _MUT_LIST.
_mut_list() {
	local dir=$1
	shift
	mapfile -d '' _MUT_LIST < <(find "$dir" -mindepth 1 ! -name '.mut-*' "$@" -print0 | LC_ALL=C sort -z)
}

# REPLY: a random entry of DIR matching find's tests; fails if none.
_mut_pick() {
	_mut_list "$@"
	[ ${#_MUT_LIST[@]} -gt 0 ] || return 1
	REPLY=${_MUT_LIST[RANDOM % ${#_MUT_LIST[@]}]}
}

# REPLY: a random directory of DIR, DIR itself included.
_mut_pick_dir() {
	_mut_list "$1" -type d
	_MUT_LIST+=("$1")
	REPLY=${_MUT_LIST[RANDOM % ${#_MUT_LIST[@]}]}
}

# REPLY: a new name in a random directory of DIR.
_mut_newpath() {
	local d
	_mut_pick_dir "$1"
	d=$REPLY
	_mut_name
	while [ -e "$d/$REPLY" ] || [ -L "$d/$REPLY" ]; do
		REPLY+=x
	done
	REPLY="$d/$REPLY"
}

# Drop immutable and append-only flags that would stop a mutation (on the
# entry, the whole subtree when it is a directory, and its parent). Only
# the chattr mutation sets them, and it sets _MUT_LOCKS: until then there
# is nothing to drop, and no process is spent on it.
_MUT_LOCKS=
_mut_unlock() {
	local p
	[ -n "$_MUT_LOCKS" ] || return 0
	for p in "$@"; do
		if [ -d "${p%/*}" ]; then chattr -i -a "${p%/*}" 2>/dev/null || true; fi
		[ -e "$p" ] || [ -L "$p" ] || continue
		if [ -d "$p" ] && [ ! -L "$p" ]; then
			chattr -R -i -a "$p" 2>/dev/null || true
		elif [ -f "$p" ] && [ ! -L "$p" ]; then
			chattr -i -a "$p" 2>/dev/null || true
		fi
	done
	return 0
}

_mut_root() { [ "$(id -u)" = 0 ]; }

# The system's python3, not a version-manager shim that takes a second to
# start.
if [ -x /usr/bin/python3 ]; then _MUT_PY=/usr/bin/python3; else _MUT_PY=python3; fi

# A new entry at PATH, of the type KIND says (0-9, default random): a file
# (0-3), a directory holding a file (4-5), a symlink (6, dangling; 7, to .),
# a FIFO (8), a device, or a file when not root (9).
_mut_make() {
	local path=$1 kind=${2:-$((RANDOM % 10))}
	case $kind in
	0 | 1 | 2 | 3) _mut_write "$path" ;;
	4 | 5)
		mkdir "$path"
		_mut_name
		_mut_write "$path/$REPLY"
		;;
	6)
		_mut_name
		ln -s -- "$REPLY" "$path"
		;;
	7) ln -s . "$path" ;;
	8) mkfifo "$path" ;;
	9)
		if _mut_root; then
			mknod "$path" c 1 $((3 + RANDOM % 3))
		else
			_mut_write "$path"
		fi
		;;
	esac
}

# One mutation of KIND in DIR; sets MUT_DID to "KIND path" (or "" when
# there was nothing to do it to).
_mut_one() {
	local dir=$1 kind=$2 p q t
	MUT_DID=
	case $kind in
	create | mkdir)
		_mut_newpath "$dir"
		p=$REPLY
		_mut_unlock "$p"
		if [ "$kind" = mkdir ]; then _mut_make "$p" 4; else _mut_make "$p"; fi
		;;
	delete)
		_mut_pick "$dir" || return 0
		p=$REPLY
		_mut_unlock "$p"
		rm -rf "$p"
		;;
	modify)
		_mut_pick "$dir" -type f || return 0
		p=$REPLY
		_mut_unlock "$p"
		# rewritten in place, so hard-link partners change too
		_mut_write "$dir/.mut-tmp"
		cat "$dir/.mut-tmp" >"$p"
		rm "$dir/.mut-tmp"
		;;
	modify_restored)
		# other bytes, the same size and mtime: only --checksum sees it
		_mut_pick "$dir" -type f -size +0 || return 0
		p=$REPLY
		_mut_unlock "$p"
		touch -r "$p" "$dir/.mut-ref"
		local size off byte
		size=$(stat -c %s "$p")
		off=$((RANDOM % size))
		byte=$(od -An -tu1 -j "$off" -N1 "$p")
		printf -v byte '\\%03o' $(((byte + 1) % 256))
		printf "$byte" | dd of="$p" bs=1 seek="$off" conv=notrunc status=none
		touch -r "$dir/.mut-ref" "$p"
		rm "$dir/.mut-ref"
		;;
	chmod)
		_mut_pick "$dir" ! -type l || return 0
		p=$REPLY
		_mut_unlock "$p"
		if [ -d "$p" ]; then
			printf -v t '%o' $((0700 | RANDOM % 0100))
		else
			printf -v t '%o' $((0400 | (RANDOM % 07400)))
		fi
		chmod "$t" "$p"
		;;
	chown)
		_mut_root || return 0
		_mut_pick "$dir" || return 0
		p=$REPLY
		_mut_unlock "$p"
		local ids=(0 1000 1234 65534)
		chown -h "${ids[RANDOM % 4]}:${ids[RANDOM % 4]}" "$p"
		;;
	xattr)
		_mut_pick "$dir" \( -type f -o -type d \) || return 0
		p=$REPLY
		_mut_unlock "$p"
		if [ $((RANDOM % 3)) = 0 ]; then
			setfattr -x "user.k$((RANDOM % 3))" "$p" 2>/dev/null || true
		else
			setfattr -n "user.k$((RANDOM % 3))" -v "v$RANDOM" "$p"
		fi
		;;
	acl)
		_mut_pick "$dir" \( -type f -o -type d \) || return 0
		p=$REPLY
		_mut_unlock "$p"
		case $((RANDOM % 4)) in
		0) setfacl -b "$p" ;;
		1) if [ -d "$p" ]; then setfacl -d -m "u:$((1000 + RANDOM % 3)):rx" "$p"; fi ;;
		*) setfacl -m "u:$((1000 + RANDOM % 3)):r,g:$((2000 + RANDOM % 2)):rw" "$p" ;;
		esac
		;;
	chattr)
		_mut_root || return 0
		_mut_pick "$dir" \( -type f -o -type d \) || return 0
		p=$REPLY
		_mut_unlock "$p"
		local flags=(A d)
		[ -f "$p" ] && flags+=(i a)
		t=${flags[RANDOM % ${#flags[@]}]}
		if [ $((RANDOM % 2)) = 0 ]; then
			chattr "+$t" "$p"
			_MUT_LOCKS=1
		else
			chattr "-$t" "$p"
		fi
		;;
	rename)
		_mut_pick "$dir" || return 0
		p=$REPLY
		_mut_newpath "$dir"
		q=$REPLY
		case "$q/" in "$p"/*) return 0 ;; esac	# not into itself
		_mut_unlock "$p" "$q"
		mv -T "$p" "$q"
		p="$p -> $q"
		;;
	type)
		# every direction: what is there becomes another type
		_mut_pick "$dir" || return 0
		p=$REPLY
		_mut_unlock "$p"
		t=$((RANDOM % 10))
		if [ -L "$p" ]; then
			[ "$t" -ge 6 ] && [ "$t" -le 7 ] && t=8
		elif [ -f "$p" ]; then
			[ "$t" -le 3 ] && t=4
		elif [ -d "$p" ]; then
			[ "$t" -ge 4 ] && [ "$t" -le 5 ] && t=0
		fi
		rm -rf "$p"
		_mut_make "$p" "$t"
		;;
	link)
		_mut_pick "$dir" -type f || return 0
		p=$REPLY
		_mut_newpath "$dir"
		q=$REPLY
		_mut_unlock "$p" "$q"
		ln "$p" "$q"
		p="$q => $p"
		;;
	unlink)
		# a hard link broken: the name gets its own inode, same bytes and
		# metadata
		_mut_pick "$dir" -type f -links +1 || return 0
		p=$REPLY
		_mut_unlock "$p"
		cp -a --preserve=all "$p" "$dir/.mut-copy"
		mv -T "$dir/.mut-copy" "$p"
		;;
	relink)
		# a file replaced by a hard link to another
		_mut_pick "$dir" -type f || return 0
		p=$REPLY
		_mut_pick "$dir" -type f || return 0
		q=$REPLY
		[ "$p" -ef "$q" ] && return 0
		_mut_unlock "$p" "$q"
		ln -f "$q" "$p"
		p="$p => $q"
		;;
	retarget)
		_mut_pick "$dir" -type l || return 0
		p=$REPLY
		_mut_unlock "$p"
		_mut_name
		ln -sfn -- "$REPLY" "$p"
		;;
	touch)
		_mut_pick "$dir" || return 0
		p=$REPLY
		_mut_unlock "$p"
		printf -v t '@%d.%09d' $((1500000000 + RANDOM * 1000)) $((RANDOM * 30000))
		touch -h -d "$t" "$p"
		;;
	*)
		echo "mutate: unknown kind '$kind'" >&2
		return 1
		;;
	esac
	MUT_DID="$kind $p"
	return 0
}

mutate_init() {
	local dir=$1 i
	RANDOM=$2
	mkdir -p "$dir"
	for i in 1 2 3 4 5 6 7 8; do
		mkdir -p "$dir/d$i"
	done
	mkdir -p "$dir/d1/deep/er"
	for i in $(seq 1 30); do
		_mut_newpath "$dir"
		_mut_make "$REPLY"
	done
	for i in 1 2 3; do
		_mut_one "$dir" link
	done
	setfattr -n user.k0 -v init "$dir/d1"
	setfacl -m u:1000:r "$dir/d2"
}

# MUTATE_LOG, when set, is a file that gets one line per mutation.
mutate_round() {
	local dir=$1 seed=$2 n=${3:-12} kind i
	shift $(($# < 3 ? $# : 3))
	local kinds=("$@")
	[ ${#kinds[@]} -gt 0 ] || kinds=("${MUTATE_KINDS[@]}")
	RANDOM=$seed
	for ((i = 0; i < n; i++)); do
		kind=${kinds[RANDOM % ${#kinds[@]}]}
		_mut_one "$dir" "$kind" || return 1
		if [ -n "${MUTATE_LOG:-}" ] && [ -n "$MUT_DID" ]; then
			printf '%q\n' "$MUT_DID" >>"$MUTATE_LOG"
		fi
	done
	return 0
}

# What rsync -n does not see, of DIR, sorted: "flags PATH HEX" for every
# regular file and directory with chattr flags a user may set (the ones
# lib/meta.c copies), and "link PATH PATH..." for every hard-link group.
tree_facts() {
	"$_MUT_PY" - "$1" <<'EOF'
import array, collections, fcntl, os, stat, sys
FS_IOC_GETFLAGS = 0x80086601
COPY = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x20000000
top = sys.argv[1]
out, groups = [], collections.defaultdict(list)
for root, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(root, n)
        r = repr(os.path.relpath(p, top))
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            groups[(st.st_dev, st.st_ino)].append(r)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            continue
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            a = array.array("i", [0])
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, a, True)
            f = a[0] & COPY
        except OSError:
            f = 0
        finally:
            os.close(fd)
        if f:
            out.append("flags %s %x" % (r, f))
for g in groups.values():
    if len(g) > 1:
        out.append("link " + " ".join(sorted(g)))
for line in sorted(out):
    print(line)
EOF
}

trees_equal() {
	local src=$1 dst=$2 out bad=0
	out=$(rsync -aHAXn -i -c -@-1 --numeric-ids --delete "$src/" "$dst/" 2>&1)
	if [ -n "$out" ]; then
		echo "rsync -aHAXn -i -c -@-1 --numeric-ids --delete finds:"
		echo "$out"
		bad=1
	fi
	if ! out=$(diff <(tree_facts "$src") <(tree_facts "$dst")); then
		echo "chattr flags or hard-link groups differ (< SOURCE, > DEST):"
		echo "$out"
		bad=1
	fi
	return $bad
}

# A correct updater from rsync, with rsync filter options (--exclude...)
# after SRC and DST: DEST's locking flags dropped where set, DEST names linked where
# SOURCE no longer links them removed, rsync -c, then SOURCE's flags set on
# the DEST entries that have a SOURCE counterpart (rsync copies no chattr
# flags).
reference_update() {
	local src=$1 dst=$2
	shift 2
	if [ -e "$dst" ]; then
		# Immutable and append-only flags dropped where set (and only
		# there, so that an update with nothing to do changes no ctime);
		# rsync -H never breaks a hard link in DEST whose names SOURCE
		# no longer links (same bytes, same metadata: nothing to send).
		"$_MUT_PY" - "$src" "$dst" <<'EOF'
import array, collections, fcntl, os, stat, sys
GET, SET, LOCKS = 0x80086601, 0x40086602, 0x10 | 0x20
src, dst = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(dst):
    for n in dirs + files:
        p = os.path.join(root, n)
        if not (stat.S_ISREG(os.lstat(p).st_mode) or stat.S_ISDIR(os.lstat(p).st_mode)):
            continue
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            a = array.array("i", [0])
            fcntl.ioctl(fd, GET, a, True)
            if a[0] & LOCKS:
                fcntl.ioctl(fd, SET, array.array("i", [a[0] & ~LOCKS]), True)
        except OSError:
            pass
        os.close(fd)
def groups(top):
    by_ino, of = collections.defaultdict(set), {}
    for root, dirs, files in os.walk(top):
        for n in files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                continue
            r = os.path.relpath(p, top)
            by_ino[(st.st_dev, st.st_ino)].add(r)
            of[r] = (st.st_dev, st.st_ino)
    return by_ino, of
s_ino, s_of = groups(src)
d_ino, d_of = groups(dst)
for r, key in d_of.items():
    names = d_ino[key]
    if len(names) > 1 and (r not in s_of or not names <= s_ino[s_of[r]]):
        os.unlink(os.path.join(dst, r))
EOF
	fi
	# A second pass when the first fails: rsync 3 -aHAX stops with code 23
	# ("get_acl: sys_acl_get_file(..., ACL_TYPE_DEFAULT): Permission
	# denied") when a DEST directory is replaced by a hard-linked file, and
	# finishes the job when run again.
	rsync -aHAX -c -@-1 --numeric-ids --delete "$@" "$src/" "$dst/" 2>/dev/null ||
		rsync -aHAX -c -@-1 --numeric-ids --delete "$@" "$src/" "$dst/" || return 1
	"$_MUT_PY" - "$src" "$dst" <<'EOF'
import array, fcntl, os, stat, sys
GET, SET = 0x80086601, 0x40086602
COPY = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x20000000
src, dst = sys.argv[1], sys.argv[2]
def open_flags(p):
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None, 0
    try:
        a = array.array("i", [0])
        fcntl.ioctl(fd, GET, a, True)
        return fd, a[0]
    except OSError:
        os.close(fd)
        return None, 0
for root, dirs, files in os.walk(dst):
    for n in dirs + files:
        p = os.path.join(root, n)
        sp = os.path.join(src, os.path.relpath(p, dst))
        try:
            if (os.lstat(sp).st_mode & 0o170000) != (os.lstat(p).st_mode & 0o170000):
                continue
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(os.lstat(p).st_mode) and not stat.S_ISDIR(os.lstat(p).st_mode):
            continue
        sfd, sf = open_flags(sp)
        if sfd is not None:
            os.close(sfd)
        dfd, df = open_flags(p)
        if dfd is None:
            continue
        want = (df & ~COPY) | (sf & COPY)
        if want != df:
            fcntl.ioctl(dfd, SET, array.array("i", [want]), True)
        os.close(dfd)
EOF
}
