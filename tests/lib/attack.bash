# SPDX-License-Identifier: Apache-2.0
# The attack-and-crash harness for every tool (issue 12, "One harness for
# every tool"): a canary outside the tree, checksummed before and after; the
# attacker (tests/hostile/attacker.c) run as nobody on a tree while a tool
# works on it; and kill -9 at seeded instants. Load after helpers.bash.
#
# Seeds: every round's seed is printed ("attack seed N", "kill seed N"); set
# TU_ATTACK_SEED=N to start a run from that seed again.
# Nothing here may change the canary; the tests only read it.

# A seed for this test: TU_ATTACK_SEED, or a fresh one.
ATTACK_SEED=${TU_ATTACK_SEED:-$((RANDOM * 32768 + RANDOM))}

# canary_make: add to tu_setup's $CANARY what a tool could damage: a file
# with xattrs (user and trusted), a 0600 file, a directory with a file, a
# FIFO, and $BAIT, a root file the attacker hard links into the tree where
# the kernel allows it (fs.protected_hardlinks=0). Call after tu_setup.
canary_make() {
	echo secret >"$CANARY/private"
	chmod 0600 "$CANARY/private"
	setfattr -n user.colour -v blue "$CANARY/file"
	if [ "$(id -u)" = 0 ]; then
		setfattr -n trusted.key -v 0x00ff "$CANARY/file"
	fi
	mkfifo -m 0644 "$CANARY/fifo"
	BAIT=$CANARY/bait
	echo bait >"$BAIT"
	chmod 0644 "$BAIT"
	setfattr -n user.bait -v 1 "$BAIT"
	touch -d '2001-02-03 04:05:06' "$CANARY"/* "$CANARY/sub/file"
	CANARY_SUM=$(canary_sum)
}

# canary_sum: every entry of $CANARY and $CANARY itself, never followed:
# type, mode, owner, size, mtime, ctime, link count, content digest and
# xattrs. The bait's link count and ctime are left out: a hard link to it
# (which the attacker may make) changes both and is not the tool's doing.
# (No python here: on a loaded machine its start-up alone takes a second.)
canary_sum() {
	find "$CANARY" \( -path "$BAIT" -printf '%P %y %m %U %G %s %T@\n' \) \
		-o -printf '%P %y %m %U %G %s %T@ %C@ %n\n' | sort
	find "$CANARY" -type f -exec md5sum {} + | sort
	getfattr -R -h -d -m - --absolute-names "$CANARY" 2>&1
}

# assert_canary_unchanged: the canary is exactly what canary_make left.
assert_canary_unchanged() {
	local now
	now=$(canary_sum)
	[ "$now" = "$CANARY_SUM" ] || {
		echo "the canary changed (attack seed $ATTACK_SEED):"
		diff <(echo "$CANARY_SUM") <(echo "$now")
		return 1
	}
}

# give_to_nobody PATH...: the attacker may write there.
give_to_nobody() {
	chown -R nobody:nogroup "$@"
}

# attack_start TREE [ATTACKER OPTION...]: run the attacker as nobody on TREE
# (below $S, relative to it or absolute; default: 1 s, every attack, subtrees moved into $S/hold, the bait
# offered for hard links). Each call takes the next seed. $ATTACKER is its
# pid (tu_teardown stops it).
attack_start() {
	local tree=$1
	shift
	ATTACK_ROUND=$((${ATTACK_ROUND:--1} + 1))
	ATTACK_THIS=$((ATTACK_SEED + ATTACK_ROUND))
	[ -d "$S/hold" ] || { mkdir "$S/hold" && give_to_nobody "$S/hold"; }
	echo "attack seed $ATTACK_THIS"
	# Paths relative to $S: nobody may not search the directories above
	# it. The canary is only ever a symlink target, so it stays absolute.
	rm -f "$S/hold/ready"
	(cd "$S" && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		attacker -s "$ATTACK_THIS" -t 1 -H hold -b "${BAIT#"$S"/}" -l hold/attack.log \
		-r hold/ready "$@" "${tree#"$S"/}" "$CANARY") >"$S/attack.out" &
	ATTACKER=$!
	local i
	for ((i = 0; i < 500; i++)); do
		[ ! -e "$S/hold/ready" ] || return 0
		kill -0 "$ATTACKER" 2>/dev/null || break
		sleep 0.01
	done
	echo "the attacker did not start"
	return 1
}

# attack_stop: stop the attacker; $ATTACKS is its summary line, and the
# total of attacks made is added to $ATTACK_TOTAL.
attack_stop() {
	kill "$ATTACKER" 2>/dev/null || true
	local rc=0
	wait "$ATTACKER" || rc=$?
	ATTACKER=
	ATTACKS=$(cat "$S/attack.out")
	echo "attacker: $ATTACKS"
	[ "$rc" -eq 0 ] || { echo "attacker failed ($rc)"; return 1; }
	local o=$output k made=0
	output=$ATTACKS
	for k in exchange move swap save plant; do made=$((made + $(counter "$k"))); done
	output=$o
	ATTACK_TOTAL=$((${ATTACK_TOTAL:-0} + made))
}

# tool_ok: the tool under attack ended by itself with 0 or 1 (some entries
# failed, each reported), never a crash, a sanitizer report or a hang.
tool_ok() {
	[ "$status" -le 1 ] || { echo "exit status $status:"; echo "$output"; return 1; }
	! grep -q -e 'Sanitizer' -e 'runtime error' <<<"$output" || { echo "$output"; return 1; }
}

# attack_run TARGET [ATTACKER OPTION...] -- COMMAND...: attack TARGET while
# COMMAND runs (the attacker starts 50 ms ahead and goes on 50 ms after);
# then COMMAND ended by itself with 0 or 1, and the canary is unchanged.
# $status and $output are COMMAND's.
attack_run() {
	local target=$1 opts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	attack_start "$target" "${opts[@]}"
	sleep 0.05
	run "$@"
	sleep 0.05
	local st=$status out=$output
	attack_stop
	status=$st output=$out
	tool_ok
	assert_canary_unchanged
}

# ---- crash injection -----------------------------------------------------

# kill_at SEED LO HI COMMAND...: run COMMAND, and kill -9 it after LO to HI
# milliseconds (chosen by SEED). True when the kill landed while it ran.
kill_at() {
	local seed=$1 lo=$2 hi=$3 p ms landed=1
	shift 3
	RANDOM=$seed
	ms=$((RANDOM % (hi - lo + 1) + lo))
	"$@" >/dev/null 2>&1 &
	p=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$p" 2>/dev/null || landed=0
	wait "$p" 2>/dev/null || true
	[ "$landed" = 1 ]
}

# kill_mid_run N LO HI PREPARE CHECK COMMAND...: N rounds of: PREPARE (a
# function: build the state), COMMAND killed -9 at a seeded instant between
# LO and HI ms, CHECK (a function: assert the tool's promise about what it
# left). At least one kill must have landed while COMMAND ran.
kill_mid_run() {
	local n=$1 lo=$2 hi=$3 prepare=$4 check=$5 hits=0 i seed
	shift 5
	for ((i = 0; i < n; i++)); do
		seed=$((ATTACK_SEED + i))
		"$prepare"
		if kill_at "$seed" "$lo" "$hi" "$@"; then
			hits=$((hits + 1))
		fi
		# Not in a condition: bats's errexit must stay on in CHECK.
		echo "round $i: kill seed $seed (TU_ATTACK_SEED=$ATTACK_SEED)"
		"$check"
	done
	echo "killed mid-run: $hits of $n"
	[ "$hits" -gt 0 ]
}

# assert_no_partial DEST [SOURCE]: every file under DEST that has a final
# name is complete (equal to its SOURCE, default s), and no temporary (.tu-)
# name is left.
assert_no_partial() {
	local f src=${2:-s}
	while IFS= read -r -d '' f; do
		cmp "$src/${f#"$1"/}" "$f"
	done < <(find "$1" -type f -print0)
	run bash -c "find '$1' -name '.tu-*' | grep ."
	assert_failure
}

# tree_snapshot DIR: one line per entry below DIR, sorted: path and type,
# and the content digest of each file, the target of each symlink.
tree_snapshot() {
	(cd "$1" && find . -mindepth 1 ! -type f -printf '%p %y %l\n' &&
		find . -type f -exec md5sum {} +) | sort
}

# known_hole TEXT: skip a test that shows a hole another change will close
# ("known hole: TEXT"); TU_KNOWN_HOLES=1 runs it anyway.
known_hole() {
	[ -n "${TU_KNOWN_HOLES:-}" ] || skip "known hole: $1"
}
