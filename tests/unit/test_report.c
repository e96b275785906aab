/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the one reporter (lib/report.c) through every algorithm's
 * public entry point: once the error callback answers TU_STOP, no further
 * entry is dealt with or reported (no error, warning or entry callback
 * comes after that answer), and the call returns the convention's
 * TU_PARTIAL. Each test makes several failures, so a run that went on
 * after the answer would report more than one.
 *
 * The failures: immutable files (chattr +i, as root) for rmtree and dedup;
 * --reflink=always on a filesystem without reflinks for cptree and mvtree;
 * unreadable entries, seen by a child that drops to user nobody, for
 * cptree's walker errors, hashcache and the link listing. Tests that need
 * root skip otherwise, saying why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "treeutils.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static char tmp[256];

/* What the callbacks saw: failures, and anything at all after the first
   TU_STOP answer. */
struct probe {
	int errors;
	int after;		/* callbacks of any kind after the answer */
	bool stopped;
};

static int stop_error(const struct tu_err *e, void *ctx)
{
	(void)e;
	struct probe *p = ctx;
	p->errors++;
	if (p->stopped)
		p->after++;
	p->stopped = true;
	return TU_STOP;
}

static int late_warning(const struct tu_err *e, void *ctx)
{
	(void)e;
	struct probe *p = ctx;
	if (p->stopped)
		p->after++;
	return TU_CONTINUE;
}

static void late_entry(const char *path, bool is_dir, void *ctx)
{
	(void)path, (void)is_dir;
	struct probe *p = ctx;
	if (p->stopped)
		p->after++;
}

static void late_copy(const struct tu_copy_item *it, void *ctx)
{
	(void)it;
	late_entry(NULL, false, ctx);
}

static void late_hash(const char *path, const struct tu_hash_info *h, void *ctx)
{
	(void)h;
	late_entry(path, false, ctx);
}

static void late_action(const struct tu_dedup_action *a, void *ctx)
{
	(void)a;
	late_entry(NULL, false, ctx);
}

static void late_group(const char *const *paths, size_t n, uint64_t size,
		       const unsigned char *digest, void *ctx)
{
	(void)paths, (void)n, (void)size, (void)digest;
	late_entry(NULL, false, ctx);
}

static void late_links(const char *const *paths, size_t n, uint64_t nlink, void *ctx)
{
	(void)paths, (void)n, (void)nlink;
	late_entry(NULL, false, ctx);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-report.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp) || chmod(tmp, 0755) < 0)	/* nobody may look in */
		return -1;
	return chdir(tmp);
}

static int teardown(void **state)
{
	(void)state;
	if (chdir("/") < 0)
		return -1;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "chattr -R -i '%s' 2>/dev/null; rm -rf '%s'", tmp, tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_at(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

/* TOP with NDIRS directories of NFILES files each ("TOP/dI/fJ"). */
static void make_tree(const char *top, int ndirs, int nfiles)
{
	char p[512];
	assert_int_equal(mkdir(top, 0755), 0);
	for (int i = 0; i < ndirs; i++) {
		snprintf(p, sizeof p, "%s/d%d", top, i);
		assert_int_equal(mkdir(p, 0755), 0);
		for (int j = 0; j < nfiles; j++) {
			snprintf(p, sizeof p, "%s/d%d/f%d", top, i, j);
			char data[64];
			snprintf(data, sizeof data, "file %d of %d\n", j, i);
			write_at(p, data);
		}
	}
}

static int count_left(const char *top, int ndirs, int nfiles)
{
	char p[512];
	int n = 0;
	for (int i = 0; i < ndirs; i++)
		for (int j = 0; j < nfiles; j++) {
			snprintf(p, sizeof p, "%s/d%d/f%d", top, i, j);
			n += access(p, F_OK) == 0;
		}
	return n;
}

/* A child's exit status: 0 when R and PR are what a stopped run gives. */
static int verdict(int r, const struct probe *pr)
{
	if (r != TU_PARTIAL)
		return 1;
	if (pr->errors != 1)
		return 10 + (pr->errors > 80 ? 80 : pr->errors);
	return pr->after == 0 ? 0 : 2;
}

/* Run FN in a child that is user and group nobody; its exit status is
   what FN returns (0: all checks held). Skips when not root. */
static void as_nobody(int (*fn)(void))
{
	if (geteuid() != 0)
		skip();		/* needs root to become nobody */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(99);
		_exit(fn());
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- rmtree ------------------------------------------------------------- */

static void test_rmtree_stops(void **state)
{
	(void)state;
	make_tree("r", 6, 20);
	char p[64];
	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof p, "r/d%d/f7", i);
		if (unit_set_immutable(p, 1) < 0)
			skip();		/* needs root and chattr +i */
	}
	struct probe pr = { 0 };
	struct tu_rmtree_opts o;
	tu_rmtree_opts_init(&o);
	o.jobs = 1;
	o.error = stop_error;
	o.removed = late_entry;
	o.ctx = &pr;
	int r = tu_rmtree("r", &o);
	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof p, "r/d%d/f7", i);
		unit_set_immutable(p, 0);
	}
	assert_int_equal(r, TU_PARTIAL);
	assert_int_equal(pr.errors, 1);
	assert_int_equal(pr.after, 0);
	/* The other directories were never gone through. */
	assert_true(count_left("r", 6, 20) > 6 + 20);
}

/* ---- cptree ------------------------------------------------------------- */

static void test_cptree_stops(void **state)
{
	(void)state;
	make_tree("c", 4, 10);
	struct probe pr = { 0 };
	struct tu_cptree_opts o;
	tu_cptree_opts_init(&o);
	o.jobs = 1;
	o.error = stop_error;
	o.warning = late_warning;
	o.copied = late_copy;
	o.ctx = &pr;
	int r = tu_cptree("c", "c-copy", &o);
	if (r == 0 && pr.errors == 0)
		skip();		/* this filesystem has reflinks: no failure to stop at */
	assert_int_equal(r, TU_PARTIAL);
	assert_int_equal(pr.errors, 1);
	assert_int_equal(pr.after, 0);
}

/* The walker's own errors (an unreadable directory) stop a copy too: its
   error callback no longer answers TU_CONTINUE whatever the caller said. */
static int cptree_walk_error_child(void)
{
	struct probe pr = { 0 };
	struct tu_cptree_opts o;
	tu_cptree_opts_init(&o);
	o.jobs = 1;
	o.error = stop_error;
	o.warning = late_warning;
	o.copied = late_copy;
	o.ctx = &pr;
	int r = tu_cptree("cw/s", "cw/out/d", &o);
	return verdict(r, &pr);
}

static void test_cptree_walk_error_stops(void **state)
{
	(void)state;
	assert_int_equal(mkdir("cw", 0755), 0);
	make_tree("cw/s", 6, 2);
	char p[64];
	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof p, "cw/s/d%d", i);
		assert_int_equal(chmod(p, 0), 0);
	}
	assert_int_equal(mkdir("cw/out", 0755), 0);
	if (geteuid() == 0)
		assert_int_equal(chown("cw/out", NOBODY, NOBODY), 0);
	as_nobody(cptree_walk_error_child);
}

/* ---- mvtree ------------------------------------------------------------- */

static void test_mvtree_stops(void **state)
{
	(void)state;
	assert_int_equal(mkdir("other", 0755), 0);
	/* A second filesystem with room for 20 inodes: the copy of SOURCE's
	   45 fails with ENOSPC part-way. (--reflink=always across two
	   filesystems is now refused before anything starts.) */
	if (geteuid() != 0 || mount("none", "other", "tmpfs", 0, "size=16m,nr_inodes=20") != 0)
		skip();		/* needs root to mount a second filesystem */
	make_tree("m", 4, 10);
	struct probe pr = { 0 };
	struct tu_mvtree_opts o;
	tu_mvtree_opts_init(&o);
	o.jobs = 1;
	o.error = stop_error;
	o.warning = late_warning;
	o.copied = late_copy;
	o.removed = late_entry;
	o.ctx = &pr;
	int r = tu_mvtree("m", "other/m", &o);
	umount2("other", MNT_DETACH);
	assert_int_equal(r, TU_MVTREE_INCOMPLETE);
	assert_int_equal(TU_MVTREE_INCOMPLETE, TU_PARTIAL);
	assert_int_equal(pr.errors, 1);
	assert_int_equal(pr.after, 0);
	assert_int_equal(count_left("m", 4, 10), 40);	/* SOURCE untouched */
}

/* ---- dedup --------------------------------------------------------------- */

static void test_dedup_stops(void **state)
{
	(void)state;
	assert_int_equal(mkdir("dd", 0755), 0);
	char a[64], b[64], data[64];
	for (int i = 0; i < 10; i++) {
		snprintf(a, sizeof a, "dd/p%da", i);
		snprintf(b, sizeof b, "dd/p%db", i);
		snprintf(data, sizeof data, "the content of group %d\n", i);
		write_at(a, data);
		write_at(b, data);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(a, sizeof a, "dd/p%da", i);
		snprintf(b, sizeof b, "dd/p%db", i);
		if (unit_set_immutable(a, 1) < 0 || unit_set_immutable(b, 1) < 0)
			skip();		/* needs root and chattr +i */
	}
	struct probe pr = { 0 };
	struct tu_dedup_opts o;
	tu_dedup_opts_init(&o);
	o.jobs = 1;
	o.store = TU_STORE_XATTR;
	o.error = stop_error;
	o.warning = late_warning;
	o.action = late_action;
	o.group = late_group;
	o.ctx = &pr;
	const char *dirs[] = { "dd" };
	int r = tu_dedup(dirs, 1, &o);
	for (int i = 0; i < 10; i++) {
		snprintf(a, sizeof a, "dd/p%da", i);
		snprintf(b, sizeof b, "dd/p%db", i);
		unit_set_immutable(a, 0);
		unit_set_immutable(b, 0);
	}
	assert_int_equal(r, TU_PARTIAL);
	assert_int_equal(pr.errors, 1);
	assert_int_equal(pr.after, 0);
}

/* Nothing could start: every DIR missing is -errno (dedup exits 2). */
static void test_dedup_nothing_could_start(void **state)
{
	(void)state;
	struct tu_dedup_opts o;
	tu_dedup_opts_init(&o);
	const char *dirs[] = { "no-such-dir", "nor-this" };
	assert_int_equal(tu_dedup(dirs, 2, &o), -ENOENT);
	assert_true(tu_links(dirs, 2, &(struct tu_links_opts){ 0 }) == -ENOENT);
	assert_int_equal(mkdir("one", 0755), 0);
	const char *some[] = { "no-such-dir", "one" };
	assert_int_equal(tu_dedup(some, 2, &o), TU_PARTIAL);
}

/* ---- hashcache ------------------------------------------------------------ */

static int hashcache_child(void)
{
	struct probe pr = { 0 };
	struct tu_hashcache_opts o;
	tu_hashcache_opts_init(&o);
	o.jobs = 1;
	o.no_store = true;
	o.error = stop_error;
	o.warning = late_warning;
	o.file = late_hash;
	o.ctx = &pr;
	int r = tu_hashcache_tree("h", &o);
	return verdict(r, &pr);
}

static void test_hashcache_tree_stops(void **state)
{
	(void)state;
	make_tree("h", 3, 10);
	char p[64];
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 10; j++) {
			snprintf(p, sizeof p, "h/d%d/f%d", i, j);
			assert_int_equal(chmod(p, 0), 0);
		}
	as_nobody(hashcache_child);
}

/* ---- the link listing ------------------------------------------------------ */

static int links_child(void)
{
	struct probe pr = { 0 };
	struct tu_links_opts o;
	tu_links_opts_init(&o);
	o.jobs = 1;
	o.error = stop_error;
	o.group = late_links;
	o.ctx = &pr;
	const char *dirs[] = { "l" };
	int r = tu_links(dirs, 1, &o);
	return verdict(r, &pr);
}

static void test_links_stops(void **state)
{
	(void)state;
	make_tree("l", 6, 1);
	assert_int_equal(link("l/d0/f0", "l/linked"), 0);	/* a group to list */
	char p[64];
	for (int i = 1; i < 6; i++) {
		snprintf(p, sizeof p, "l/d%d", i);
		assert_int_equal(chmod(p, 0), 0);
	}
	as_nobody(links_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rmtree_stops),
		cmocka_unit_test(test_cptree_stops),
		cmocka_unit_test(test_cptree_walk_error_stops),
		cmocka_unit_test(test_mvtree_stops),
		cmocka_unit_test(test_dedup_stops),
		cmocka_unit_test(test_dedup_nothing_could_start),
		cmocka_unit_test(test_hashcache_tree_stops),
		cmocka_unit_test(test_links_stops),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
