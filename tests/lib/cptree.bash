# SPDX-License-Identifier: Apache-2.0
# Helpers for the cptree suites: a rich tree built as root, and the oracles
# that compare a copy with its source (rsync, getfattr, getfacl, lsattr, the
# inode partition, sparse maps).

# Sort blank-line-separated blocks, so two trees read in different orders
# compare equal.
sort_blocks() {
	python3 -c 'import sys
b = sys.stdin.read().split("\n\n")
print("\n\n".join(sorted(x.strip() for x in b if x.strip())))'
}

# The hard-link groups of a tree: one line per inode with more than one
# name, its names sorted.
inode_partition() {
	(cd "$1" && find . -printf '%i %p\0') | python3 -c 'import sys, collections
g = collections.defaultdict(list)
for rec in sys.stdin.buffer.read().split(b"\0"):
    if not rec:
        continue
    i, p = rec.split(b" ", 1)
    g[i].append(repr(p))
print("\n".join(sorted(" ".join(sorted(v)) for v in g.values() if len(v) > 1)))'
}

# The data extents of a file as SEEK_DATA/SEEK_HOLE see them.
seek_map() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off, out = 0, []
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    out.append("%d-%d" % (d, h))
    off = h
print(" ".join(out))' "$1"
}

# Run a recursive lister (getfattr -R, ...) on every top-level entry of the
# current directory but deep/ (beyond PATH_MAX they only fail, slowly), and
# on "." itself without recursion.
but_deep() {
	local cmd=("$@")
	find . -mindepth 1 -maxdepth 1 ! -name deep -print0 | sort -z | xargs -0 -r "${cmd[@]}"
	case ${cmd[0]} in
	lsattr) lsattr -d -a . ;;
	*) "${cmd[0]}" "${cmd[@]:2}" . ;;
	esac
}

# Every oracle: rsync lists nothing, and xattrs, ACLs, flags and hard-link
# groups are equal.
assert_same_tree() {
	local src=$1 dst=$2
	# rsync stops at PATH_MAX: a deeper chain named deep/ is compared by
	# find instead.
	run rsync -aHAXn -i -@-1 --numeric-ids --exclude=/deep "$src/" "$dst/"
	assert_success
	assert_output ""
	local a b
	if [ -d "$src/deep" ]; then
		a=$(cd "$src/deep" && find . -printf '%p %s %m %U %G %T@\n' | sort | md5sum)
		b=$(cd "$dst/deep" && find . -printf '%p %s %m %U %G %T@\n' | sort | md5sum)
		[ "$a" = "$b" ]
	fi
	a=$(cd "$src" && but_deep getfattr -R -h -d -m - 2>/dev/null | sort_blocks)
	b=$(cd "$dst" && but_deep getfattr -R -h -d -m - 2>/dev/null | sort_blocks)
	[ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); return 1; }
	a=$(cd "$src" && but_deep getfacl -R -P 2>/dev/null | sort_blocks)
	b=$(cd "$dst" && but_deep getfacl -R -P 2>/dev/null | sort_blocks)
	[ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); return 1; }
	a=$(cd "$src" && but_deep lsattr -R -a 2>/dev/null | grep -av '^$' | sort)
	b=$(cd "$dst" && but_deep lsattr -R -a 2>/dev/null | grep -av '^$' | sort)
	[ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); return 1; }
	a=$(inode_partition "$src")
	b=$(inode_partition "$dst")
	[ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); return 1; }
}

# A tree with everything -a must keep (run as root, on a filesystem with
# trusted.* xattrs and chattr flags). BIG_XATTR=1 adds a 64 KiB value (xfs).
rich_tree() {
	local t=$1
	mkdir -p "$t"/{modes,own,xattr,acl/def,flags/dir,hl/a,hl/b,links,special,names,sparse}
	local m
	for m in 0500 0000 4755 2755 1777 0644; do
		echo "$m" >"$t/modes/f$m"
		mkdir "$t/modes/d$m"
		echo inside >"$t/modes/d$m/f"
	done
	echo own >"$t/own/f"
	chown 1234:5678 "$t/own/f"
	mkdir "$t/own/d"
	chown 4321:8765 "$t/own/d"
	# setuid kept on a foreign owner: chown before chmod.
	echo suid >"$t/own/suid"
	chown 1234:5678 "$t/own/suid"
	chmod 4755 "$t/own/suid"
	echo x >"$t/xattr/f"
	setfattr -n user.a -v "hello" "$t/xattr/f"
	setfattr -n trusted.b -v 0x00ff00 "$t/xattr/f"
	setfattr -n security.c -v "sec" "$t/xattr/f"
	setfattr -n user.d -v "dir" "$t/xattr"
	setfattr -n trusted.e -v "dir" "$t/xattr"
	if [ -n "${BIG_XATTR:-}" ]; then
		python3 -c 'import os, sys; os.setxattr(sys.argv[1], "trusted.big", b"\x5a" * 65536)' \
			"$t/xattr/f"
	fi
	cp /bin/true "$t/xattr/capbin"
	setcap cap_net_raw+ep "$t/xattr/capbin"
	echo acl >"$t/acl/f"
	setfacl -m u:1234:rw,g:5678:r "$t/acl/f"
	setfacl -m u:1234:rwx "$t/acl/def"
	setfacl -d -m u:1234:rx,g:5678:rwx "$t/acl/def"
	echo i >"$t/flags/fi"
	echo a >"$t/flags/fa"
	echo d >"$t/flags/fd"
	echo in >"$t/flags/dir/f"
	echo 1 >"$t/hl/a/1"
	ln "$t/hl/a/1" "$t/hl/b/1"
	ln "$t/hl/a/1" "$t/hl/2"
	echo 3 >"$t/hl/a/3"
	ln "$t/hl/a/3" "$t/hl/b/3"
	ln -s ../hl/a/1 "$t/links/rel"
	ln -s /etc/hostname "$t/links/abs"
	ln -s nowhere "$t/links/dangling"
	ln -s "$(cd "$t" && pwd)/hl/2" "$t/links/into"
	ln -s ../../outside "$t/links/out"
	mkfifo "$t/special/fifo"
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$t/special/sock"
	mknod "$t/special/null" c 1 3
	mknod "$t/special/loop" b 7 200
	echo n >"$t/names/"$'new\nline'
	echo u >"$t/names/"$'bad\xff\xfeutf8'
	echo l >"$t/names/-leading"
	truncate -s 1G "$t/sparse/big"
	printf 'data' | dd of="$t/sparse/big" bs=1 seek=$((512 << 20)) conv=notrunc status=none
	printf 'tail' | dd of="$t/sparse/big" bs=1 seek=$(((1 << 30) - 4)) conv=notrunc status=none
	mktree chain "$t/deep" 2100
	# Times in ns, tips first so a directory's own time is set last.
	find "$t" -depth -exec touch -h -d '2001-02-03 04:05:06.123456789' {} + 2>/dev/null || true
	touch -h -d '1999-12-31 23:59:59.987654321' "$t/links/rel" "$t/special/fifo"
	touch -d '2010-10-10 10:10:10.000000001' "$t/modes/f0644"
	for m in 0500 0000 4755 2755 1777 0644; do
		chmod "$m" "$t/modes/f$m" "$t/modes/d$m"
	done
	# Flags last: an immutable entry refuses any later change.
	chattr +d "$t/flags/fd"
	chattr +a "$t/flags/fa"
	chattr +i "$t/flags/fi"
	chattr +d "$t/flags/dir"
	chattr +i "$t/flags/dir"
	chattr +i "$t/hl/a/3"
}
