#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Scale and shape, for every tool, under `ulimit -n 64`: many entries in one
# directory, names of every byte 1-255 but '/', and nesting far deeper than
# PATH_MAX allows as a path. `make check` runs bounded slices (20,000
# entries, 2,000 levels); `make check-hostile` (TU_HOSTILE_LONG=1) the full
# sizes (500,000 entries, 10,000 levels) and prints time and peak RSS per
# run ("# figures" lines, the source of docs/robustness.md's table).

load ../lib/helpers

setup() { tu_setup; }
teardown() { tu_teardown; }

# scale TOOL ARGS...: run TOOL with at most 64 open files, timed; the
# figures go to fd 3 in the long campaign.
scale() {
	local what=$1
	shift
	run bash -c 'ulimit -n 64; exec /usr/bin/time -f "%e s, %M KiB" -o "$0" "$@"' \
		"$S/time.out" "$@"
	if [ -n "${TU_HOSTILE_LONG:-}" ]; then
		echo "# figures: $what: $(cat "$S/time.out" | tail -1)" >&3
	fi
}

# A listing of a tree that does not depend on path lengths: relative path
# (escaped by Python), type, size, content digest, sorted.
listing() {
	python3 - "$1" <<'PY'
import os, sys, hashlib, stat
root = sys.argv[1]
out = []
def walk(dfd, rel):
    for name in sorted(os.fsencode(n) for n in os.listdir(dfd)):
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        r = rel + b'/' + name if rel else name
        if stat.S_ISDIR(st.st_mode):
            out.append((r, 'd', 0, ''))
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            walk(fd, r)
            os.close(fd)
        else:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            h = hashlib.md5(os.read(fd, 1 << 20)).hexdigest()
            os.close(fd)
            out.append((r, 'f', st.st_size, h))
sys.setrecursionlimit(100000)
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
walk(fd, b'')
for r, t, s, h in out:
    print(repr(r)[2:-1], t, s, h)
PY
}

# wide DIR N: N files in one directory, a hundred different contents.
wide() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(n):
    f = os.open('f%07d' % i, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, b'content %d\n' % (i % 100))
    os.close(f)
PY
}

# bytes DIR: a file named by each byte 1-255 but '/' (and '.', which
# cannot be a name alone: it is there as ".x"), each also inside a longer
# name and as a directory name, holding its byte.
bytes_tree() {
	python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1].encode()
os.mkdir(d)
for b in range(1, 256):
    if b == 0x2f:
        continue
    c = bytes([b])
    for name in ([c] if b != 0x2e else [b'.x']) + [b'a' + c + b'z']:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(c)
    sub = os.path.join(d, b'dir' + c)
    os.mkdir(sub)
    with open(os.path.join(sub, c if b != 0x2e else b'.y'), 'wb') as f:
        f.write(c * 2)
PY
}

# deep DIR N: N nested directories (about 4 bytes a level, so far past
# PATH_MAX), with a file at the bottom and one every 500 levels.
deep() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(n):
    if i % 500 == 0 or i == n - 1:
        f = os.open('file', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, b'level %d\n' % i)
        os.close(f)
    os.mkdir('lvl', dir_fd=fd)
    nfd = os.open('lvl', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
PY
}

# every_tool DIR KIND: each tool on a tree made by KIND, checked.
every_tool() {
	local kind=$1 arg=$2 files
	"$kind" src "$arg"
	listing src >want
	files=$(grep -c ' f ' want)

	scale "$kind cptree" cptree -a src copy
	assert_success
	listing copy >got
	run diff want got
	assert_success

	scale "$kind hashcache" hashcache copy
	assert_success
	[ "$(grep -c . <<<"$output")" -eq "$files" ]
	scale "$kind hashcache --check" hashcache --check -q copy
	assert_success

	scale "$kind dedup" dedup copy
	assert_success
	listing copy >got
	run diff want got
	assert_success

	scale "$kind mvtree" mvtree copy moved
	assert_success
	assert_not_exist copy
	listing moved >got
	run diff <(grep -v '.spookyhashes' want) <(grep -v '.spookyhashes' got)
	assert_success

	scale "$kind rmtree" rmtree moved
	assert_success
	assert_not_exist moved
	rm -rf src
}

@test "scale: $(rounds 20,000 500,000) files in one directory, every tool, ulimit -n 64" {
	every_tool wide "$(rounds 20000 500000)"
}

@test "scale: names of every byte 1-255 but '/', every tool, ulimit -n 64" {
	every_tool bytes_tree 0
}

@test "scale: $(rounds 2,000 10,000) nested levels, past PATH_MAX, every tool, ulimit -n 64" {
	every_tool deep "$(rounds 2000 10000)"
}
