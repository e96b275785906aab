# SPDX-License-Identifier: Apache-2.0
# tty.bash: run a tool on a pseudo-terminal, as a person at a shell would,
# and see what the terminal shows, for the tests of --progress (which draws
# only on a terminal). Uses util-linux script(1); reads and writes only the
# scratch directory.

# on_tty CMD ARGS...: run CMD with stdin, stdout and stderr on a new
# pseudo-terminal (80 columns). $status is CMD's exit status; $output is
# what the terminal received, both streams as they came, with the
# terminal's "\r\n" line ends made "\n" (bare "\r" and escapes are kept).
on_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	run script -qefc "stty cols 80 2>/dev/null; $cmd" "$S/.typescript" </dev/null
	output=${output//$'\r\n'/$'\n'}
}

# tty_screen: $output as the terminal finally shows it, one line per line:
# "\r" returns to the first column and what follows overwrites, and the
# "erase to the end of the line" escape (ESC [ K) erases.
tty_screen() {
	local line seg piece cur pos i
	local -a segs pieces
	while IFS= read -r line || [ -n "$line" ]; do
		cur=
		segs=()
		IFS=$'\r' read -r -d '' -a segs < <(printf '%s\r\0' "$line")
		for seg in "${segs[@]}"; do
			pos=0
			pieces=()
			while [[ $seg == *$'\e[K'* ]]; do
				pieces+=("${seg%%$'\e[K'*}")
				seg=${seg#*$'\e[K'}
			done
			pieces+=("$seg")
			for ((i = 0; i < ${#pieces[@]}; i++)); do
				piece=${pieces[i]}
				cur=${cur:0:pos}$piece${cur:pos+${#piece}}
				pos=$((pos + ${#piece}))
				((i < ${#pieces[@]} - 1)) && cur=${cur:0:pos}
			done
		done
		printf '%s\n' "$cur"
	done <<<"$output"
}
