# SPDX-License-Identifier: Apache-2.0
# options.bash: the option names a tool's --help, its man page and its shell
# completions offer, one per line, sorted, for tests that compare them
# (tests/cli/man.bats, tests/cli/completions.bats). Reading only: nothing
# here runs a tool on a tree.

# _tags: from lines that begin with an option tag ("-0, --null",
# "--preserve-root[=all]", "-j, --jobs=N"), the names, one per line.
_tags() {
	grep -oE '^(-[^ ,]+)(, -[^ ,]+)*' | tr ',' '\n' | sed -e 's/^ *//' \
		-e 's/\[\{0,1\}=.*//' | grep -E '^-' | sort -u
}

# help_options TOOL: the options of TOOL --help (option lines are indented
# 2 to 6 spaces; continuation lines far more).
help_options() {
	"$1" --help | grep -E '^ {2,6}-' | sed -E 's/^ +//' | _tags
}

# man_options PAGE: the options tagged in the OPTIONS section of PAGE.
man_options() {
	groff -man -Tascii -P-cbou -rLL=150n "$1" 2>/dev/null |
		awk '/^[A-Z]/ { s = $0 } s == "OPTIONS" && /^       -/' |
		sed -E 's/^ +//' | _tags
}

# bash_completion_options FILE TOOL: what FILE offers after "TOOL --".
bash_completion_options() {
	bash -c 'source "$1"; COMP_WORDS=("$2" --); COMP_CWORD=1; "_$2";
		printf "%s\n" "${COMPREPLY[@]}"' _ "$1" "$2" | sed 's/=$//' | sort -u
}

# zsh_completion_options FILE: the options named in FILE's _arguments specs.
zsh_completion_options() {
	grep -E "^ *'" "$1" | grep -oE -- "(^|[{,' )])-(-[a-z0-9-]+|[A-Za-z0-9]|\\\\\\?)" |
		sed -E "s/^[{,' )]//; s/\\\\//" | sort -u
}

# header_functions HEADER: the functions HEADER declares, one per line.
header_functions() {
	cpp -P "$1" | grep -v '^typedef' | grep -oE '\btu_[a-z0-9_]+ *\(' |
		tr -d ' (' | sort -u
}
