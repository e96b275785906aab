#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The exclude rules of lib/exclude.c (cptree --exclude, --exclude-from)
# decide as rsync does, for the subset we support: the entries a copy takes
# under a set of patterns are the entries `rsync -a -n` lists, on generated
# trees with seeded random pattern sets. tests/helpers/exclude-demo prints
# our decisions.

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# What rsync would copy from $1 with the rsync options that follow, one path
# a line, directories with a trailing '/', sorted; the root itself left out.
rsync_takes() {
	local src=$1
	shift
	rsync -a -n --out-format='%n' "$@" "$src/" "$S/rsync-dest/" | grep -v '^\./$' | LC_ALL=C sort
}

ours_takes() {
	exclude-demo "$@" | LC_ALL=C sort
}

# Names that exercise the rules: dots, extensions, a prefix family, spaces,
# a leading dash, a literal backslash, brackets.
NAMES=(a b.o c.c .hid cache cache.1 sub tmp1 'sp ace' -x 'q\z' '[x]' deep)

# gen_tree DIR SEED: a random tree of files, directories and symlinks (one to
# a directory, which a trailing-'/' pattern must not take for one), up to 3
# levels, names from NAMES.
gen_tree() {
	local dir=$1 n
	RANDOM=$2
	mkdir -p "$dir"
	_gen_level "$dir" 0
}

_gen_level() {
	local dir=$1 depth=$2 name r i
	for i in 1 2 3 4 5 6; do
		name=${NAMES[RANDOM % ${#NAMES[@]}]}
		[ -e "$dir/$name" ] || [ -L "$dir/$name" ] && continue
		r=$((RANDOM % 10))
		if [ "$r" -lt 4 ] && [ "$depth" -lt 3 ]; then
			mkdir "$dir/$name"
			_gen_level "$dir/$name" $((depth + 1))
		elif [ "$r" -eq 4 ]; then
			ln -s . "$dir/$name"
		else
			echo "$name" >"$dir/$name"
		fi
	done
}

# Patterns of every supported kind.
PATTERNS=(a '*.o' 'cache*' 'cache/' 'c*/' '?' '.*' '*' 'sub/a' 'sub/*' '/a' '/sub/'
	'deep/a' '*/b.o' '/sub/deep/' 'tmp?' '[abc].c' '[!a]*' 'sp ace' '-x' 'q\z'
	'\[x]' '[[]x]' 'sub/cache/' '/cache*/' 'deep/*/' '- b.o' 'cache.1')

@test "exclude oracle: 40 random trees and pattern sets decide as rsync -a --exclude does" {
	local seed p k pats args ours
	for seed in $(seq 1 40); do
		rm -rf "$S/t"
		gen_tree "$S/t" "$seed"
		RANDOM=$((seed * 7919))
		pats=()
		for k in 1 2 3; do
			pats+=("${PATTERNS[RANDOM % ${#PATTERNS[@]}]}")
		done
		args=() ours=()
		for p in "${pats[@]}"; do
			args+=("--exclude=$p")
			ours+=(-e "$p")
		done
		diff -u <(rsync_takes "$S/t" "${args[@]}") <(ours_takes "${ours[@]}" "$S/t") || {
			echo "seed $seed patterns: ${pats[*]}"
			return 1
		}
	done
}

@test "exclude oracle: each supported pattern alone decides as rsync does on one full tree" {
	local p
	mkdir -p "$S/t"
	for n in "${NAMES[@]}"; do
		mkdir -p "$S/t/$n/sub/$n" "$S/t/sub/$n/deep"
		echo x >"$S/t/$n/sub/$n/f"
		echo x >"$S/t/sub/$n/deep/a"
		echo x >"$S/t/sub/$n/$n.c" 2>/dev/null || true
	done
	echo x >"$S/t/a.o"
	ln -s sub "$S/t/cache.link"
	for p in "${PATTERNS[@]}"; do
		diff -u <(rsync_takes "$S/t" "--exclude=$p") <(ours_takes -e "$p" "$S/t") || {
			echo "pattern: $p"
			return 1
		}
	done
}

@test "exclude oracle: an --exclude-from file with comments, blank lines and CRLF reads as rsync reads it" {
	mkdir -p "$S/t/sub/deep" "$S/t/.hid"
	touch "$S/t/a" "$S/t/b.o" "$S/t/sub/a" "$S/t/sub/deep/x" "$S/t/.hid/y" "$S/t/ sp" \
		"$S/t/c" "$S/t/#b.o" "$S/t/; c" "$S/t/d" "$S/t/e "
	printf 'a\r\n#b.o\n; c\n\n\r\n- x\n sp\ne \nd' >"$S/ex"
	diff -u <(rsync_takes "$S/t" --exclude-from="$S/ex") <(ours_takes -f "$S/ex" "$S/t")
	# and it did exclude something
	run ours_takes -f "$S/ex" "$S/t"
	refute_line a
	refute_line sub/a
	assert_line c
}

@test "exclude: patterns rsync reads as something other than an exclude are refused" {
	mkdir "$S/t"
	local p
	for p in '+ a' '!' '**' 'a/**' '/' ''; do
		run exclude-demo -e "$p" "$S/t"
		assert_failure 2
		assert_output --partial 'Invalid argument'
	done
	printf 'ok\n+ a\n' >"$S/ex"
	run exclude-demo -f "$S/ex" "$S/t"
	assert_failure 2
}
