#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cptree: what a user can rely on, one behaviour per test.

load ../lib/helpers
load ../lib/tty
load ../lib/cptree

setup() { tu_setup; }
teardown() { tu_teardown; }

make_tree() {
	mkdir -p "$1/a/b/c" "$1/d"
	echo 1 >"$1/a/f1"
	echo 2 >"$1/a/b/f2"
	echo 3 >"$1/a/b/c/f3"
	: >"$1/d/empty"
	ln -s ../a/f1 "$1/d/link"
	chmod 750 "$1/a"
	chmod 640 "$1/a/f1"
}

@test "plain copy: files, directories and symlinks, modes less umask, silently" {
	make_tree s
	umask 022
	run cptree s d
	assert_success
	assert_output ""
	run diff -r --no-dereference s d
	assert_success
	[ -L d/d/link ] && [ "$(readlink d/d/link)" = ../a/f1 ]
	[ "$(stat -c %a d/a)" = 750 ] && [ "$(stat -c %a d/a/f1)" = 640 ]
	umask 077
	run cptree s d2
	assert_success
	[ "$(stat -c %a d2/a/b)" = 700 ] && [ "$(stat -c %a d2/a/b/f2)" = 600 ]
}

@test "-a on a rich tree: rsync -aHAX, getfattr, getfacl, lsattr and inode groups find no difference" {
	need_root
	rich_tree s
	run cptree -a s d
	echo "$output"
	assert_success
	assert_same_tree s d
	# Sparse: same data map, no more blocks.
	[ "$(seek_map s/sparse/big)" = "$(seek_map d/sparse/big)" ]
	[ "$(du -k d/sparse/big | cut -f1)" -le "$(du -k s/sparse/big | cut -f1)" ]
	# Times on a symlink and a FIFO, in ns.
	[ "$(stat -c %y d/links/rel)" = "$(stat -c %y s/links/rel)" ]
	[ "$(stat -c %y d/special/fifo)" = "$(stat -c %y s/special/fifo)" ]
	[ "$(getcap d/xattr/capbin | cut -d" " -f2-)" = "$(getcap s/xattr/capbin | cut -d" " -f2-)" ]
	[ "$(stat -c %a:%u:%g d/own/suid)" = 4755:1234:5678 ]
}

@test "-a -j 1 and -j 2 make the same copy" {
	need_root
	rich_tree s
	run cptree -a -j 1 s d1
	assert_success
	run cptree -a -j 2 s d2
	assert_success
	assert_same_tree s d1
	assert_same_tree s d2
}

# A file with 128 MiB of data or more is copied in 64 MiB pieces by any
# worker with time. This one is 1 GiB with 251 MiB of data at four places;
# another, dense, is hard-linked (its first copy is waited for by its owner).
large_tree() {
	mkdir -p "$1/sub"
	python3 - "$1/sparse" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
os.ftruncate(fd, 1 << 30)
block = os.urandom(1 << 20)
for off, mib in ((0, 100), (300 << 20, 1), (500 << 20, 150)):
    for i in range(mib):
        os.pwrite(fd, block[i:] + block[:i], off + (i << 20))
os.pwrite(fd, b"tail", (1 << 30) - 4)
os.close(fd)
PY
	mktree sized "$1/sub" 1 200M
	ln "$1/sub/f0000000" "$1/sub/link"
	echo small >"$1/small"
	touch -d '2001-02-03 04:05:06.123456789' "$1/sparse" "$1/sub/f0000000"
}

# The lengths of the copy_file_range calls strace saw, one a line.
cfr_lengths() {
	sed -n 's/.*copy_file_range([0-9]*, \[[0-9]*\], [0-9]*, \[[0-9]*\], \([0-9]*\),.*/\1/p' "$1"
}

@test "-j 4: large files copied in 64 MiB pieces: same bytes, same holes, rsync finds no difference" {
	large_tree s
	# (LeakSanitizer cannot run under ptrace: the runs below check leaks.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run strace -f -qq -e trace=copy_file_range -o "$S/trace4" cptree -a -j 4 s d
	assert_success
	assert_output ""
	cmp s/sparse d/sparse
	cmp s/sub/f0000000 d/sub/f0000000
	[ "$(seek_map s/sparse)" = "$(seek_map d/sparse)" ]
	[ "$(du -k d/sparse | cut -f1)" -le "$(du -k s/sparse | cut -f1)" ]
	[ "$(stat -c %i d/sub/f0000000)" = "$(stat -c %i d/sub/link)" ]
	run rsync -aHAXn -i -@-1 --numeric-ids s/ d/
	assert_success
	assert_output ""
	# In pieces: no call longer than 64 MiB; whole (-j 1), the 200 MiB
	# file in one call.
	[ "$(cfr_lengths "$S/trace4" | sort -n | tail -1)" -le $((64 << 20)) ]
	[ "$(cfr_lengths "$S/trace4" | wc -l)" -ge 11 ]
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run strace -f -qq -e trace=copy_file_range -o "$S/trace1" cptree -a -j 1 s dw
	assert_success
	cfr_lengths "$S/trace1" | grep -qx $((200 << 20))
	# Without strace: the same copies.
	for j in 4 1; do
		run cptree -a -j "$j" s "d$j"
		assert_success
		assert_output ""
		run rsync -aHAXn -i -@-1 --numeric-ids s/ "d$j/"
		assert_success
		assert_output ""
		[ "$(seek_map s/sparse)" = "$(seek_map "d$j/sparse")" ]
	done
}

@test "-a keeps a 64 KiB xattr value (xfs)" {
	need_root mount
	truncate -s 300M "$S/xfs.img"
	mkfs.xfs -q "$S/xfs.img"
	mkdir m
	mount -o loop "$S/xfs.img" m
	mkdir m/s
	echo x >m/s/f
	python3 -c 'import os; os.setxattr("m/s/f", "trusted.big", bytes(range(256)) * 256); os.setxattr("m/s", "user.big", b"u" * 65536)'
	run cptree -a m/s m/d
	assert_success
	assert_same_tree m/s m/d
	[ "$(getfattr -n trusted.big --only-values m/d/f | md5sum)" = "$(getfattr -n trusted.big --only-values m/s/f | md5sum)" ]
}

@test "--reflink=always shares extents on xfs and fails cleanly where it cannot" {
	need_root mount
	truncate -s 300M "$S/xfs.img"
	mkfs.xfs -q -m reflink=1 "$S/xfs.img"
	mkdir m
	mount -o loop "$S/xfs.img" m
	mkdir m/s
	mktree sized m/s 2 1M
	run cptree --reflink=always m/s m/d
	assert_success
	filefrag -v m/d/f0000000 | grep -q shared
	cmp m/s/f0000000 m/d/f0000000
	# tmpfs cannot share extents: the file fails, nothing has its name.
	mkdir s
	mktree sized s 1 64K
	run cptree --reflink=always s d
	assert_failure 1
	assert_output --partial "cannot reflink 'd/f0000000'"
	assert_not_exist d/f0000000
	run cptree --reflink=never s d2
	assert_success
	cmp s/f0000000 d2/f0000000
}

@test "refuses DEST inside SOURCE, and writes nothing" {
	make_tree s
	run cptree s s/a/inside
	assert_failure 2
	assert_output --partial "into itself"
	assert_not_exist s/a/inside
	mkdir s/empty
	run cptree s s/empty
	assert_failure 2
	assert_output --partial "into itself"
}

@test "refuses SOURCE = DEST" {
	make_tree s
	run cptree s ./s
	assert_failure 2
	assert_output --partial "same"
	run cptree s/ s
	assert_failure 2
	assert_output --partial "same"
}

@test "refuses a DEST that is not empty, or not a directory, and writes nothing" {
	make_tree s
	mkdir d
	echo keep >d/x
	run cptree s d
	assert_failure 2
	assert_output --partial "not empty"
	[ "$(ls d)" = x ]
	echo file >f
	run cptree s f
	assert_failure 2
	assert_output --partial "not a directory"
	[ "$(cat f)" = file ]
}

@test "an empty DEST directory is filled" {
	make_tree s
	mkdir d
	run cptree s d
	assert_success
	run diff -r --no-dereference s d
	assert_success
}

@test "SOURCE must be a directory; a symlink to one is followed only with a trailing slash" {
	make_tree s
	ln -s s link
	run cptree link d
	assert_failure 2
	assert_output --partial "trailing '/'"
	assert_not_exist d
	run cptree link/ d
	assert_success
	[ -f d/a/b/c/f3 ]
}

@test "--atomic: DEST appears complete, no hidden name is left" {
	make_tree s
	run cptree --atomic s d
	assert_success
	run diff -r --no-dereference s d
	assert_success
	run bash -c "ls -A | grep '^\.tu-'"
	assert_failure
	mkdir e
	run cptree --atomic -a s e
	assert_success
	[ -f e/a/b/c/f3 ]
}

@test "--atomic with a failing entry leaves no DEST" {
	need_root "switching user"
	make_tree s
	chmod -R a+rX s
	chmod 000 s/a/f1
	chmod 777 "$S"
	run as_nobody cptree --atomic s d
	assert_failure 1
	assert_output --partial "cannot open 's/a/f1'"
	assert_not_exist d
	run bash -c "ls -A '$S' | grep '^\.tu-'"
	assert_failure
}

@test "-n lists what would be copied and writes nothing" {
	make_tree s
	run cptree -n s d
	assert_success
	assert_line "would copy 's' -> 'd'"
	assert_line "would copy 's/a/b/c/f3' -> 'd/a/b/c/f3'"
	[ "${#lines[@]}" -eq 10 ]
	assert_not_exist d
}

@test "-v prints each entry copied, a directory before its contents" {
	make_tree s
	run cptree -v -j 1 s d
	assert_success
	assert_line "'s/a/b/c/f3' -> 'd/a/b/c/f3'"
	[ "${#lines[@]}" -eq 10 ]
	local c f3
	for i in "${!lines[@]}"; do
		case ${lines[$i]} in
		"'s/a/b/c' -> 'd/a/b/c'") c=$i ;;
		"'s/a/b/c/f3' -> 'd/a/b/c/f3'") f3=$i ;;
		esac
	done
	[ "$c" -lt "$f3" ]
}

@test "-i itemizes each entry made, rsync style" {
	make_tree s
	ln s/a/f1 s/d/hard
	run cptree -a -i s d
	assert_success
	assert_line "cd+++++++++ '.'"
	assert_line "cd+++++++++ 'a/b'"
	assert_line ">f+++++++++ 'a/b/c/f3'"
	assert_line "cL+++++++++ 'd/link' -> '../a/f1'"
	run grep -c '^hf+++++++++ ' <<<"$output"
	assert_output 1
}

@test "-0 ends records with NUL and does not quote names" {
	mkdir s
	echo x >s/$'new\nline'
	cptree -v -0 s d >out
	run python3 -c 'import sys; print(sorted(open(sys.argv[1], "rb").read().split(b"\0")))' out
	assert_output "[b'', b'd', b'd/new\\nline']"
}

@test "names with newlines, invalid UTF-8 and a leading '-' are copied and quoted safely" {
	mkdir s
	echo n >s/$'new\nline'
	echo u >s/$'bad\xffname'
	echo l >s/-leading
	run cptree -v s d
	assert_success
	assert_line "'s/new\\nline' -> 'd/new\\nline'"
	assert_line "'s/bad\\xffname' -> 'd/bad\\xffname'"
	cmp s/$'new\nline' d/$'new\nline'
	cmp s/$'bad\xffname' d/$'bad\xffname'
	cmp s/-leading d/-leading
}

@test "a tree deeper than PATH_MAX, under ulimit -n 64" {
	mktree chain s 2500
	run bash -c 'ulimit -n 64; cptree -a s d'
	assert_success
	[ "$(cd s && find . -printf '%p %s %m %T@\n' | sort | md5sum)" = \
	  "$(cd d && find . -printf '%p %s %m %T@\n' | sort | md5sum)" ]
	[ "$(find d -name f | wc -l)" -eq 2500 ]
}

@test "-x: another mount is left out, its mount point copied empty" {
	need_root mount
	make_tree s
	mkdir s/mnt
	mount -t tmpfs tu-x s/mnt
	echo inner >s/mnt/file
	run cptree -x s d
	assert_success
	[ -d d/mnt ]
	assert_not_exist d/mnt/file
	run cptree s d2
	assert_success
	[ -f d2/mnt/file ]
}

@test "--link=hard makes the same farm as cp -al" {
	make_tree s
	mkfifo s/fifo
	# cp -al is cp -a -l, so the match is -a --link=hard. Old directory
	# times make a difference show even when the test runs within a second.
	find s -type d -exec touch -d '2020-02-02 02:02:02' {} +
	run cptree -a --link=hard s d
	assert_success
	cp -al s c
	[ "$(cd d && find . -printf '%i %y %p\n' | grep -v ' d ' | sort)" = \
	  "$(cd c && find . -printf '%i %y %p\n' | grep -v ' d ' | sort)" ]
	[ "$(stat -c %i d/a/f1)" = "$(stat -c %i s/a/f1)" ]
	run rsync -aHn -i c/ d/
	assert_output ""
}

@test "as a non-root user: own files copied with -a; foreign owners are a warning" {
	need_root "switching user"
	mkdir -m 777 w
	as_nobody mkdir w/s
	as_nobody sh -c 'echo x >w/s/f; chmod 4711 w/s/f; mkdir w/s/d; touch -d 2001-01-01 w/s/d'
	echo root >w/s/rootfile
	chmod 644 w/s/rootfile
	run as_nobody cptree -a w/s w/d
	echo "$output"
	assert_success
	assert_output "cptree: warning: could not keep the owner of 1 entry (not root)"
	[ "$(stat -c %U:%a w/d/f)" = nobody:4711 ]
	[ "$(stat -c %U:%a w/d/rootfile)" = nobody:644 ]
	[ "$(stat -c %Y w/d/d)" = "$(stat -c %Y w/s/d)" ]
}

@test "bad usage exits 2" {
	run cptree
	assert_failure 2
	run cptree only-one
	assert_failure 2
	run cptree --reflink=sometimes a b
	assert_failure 2
	run cptree --link=soft a b
	assert_failure 2
	run cptree a b c
	assert_failure 2
}

@test "--progress shows entries and bytes" {
	mktree sized s 20 64K
	on_tty cptree --progress s d
	assert_success
	assert_output --partial "copied 21 entries"
	assert_output --partial "1.2 MiB"
}

@test "--progress counts SOURCE first and shows how far it got" {
	mktree sized s 20 64K
	on_tty cptree --progress s d
	assert_success
	assert_output --partial "copied 21 entries"
	assert_output --partial ", 100%"
}

# A tree for the link and dereference modes: files, a hard-link pair, a
# FIFO, and symlinks (relative, absolute, dangling) inside it.
link_tree() {
	make_tree "$1"
	ln "$1/a/f1" "$1/d/hard"
	mkfifo "$1/d/fifo"
	ln -s "$PWD/$1/a/b" "$1/d/abs"
	ln -s nowhere "$1/d/dangling"
}

@test "--link=symbolic --absolute makes the same farm as cp -rs" {
	link_tree s
	run cptree --link=symbolic --absolute s d
	assert_success
	cp -rs "$PWD/s" c
	[ "$(cd d && find . -printf '%y %p %l\n' | sort)" = \
	  "$(cd c && find . -printf '%y %p %l\n' | sort)" ]
}

@test "--link=symbolic makes relative links to the same source entries as cp -rs" {
	link_tree s
	mkdir deeper
	run cptree --link=symbolic s deeper/d
	assert_success
	cp -rs "$PWD/s" c
	[ "$(cd deeper/d && find . -printf '%y %p\n' | sort)" = "$(cd c && find . -printf '%y %p\n' | sort)" ]
	local l n=0
	while IFS= read -r l; do
		[[ $(readlink "deeper/d/$l") != /* ]]
		[ "$(readlink -m "deeper/d/$l")" = "$(readlink -m "c/$l")" ]
		n=$((n + 1))
	done < <(cd c && find . -type l)
	[ "$n" -eq 9 ]
	# Relative: the pair still works when moved together.
	mkdir moved
	mv s deeper moved/
	[ "$(cat moved/deeper/d/a/f1)" = 1 ]
}

@test "--fix-symlinks: links into SOURCE resolve inside DEST, links out are unchanged, -v reports each rewrite" {
	mkdir -p s/a/b s/x other
	echo t >s/x/t
	ln -s ../x/t s/a/rel_in
	ln -s "$PWD/s/x/t" s/a/abs_in
	ln -s ../../s/x/t s/a/out_and_back
	ln -s ../../../s/x s/a/b/deep_out_and_back
	ln -s "$PWD/s" s/root_abs
	ln -s ../other s/rel_out
	ln -s "$PWD/other" s/abs_out
	ln -s /etc/hostname s/system
	ln -s ../s/nowhere s/dangling_in
	run cptree -v --fix-symlinks s d
	assert_success
	assert_line "'s/a/abs_in' -> 'd/a/abs_in' (symlink rewritten: '$PWD/s/x/t' -> '$PWD/d/x/t')"
	assert_line "'s/a/out_and_back' -> 'd/a/out_and_back' (symlink rewritten: '../../s/x/t' -> '../x/t')"
	[ "$(grep -c 'symlink rewritten' <<<"$output")" -eq 5 ]
	local l
	for l in a/rel_in a/abs_in a/out_and_back a/b/deep_out_and_back root_abs dangling_in; do
		case $(readlink -m "d/$l") in
		"$PWD/d" | "$PWD/d/"*) ;;
		*) echo "$l leads to $(readlink -m "d/$l")"; return 1 ;;
		esac
	done
	[ "$(readlink d/a/rel_in)" = ../x/t ]
	[ "$(readlink d/a/abs_in)" = "$PWD/d/x/t" ]
	[ "$(readlink d/a/out_and_back)" = ../x/t ]
	for l in rel_out abs_out system; do
		[ "$(readlink "d/$l")" = "$(readlink "s/$l")" ]
	done
	# Nothing was followed: DEST holds links only where SOURCE did.
	[ "$(cd s && find . -printf '%y %p\n' | sort)" = "$(cd d && find . -printf '%y %p\n' | sort)" ]
}

@test "-L copies what symlinks point to, like cp -rL; a loop is reported, not walked" {
	link_tree s
	rm s/d/dangling
	ln -s .. s/a/b/up
	ln -s . s/a/self
	ln -s ../a s/d/a_again
	run timeout 20 cptree -L s d
	assert_failure 1
	assert_output --partial "cannot copy 's/a/b/up'"
	assert_output --partial "cannot copy 's/a/self'"
	assert_output --partial "symlink loop"
	run timeout 20 cp -rL s c
	assert_failure 1
	[ "$(cd d && find . -printf '%y %p %s\n' | sort)" = \
	  "$(cd c && find . -printf '%y %p %s\n' | sort)" ]
	run diff -r -x fifo d c
	assert_success
	[ -z "$(find d -type l)" ]
	[ -d d/d/abs ] && [ -f d/d/a_again/b/f2 ] && [ -p d/d/fifo ]
}

@test "-L reports a dangling symlink and copies the rest" {
	link_tree s
	run cptree -L s d
	assert_failure 1
	assert_output --partial "cannot stat 's/d/dangling'"
	[ -f d/a/f1 ] && [ ! -e d/d/dangling ]
}

@test "--dereference=hard: no two DEST files share an inode; -a keeps them otherwise" {
	link_tree s
	rm s/d/dangling
	ln s/a/b/f2 s/f2-again
	ln s/a/b/f2 s/a/f2-third
	run cptree -a --dereference=hard s d
	assert_success
	[ -z "$(find d -type f -links +1)" ]
	[ -z "$(inode_partition d)" ]
	[ "$(cat d/f2-again)" = 2 ] && [ -L d/d/abs ]
	run cptree -a s k
	assert_success
	[ "$(inode_partition k)" = "$(inode_partition s)" ]
	run cptree -a --dereference=all s all
	assert_success
	[ -z "$(inode_partition all)" ] && [ -z "$(find all -type l)" ] && [ -d all/d/abs ]
}

@test "contradicting link and dereference options are refused, nothing written" {
	make_tree s
	run cptree --absolute s d
	assert_failure 2
	assert_output --partial "--absolute needs --link=symbolic"
	run cptree --link=hard -L s d
	assert_failure 2
	run cptree --link=symbolic --fix-symlinks s d
	assert_failure 2
	run cptree -L --fix-symlinks s d
	assert_failure 2
	run cptree --dereference=sometimes s d
	assert_failure 2
	assert_not_exist d
}

# Run cptree with OPTS ("$@") for real into d, then with -n, and compare:
# the same records (without "would copy "), the same messages, the same exit
# status; the dry run writes nothing.
assert_dry_run_matches() {
	local real rc1=0 dry rc2=0
	rm -rf d
	real=$(cptree -j 1 "$@" s d 2>real.err) || rc1=$?
	rm -rf d
	dry=$(cptree -n -j 1 "$@" s d 2>dry.err) || rc2=$?
	assert_not_exist d
	[ "$rc1" = "$rc2" ] || { echo "$* exits $rc1, with -n $rc2"; return 1; }
	diff <(sort <<<"$real") <(sed 's/^would copy //' <<<"$dry" | sort) ||
		{ echo "with $*"; return 1; }
	diff real.err dry.err || { echo "with $*"; return 1; }
}

@test "-n -L lists what -L would make: followed files and directories, loops and dangling links reported the same way" {
	link_tree s
	ln -s .. s/a/b/up
	ln -s ../a s/d/a_again
	ln -s "$PWD/s/a/f1" s/abs_file
	assert_dry_run_matches -L -i
	assert_dry_run_matches -L -v
	assert_dry_run_matches -a -L -i
	assert_dry_run_matches -a --dereference=all -i
	# What -L makes: no symlink listed, a followed directory's contents are.
	run cptree -n -L -i s d
	assert_failure 1
	assert_line ">f+++++++++ 'd/a_again/b/f2'"
	assert_line ">f+++++++++ 'abs_file'"
	assert_line "cd+++++++++ 'd/abs'"
	refute_line --partial "cL+++++++++"
	assert_output --partial "cannot copy 's/a/b/up'"
	assert_output --partial "cannot stat 's/d/dangling'"
}

@test "-n lists symlink targets, rewrites, hard links and link farms as the real run does (-i, -v)" {
	link_tree s
	ln -s "$PWD/s/a/f1" s/abs_in
	ln -s ../other s/rel_out
	local opts
	for opts in "--fix-symlinks" "--link=symbolic" "--link=symbolic --absolute" \
		    "--link=hard" "-a" "-a --fix-symlinks"; do
		# shellcheck disable=SC2086
		assert_dry_run_matches $opts -i
		# shellcheck disable=SC2086
		assert_dry_run_matches $opts -v
	done
	run cptree -n --fix-symlinks -v s d
	assert_line "would copy 's/abs_in' -> 'd/abs_in' (symlink rewritten: '$PWD/s/a/f1' -> '$PWD/d/a/f1')"
	run cptree -n --fix-symlinks -i s d
	assert_line "cL+++++++++ 'abs_in' -> '$PWD/d/a/f1'"
	assert_line "cL+++++++++ 'rel_out' -> '../other'"
	run cptree -n --link=symbolic -i s d
	assert_line "hL+++++++++ 'a/f1' -> '../../s/a/f1'"
	run cptree -n -a -i s d
	assert_line --regexp "^hf\+{9} '(a/f1|d/hard)' => '(a/f1|d/hard)'$"
	# --link=hard says what each linked entry is, as rsync does.
	run cptree -n --link=hard -i s d
	assert_line "hL+++++++++ 'd/link'"
	assert_line "hS+++++++++ 'd/fifo'"
	assert_line "hf+++++++++ 'a/f1'"
	assert_not_exist d
}

@test "a file that shows size 0 but has content (/proc, -L to it) is copied until EOF" {
	[ -r /proc/sys/kernel/ostype ] || skip "no /proc/sys"
	mkdir s
	: >s/empty
	ln -s /proc/sys/kernel/ostype s/ostype
	ln -s /proc/sys/kernel/random s/random
	[ "$(stat -L -c %s s/ostype)" = 0 ]
	run cptree -L s d
	assert_success
	[ "$(cat d/ostype)" = "$(cat /proc/sys/kernel/ostype)" ]
	[ -n "$(cat d/ostype)" ]
	cmp d/random/boot_id /proc/sys/kernel/random/boot_id
	cmp d/random/poolsize /proc/sys/kernel/random/poolsize
	[ "$(stat -c %s d/random/uuid)" = 37 ]
	[ "$(stat -c %s d/empty)" = 0 ]
	# sysfs says 4096 whatever the content: not padded with zeros.
	local sys=/sys/kernel/mm/transparent_hugepage/enabled
	if [ -r "$sys" ]; then
		ln -s "$sys" s/sysfile
		run cptree -L s d2
		assert_success
		cmp d2/sysfile "$sys"
	fi
}

# Two more names, g and h, for the file f in the DEPTH-th directory of the
# chain below DIR (mktree chain), reached by fds: the path is too long for
# any tool that takes one.
link_deep() {
	python3 - "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for _ in range(int(sys.argv[2])):
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.link("f", "g", src_dir_fd=fd, dst_dir_fd=fd)
os.link("f", "h", src_dir_fd=fd, dst_dir_fd=fd)
PY
}

@test "-a keeps a hard-link group whose first copy lies deeper than PATH_MAX, under ulimit -n 64" {
	mkdir s
	mktree chain s/deep 2100
	link_deep s/deep 2100
	link_deep s/deep 1990
	run bash -c 'ulimit -n 64; cptree -a -j 2 s d'
	assert_success
	refute_output --partial "separate file"
	[ "$(inode_partition d)" = "$(inode_partition s)" ]
	[ "$(cd d && find . -type f -links 3 | wc -l)" = 6 ]
}

@test "--link=hard and --reflink=always across filesystems: one refusal, nothing written" {
	need_root "mount"
	mkdir s m
	local i
	for i in 1 2 3 4 5; do echo "$i" >"s/f$i"; done
	mount -t tmpfs -o size=4m none m
	run cptree --link=hard s m/d
	assert_failure 2
	[ "${#lines[@]}" -eq 1 ] || { echo "$output"; return 1; }
	assert_output --partial "one mount; nothing written"
	[ ! -e m/d ]
	mkdir m/e
	run cptree --reflink=always s m/e
	assert_failure 2
	[ "${#lines[@]}" -eq 1 ] || { echo "$output"; return 1; }
	assert_output --partial "one filesystem; nothing written"
	[ -z "$(ls -A m/e)" ]
	# Two mounts of one filesystem: no hard link between them either.
	mkdir b
	mount --bind m b
	mkdir m/src
	echo x >m/src/f
	run cptree --link=hard b/src m/d2
	assert_failure 2
	[ ! -e m/d2 ]
	run cptree --link=hard m/src m/d3
	assert_success
	[ "$(stat -c %i m/d3/f)" = "$(stat -c %i m/src/f)" ]
}
