#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Shell completions: one bash and one zsh file per tool, written by hand,
# offering exactly the options of the tool's --help.

load ../lib/helpers
load ../lib/options

setup() {
	tu_setup
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	tools=$(make -s -C "$top" --no-print-directory print-tools NO_DEPS=1)
}
teardown() { tu_teardown; }

@test "every tool has a bash and a zsh completion, and each file parses" {
	local t missing=
	for t in $tools; do
		f=$top/completions/bash/$t
		[ -f "$f" ] && bash -n "$f" || missing+=" bash/$t"
		z=$top/completions/zsh/_$t
		[ -f "$z" ] && [ "$(head -n 1 "$z")" = "#compdef $t" ] || missing+=" zsh/_$t"
		if [ -f "$z" ] && command -v zsh >/dev/null; then
			zsh -n "$z" || missing+=" zsh/_$t(syntax)"
		fi
	done
	[ -z "$missing" ] || { echo "missing or broken:$missing"; return 1; }
}

@test "bash completion of '--' offers exactly the long options of --help" {
	local t out=
	for t in $tools; do
		d=$(diff <(help_options "$t" | grep -- '^--') \
			<(bash_completion_options "$top/completions/bash/$t" "$t")) ||
			out+=$'\n'"$t (< only in --help, > only in the completion):"$'\n'"$d"
	done
	[ -z "$out" ] || { echo "$out"; return 1; }
}

@test "zsh completion specs name exactly the options of --help" {
	local t out=
	for t in $tools; do
		d=$(diff <(help_options "$t") <(zsh_completion_options "$top/completions/zsh/_$t")) ||
			out+=$'\n'"$t (< only in --help, > only in the completion):"$'\n'"$d"
	done
	[ -z "$out" ] || { echo "$out"; return 1; }
}

@test "bash completion offers option values, and directories for operands" {
	mkdir -p somedir/inner
	touch somefile
	complete_words() {	# FILE WORDS...: what the completion offers for the last word
		bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
			"_${COMP_WORDS[0]}"; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
	}
	run complete_words "$top/completions/bash/dedup" dedup --store = ""
	assert_output "$(printf '%s\n' auto xattr file)"
	run complete_words "$top/completions/bash/cptree" cptree --reflink = al
	assert_output always
	run complete_words "$top/completions/bash/rmtree" rmtree some
	assert_output somedir
	# (compgen lists in directory order: sorted here)
	assert_equal "$(complete_words "$top/completions/bash/hashcache" hashcache some | sort)" \
		"$(printf '%s\n' somedir somefile)"
}
