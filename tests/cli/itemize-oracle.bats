#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The itemize records of lib/itemize.c, from the differences lib/compare.c
# finds, are rsync's: for each kind of change, a tree is copied with rsync,
# SOURCE is changed, tests/helpers/itemize-demo prints the record an update
# would print for the changed entry, and `rsync -aHAX -i` run for the same
# change must print that very line. After rsync's update, compare must find
# nothing left to do. rsync runs with -@-1 (times compared to the ns, as
# cptree does) and --numeric-ids.

load ../lib/helpers

setup() {
	tu_setup
	export LC_ALL=C.UTF-8
}
teardown() { tu_teardown; }

# SOURCE: a file, a directory with a file, a symlink; DEST its rsync copy.
base_tree() {
	mkdir -p s/d
	echo hello >s/f
	echo inner >s/d/g
	ln -s f s/l
	touch -h -d '2020-02-02 02:02:02.123456789' s/l s/f s/d/g
	sync_trees
}

sync_trees() {
	rsync -aHAX -@-1 --numeric-ids --delete s/ d/
}

# rsync's itemized update of DEST, with extra rsync options in $RS_OPTS.
rsync_items() {
	# shellcheck disable=SC2086
	rsync -aHAX -i -@-1 --numeric-ids --delete ${RS_OPTS:-} s/ d/
}

# check PATH [itemize-demo options...]: our record for PATH is one of the
# lines rsync prints for the same change; then, rsync having updated DEST,
# compare sees nothing left to do for PATH.
check() {
	local path=$1 ours theirs after
	shift
	ours=$(itemize-demo -a "$@" s d "$path")
	theirs=$(rsync_items)
	if [ -z "$ours" ] || ! grep -Fxq -- "$ours" <<<"$theirs"; then
		echo "ours:  '$ours'"
		echo "rsync:"
		echo "$theirs"
		return 1
	fi
	if [ -e "s/$path" ] || [ -L "s/$path" ]; then
		after=$(itemize-demo -a ${RS_OPTS:+-c} s d "$path")
		[ -z "$after" ] || {
			echo "after rsync, compare still finds: '$after'"
			return 1
		}
	fi
	echo "$ours"
}

@test "itemize: a new file is >f+++++++++" {
	base_tree
	echo new >s/n
	run check n
	assert_success
	assert_output '>f+++++++++ n'
}

@test "itemize: a new directory is cd+++++++++ with a trailing slash" {
	base_tree
	mkdir s/nd
	run check nd
	assert_success
	assert_output 'cd+++++++++ nd/'
}

@test "itemize: a content change with size and time is >f.st......" {
	base_tree
	echo longer-content >s/f
	run check f
	assert_success
	assert_output '>f.st...... f'
}

@test "itemize: a time-only change is >f..t...... (the data is sent again without --checksum)" {
	base_tree
	touch -d '2021-01-01 00:00:00.5' s/f
	run check f
	assert_success
	assert_output '>f..t...... f'
}

@test "itemize: a time-only change with --checksum and equal content is .f..t......" {
	base_tree
	touch -d '2021-01-01 00:00:00.5' s/f
	RS_OPTS=-c run check f -c
	assert_success
	assert_output '.f..t...... f'
}

@test "itemize: content changed with size and mtime restored, under --checksum, is >fc........" {
	base_tree
	touch -r s/f s/ref
	echo HELLO >s/f
	touch -r s/ref s/f
	rm s/ref
	touch -r d/ s/	# the directory's own time is not what this test is about
	RS_OPTS=-c run check f -c
	assert_success
	assert_output '>fc........ f'
}

@test "itemize: a mode change is .f...p....." {
	base_tree
	chmod 600 s/f
	run check f
	assert_success
	assert_output '.f...p..... f'
}

@test "itemize: a directory's mode change is .d...p....." {
	base_tree
	chmod 700 s/d
	run check d
	assert_success
	assert_output '.d...p..... d/'
}

@test "itemize: an owner change is .f....o...." {
	need_root
	base_tree
	chown 1234 s/f
	run check f
	assert_success
	assert_output '.f....o.... f'
}

@test "itemize: a group change is .f.....g..." {
	need_root
	base_tree
	chgrp 4321 s/f
	run check f
	assert_success
	assert_output '.f.....g... f'
}

@test "itemize: an ACL change is .f.......a." {
	base_tree
	setfacl -m u:1000:r s/f
	run check f
	assert_success
	assert_output '.f.......a. f'
}

@test "itemize: a chmod of a file with an extended ACL is .f...p..... alone" {
	base_tree
	setfacl -m u:1000:r s/f
	sync_trees
	chmod 600 s/f
	run check f
	assert_success
	assert_output '.f...p..... f'
}

@test "itemize: a default ACL on a directory is .d.......a." {
	base_tree
	setfacl -d -m u:1000:rx s/d
	run check d
	assert_success
	assert_output '.d.......a. d/'
}

@test "itemize: an xattr change is .f........x" {
	base_tree
	setfattr -n user.test -v 1 s/f
	run check f
	assert_success
	assert_output '.f........x f'
}

@test "itemize: an xattr value change (same name) is .f........x" {
	base_tree
	setfattr -n user.test -v 1 s/f
	sync_trees
	setfattr -n user.test -v 2 s/f
	run check f
	assert_success
	assert_output '.f........x f'
}

@test "itemize: a directory's xattr is .d........x" {
	base_tree
	setfattr -n user.test -v 1 s/d
	run check d
	assert_success
	assert_output '.d........x d/'
}

@test "itemize: a directory's time is .d..t......" {
	base_tree
	touch -d '2019-01-01 00:00:00.25' s/d
	run check d
	assert_success
	assert_output '.d..t...... d/'
}

@test "itemize: a symlink's new target is cLc.t...... with -> TARGET" {
	base_tree
	ln -sfn other s/l
	run check l
	assert_success
	assert_output 'cLc.t...... l -> other'
}

@test "itemize: a symlink's new target of the same length, time restored, is cLc........" {
	base_tree
	ln -sfn g s/l
	touch -h -r d/l s/l
	run check l
	assert_success
	assert_output 'cLc........ l -> g'
}

@test "itemize: a new symlink is cL+++++++++" {
	base_tree
	ln -s tgt s/l2
	run check l2
	assert_success
	assert_output 'cL+++++++++ l2 -> tgt'
}

@test "itemize: a symlink's owner is .L....o...." {
	need_root
	base_tree
	chown -h 55 s/l
	run check l
	assert_success
	assert_output '.L....o.... l -> f'
}

@test "itemize: a symlink's time is .L..t......" {
	base_tree
	touch -h -d '2018-01-01 00:00:00.75' s/l
	run check l
	assert_success
	assert_output '.L..t...... l -> f'
}

@test "itemize: a new hard link to a file already there is hf+++++++++ with => FIRST" {
	base_tree
	ln s/f s/h2
	run check h2 -H f
	assert_success
	assert_output 'hf+++++++++ h2 => f'
}

@test "itemize: a deleted file is *deleting" {
	base_tree
	rm s/f
	run check f
	assert_success
	assert_output '*deleting   f'
}

@test "itemize: a deleted directory is *deleting with a trailing slash" {
	base_tree
	rm -r s/d
	run check d
	assert_success
	assert_output '*deleting   d/'
}

@test "itemize: a new device is cD+++++++++, new device numbers cDc.t......" {
	need_root
	base_tree
	mknod s/dev c 1 3
	run check dev
	assert_success
	assert_output 'cD+++++++++ dev'
	rm s/dev
	mknod s/dev c 1 5
	run check dev
	assert_success
	assert_output 'cDc.t...... dev'
}

@test "itemize: a new FIFO is cS+++++++++, its mode .S...p....." {
	base_tree
	mkfifo s/fifo
	run check fifo
	assert_success
	assert_output 'cS+++++++++ fifo'
	chmod 600 s/fifo
	run check fifo
	assert_success
	assert_output '.S...p..... fifo'
}

@test "itemize: type changes are new entries: file to directory, directory to file, file to symlink, symlink to file, file to FIFO" {
	base_tree
	rm s/f
	mkdir s/f
	run check f
	assert_success
	assert_output 'cd+++++++++ f/'
	rmdir s/f
	echo x >s/f
	run check f
	assert_success
	assert_output '>f+++++++++ f'
	rm s/f
	ln -s xx s/f
	run check f
	assert_success
	assert_output 'cL+++++++++ f -> xx'
	rm s/f
	echo y >s/f
	run check f
	assert_success
	assert_output '>f+++++++++ f'
	rm s/f
	mkfifo s/f
	run check f
	assert_success
	assert_output 'cS+++++++++ f'
	rm -r s/d
	ln -s f s/d
	run check d
	assert_success
	assert_output 'cL+++++++++ d -> f'
}

@test "itemize: several changes at once come in column order, >f.stpog..." {
	need_root
	base_tree
	echo much-longer >s/f
	chmod 600 s/f
	chown 77:88 s/f
	run check f
	assert_success
	assert_output '>f.stpog... f'
}

@test "itemize: nothing changed prints nothing, for every type" {
	need_root
	base_tree
	mkfifo s/fifo
	mknod s/dev b 7 200
	sync_trees
	local p
	for p in f d d/g l fifo dev; do
		run itemize-demo -a s d "$p"
		assert_success
		assert_output ''
	done
	run rsync_items
	assert_output ''
}

@test "itemize: names are escaped as rsync escapes them, in a UTF-8 locale and in C" {
	base_tree
	local names=($'new\nline' $'t\tab' 'x\#123' 'y\z' 'é' $'bad\xff' $'sur\xed\xa0\x80' $'del\x7f')
	local n loc ours theirs i
	for n in "${names[@]}"; do
		echo "$n" >"s/$n"
	done
	for loc in C.UTF-8 C; do
		ours=()
		for n in "${names[@]}"; do
			rm -f "d/$n"
			ours+=("$(LC_ALL=$loc itemize-demo -a s d "$n")")
		done
		theirs=$(LC_ALL=$loc rsync_items)
		for i in "${!names[@]}"; do
			[ -n "${ours[i]}" ] && grep -Fxq -- "${ours[i]}" <<<"$theirs" || {
				echo "$loc: ours '${ours[i]}' not in rsync's:"
				echo "$theirs"
				return 1
			}
		done
	done
	# and the escapes did happen
	rm "d/é"
	run env LC_ALL=C itemize-demo -a s d 'é'
	assert_output '>f+++++++++ \#303\#251'
	run env LC_ALL=C.UTF-8 itemize-demo -a s d 'é'
	assert_output '>f+++++++++ é'
}

@test "itemize: -0 ends the record with NUL and escapes nothing" {
	base_tree
	echo x >s/$'new\nline'
	itemize-demo -0 -a s d $'new\nline' >out
	run tr '\n\0' 'NZ' <out
	assert_output '>f+++++++++ newNlineZ'
}
