/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/move.c through its public API and its test hook: a
 * move across filesystems stopped (as by kill -9, in a forked child) at each
 * of its steps leaves the whole data in at least one place, and the same
 * call made again finishes it with nothing hidden left; entries changed
 * after the copy, or put in SOURCE after it, are kept; same-filesystem rename and refusals. Moves across
 * filesystems need a second mount (a tmpfs we mount: root only). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "unit.h"

#include "treeutils.h"
#define TU_INTERNAL
#include "move.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];
static bool mounted;

struct seen {
	int errors;
	int last_err;
	char last_detail[256];
};

static int on_error(const struct tu_err *e, void *ctx)
{
	struct seen *s = ctx;
	s->errors++;
	s->last_err = e->err;
	snprintf(s->last_detail, sizeof s->last_detail, "%s", e->detail ? e->detail : "");
	return TU_CONTINUE;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-move.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp) || chdir(tmp) < 0)
		return -1;
	mkdir("other", 0755);
	mounted = geteuid() == 0 && mount("none", "other", "tmpfs", 0, "size=64m") == 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (mounted)
		umount2("other", MNT_DETACH);
	if (chdir("/") < 0)
		return -1;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void need_other(void)
{
	if (!mounted)
		skip();	/* needs root to mount a second filesystem */
}

static void write_at(const char *path, const char *data)
{
	unit_write_file(AT_FDCWD, path, data, strlen(data));
}

static bool has(const char *path, const char *data)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	return n == (ssize_t)strlen(data) && memcmp(buf, data, (size_t)n) == 0;
}

static void make_tree(const char *t)
{
	char p[512];
	assert_int_equal(mkdir(t, 0755), 0);
	snprintf(p, sizeof p, "%s/a", t);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof p, "%s/a/f", t);
	write_at(p, "hello");
	snprintf(p, sizeof p, "%s/g", t);
	write_at(p, "world");
	snprintf(p, sizeof p, "%s/a/l", t);
	assert_int_equal(symlink("../g", p), 0);
}

static bool tree_whole(const char *t)
{
	char p[512], l[64];
	snprintf(p, sizeof p, "%s/a/f", t);
	bool ok = has(p, "hello");
	snprintf(p, sizeof p, "%s/g", t);
	ok = ok && has(p, "world");
	snprintf(p, sizeof p, "%s/a/l", t);
	ssize_t n = readlink(p, l, sizeof l);
	return ok && n == 4 && memcmp(l, "../g", 4) == 0;
}

/* Names of ours (.tu-mv-...) in DIR. */
static int hidden_in(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, ".tu-", 4) == 0;
	if (d)
		closedir(d);
	return n;
}

static enum tu_move_point stop_at;

static void crash(enum tu_move_point p)
{
	if (p == stop_at)
		_exit(9);
}

/* tu_mvtree in a child killed (it exits at once, as kill -9 would leave
   it) at point P. Returns the child's exit status (9 when stopped). */
static int move_killed_at(const char *s, const char *d, enum tu_move_point p)
{
	pid_t pid = fork();
	if (pid == 0) {
		stop_at = p;
		tu_move_hook = crash;
		struct tu_mvtree_opts o;
		tu_mvtree_opts_init(&o);
		o.jobs = 1;
		_exit(tu_mvtree(s, d, &o) == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int move(const char *s, const char *d, struct seen *seen)
{
	struct tu_mvtree_opts o;
	tu_mvtree_opts_init(&o);
	o.jobs = 2;
	o.error = on_error;
	o.ctx = seen;
	return tu_mvtree(s, d, &o);
}

static void test_same_fs_rename_keeps_inode(void **state)
{
	(void)state;
	make_tree("s");
	struct stat a, b;
	assert_int_equal(stat("s", &a), 0);
	struct seen seen = { 0 };
	assert_int_equal(move("s", "d", &seen), 0);
	assert_int_equal(stat("d", &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(tree_whole("d"));
	assert_int_equal(access("s", F_OK), -1);
	assert_int_equal(seen.errors, 0);
}

static void test_refusals_change_nothing(void **state)
{
	(void)state;
	make_tree("s");
	assert_int_equal(mkdir("e", 0755), 0);
	struct seen seen = { 0 };
	assert_int_equal(move("s", "e", &seen), -EEXIST);
	assert_int_equal(move("s", "s", &seen), -EINVAL);
	assert_int_equal(move("s", "s/a/x", &seen), -EINVAL);
	assert_int_equal(move(".", "x", &seen), -EINVAL);
	assert_int_equal(move("s/..", "x", &seen), -EINVAL);
	assert_int_equal(move("/", "x", &seen), -EINVAL);
	assert_int_equal(move("nothing", "x", &seen), -ENOENT);
	assert_int_equal(seen.errors, 7);
	assert_true(tree_whole("s"));
	assert_int_equal(access("x", F_OK), -1);
}

/* Each step a crash can stop at, for a directory and a file. */
static void crash_and_rerun(bool dir, enum tu_move_point p)
{
	if (dir)
		make_tree("s");
	else
		write_at("s", "single");
	assert_int_equal(move_killed_at("s", "other/d", p), 9);
	/* The data is whole in at least one place. */
	bool src = dir ? tree_whole("s") : has("s", "single");
	bool dst = dir ? tree_whole("other/d") : has("other/d", "single");
	assert_true(src || dst);
	if (p < TU_MOVE_PLACED)
		assert_true(src && access("other/d", F_OK) < 0);
	if (p == TU_MOVE_SOURCE_REMOVED)
		assert_true(!src && dst);
	/* The same call finishes the move. */
	struct seen seen = { 0 };
	assert_int_equal(move("s", "other/d", &seen), 0);
	assert_int_equal(seen.errors, 0);
	assert_true(dir ? tree_whole("other/d") : has("other/d", "single"));
	assert_int_equal(access("s", F_OK), -1);
	assert_int_equal(hidden_in("other"), 0);
	assert_int_equal(hidden_in("."), 0);
}

static void test_crash_after_copy_dir(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(true, TU_MOVE_COPIED_HIDDEN);
}

static void test_crash_after_marker_dir(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(true, TU_MOVE_MARKED);
}

static void test_crash_after_place_dir(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(true, TU_MOVE_PLACED);
}

static void test_crash_after_removal_dir(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(true, TU_MOVE_SOURCE_REMOVED);
}

/* Killed while SOURCE was being removed: the rerun finishes what is left,
   though the directories' ctimes moved with the removals. */
static void test_crash_while_removing_dir(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(true, TU_MOVE_REMOVING);
}

static void test_crash_after_copy_file(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(false, TU_MOVE_COPIED_HIDDEN);
}

static void test_crash_after_marker_file(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(false, TU_MOVE_MARKED);
}

static void test_crash_after_place_file(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(false, TU_MOVE_PLACED);
}

static void test_crash_after_removal_file(void **state)
{
	(void)state;
	need_other();
	crash_and_rerun(false, TU_MOVE_SOURCE_REMOVED);
}

/* A DEST that exists but is not our copy is never taken for one, even with
   a marker beside it. */
static void test_foreign_dest_with_marker_refused(void **state)
{
	(void)state;
	need_other();
	make_tree("s");
	assert_int_equal(move_killed_at("s", "other/d", TU_MOVE_MARKED), 9);
	/* Someone else makes DEST before the rerun. */
	assert_int_equal(mkdir("other/d", 0755), 0);
	struct seen seen = { 0 };
	assert_int_equal(move("s", "other/d", &seen), -EEXIST);
	assert_true(tree_whole("s"));
}

static void append_to_f(enum tu_move_point p)
{
	if (p == TU_MOVE_PLACED) {
		int fd = open("s/a/f", O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "!", 1), 1);
		close(fd);
	}
}

static void test_changed_after_copy_is_kept(void **state)
{
	(void)state;
	need_other();
	make_tree("s");
	tu_move_hook = append_to_f;
	struct seen seen = { 0 };
	int r = move("s", "other/d", &seen);
	tu_move_hook = NULL;
	assert_int_equal(r, TU_MVTREE_INCOMPLETE);
	assert_true(seen.errors >= 1);
	assert_true(has("s/a/f", "hello!"));
	assert_true(tree_whole("other/d"));
	/* Only it (and the directories holding it) stayed. */
	assert_int_equal(access("s/g", F_OK), -1);
	assert_int_equal(access("s/a/l", F_OK), -1);
	assert_int_equal(seen.errors, 1);
}

/* A directory put in SOURCE's place of one that was copied (same name,
   never verified) is never removed. */
static void swap_dir(enum tu_move_point p)
{
	if (p == TU_MOVE_PLACED) {
		assert_int_equal(rename("s/a", "a-copied"), 0);
		assert_int_equal(mkdir("s/a", 0750), 0);
		write_at("s/a/f", "hello");
	}
}

static void test_swapped_in_directory_is_kept(void **state)
{
	(void)state;
	need_other();
	make_tree("s");
	tu_move_hook = swap_dir;
	struct seen seen = { 0 };
	int r = move("s", "other/d", &seen);
	tu_move_hook = NULL;
	assert_int_equal(r, TU_MVTREE_INCOMPLETE);
	assert_true(has("s/a/f", "hello"));
	assert_true(tree_whole("other/d"));
	assert_int_equal(access("s/g", F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_fs_rename_keeps_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_copy_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_marker_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_place_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_removal_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_removing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_copy_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_marker_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_place_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_removal_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_dest_with_marker_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_after_copy_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_in_directory_is_kept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
