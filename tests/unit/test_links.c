/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/links.c (dedup --links and --paths-of): which inodes
 * are grouped, with which paths and link counts; a DIR given twice; a FILE
 * that is a symlink (never followed), a directory, or outside the DIRs;
 * failures reported through the error callback. It must never touch
 * anything outside its own scratch directory. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "treeutils.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static int tmpfd;

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-links.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
	return tmpfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unit_rm_rf(tmpfd);
	close(tmpfd);
	return rmdir(tmp);
}

static int clean(void **state)
{
	(void)state;
	unit_rm_rf(tmpfd);
	return 0;
}

static void sh(const char *cmd)
{
	char buf[1200];
	snprintf(buf, sizeof buf, "cd '%s' && %s", tmp, cmd);
	assert_int_equal(system(buf), 0);
}

/* What the callbacks saw: each group as "NLINK: path path ...", paths
   relative to the scratch directory, one line each, in call order; and
   each error as "OP PATH ERRNO". */
struct seen {
	char groups[4096];
	char errors[1024];
	int ngroups, nerrors;
};

static const char *rel(const char *path)
{
	size_t n = strlen(tmp);
	if (strncmp(path, tmp, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

static void on_group(const char *const *paths, size_t n, uint64_t nlink, void *ctx)
{
	struct seen *s = ctx;
	size_t len = strlen(s->groups);
	len += (size_t)snprintf(s->groups + len, sizeof s->groups - len, "%llu:",
				(unsigned long long)nlink);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s->groups + len, sizeof s->groups - len, " %s", rel(paths[i]));
	snprintf(s->groups + len, sizeof s->groups - len, "\n");
	s->ngroups++;
}

static int on_error(const struct tu_err *e, void *ctx)
{
	struct seen *s = ctx;
	size_t len = strlen(s->errors);
	snprintf(s->errors + len, sizeof s->errors - len, "%s %s %d\n", e->op, rel(e->path), e->err);
	s->nerrors++;
	return TU_CONTINUE;
}

static void opts(struct tu_links_opts *o, struct seen *s, int jobs)
{
	tu_links_opts_init(o);
	o->jobs = jobs;
	o->group = on_group;
	o->error = on_error;
	o->ctx = s;
	memset(s, 0, sizeof *s);
}

static char *path_of(const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", tmp, name) > 0);
	return p;
}

/* Every inode with more than one link, once, with its names under the DIRs
   sorted, and its whole link count (one of them lies outside); single
   names, directories and symlinks to linked files are not grouped, but a
   hard-linked symlink is (it is a non-directory like any other). */
static void test_links_groups(void **state)
{
	(void)state;
	sh("mkdir -p t/sub out && echo a >t/a && ln t/a t/sub/b && ln t/a t/c && echo d >t/d");
	sh("echo x >t/x && ln t/x out/x && ln -s a t/sym && ln -s d t/l1 && ln -P t/l1 t/sub/l2");
	for (int jobs = 1; jobs <= 4; jobs += 3) {
		struct tu_links_opts o;
		struct seen s;
		opts(&o, &s, jobs);
		char *t = path_of("t");
		const char *dirs[] = { t };
		assert_int_equal(tu_links(dirs, 1, &o), 0);
		free(t);
		assert_int_equal(s.nerrors, 0);
		assert_int_equal(s.ngroups, 3);
		/* Groups come in (device, inode) order, so look each one up. */
		assert_non_null(strstr(s.groups, "3: t/a t/c t/sub/b\n"));
		assert_non_null(strstr(s.groups, "2: t/x\n"));
		assert_non_null(strstr(s.groups, "2: t/l1 t/sub/l2\n"));
	}
}

/* The same DIR given twice (or nested in another given DIR) finds each name
   once, not twice. */
static void test_links_dir_twice(void **state)
{
	(void)state;
	sh("mkdir t && echo a >t/a && ln t/a t/b");
	struct tu_links_opts o;
	struct seen s;
	opts(&o, &s, 2);
	char *t = path_of("t");
	const char *dirs[] = { t, t };
	assert_int_equal(tu_links(dirs, 2, &o), 0);
	free(t);
	assert_string_equal(s.groups, "2: t/a t/b\n");
}

/* A DIR that cannot be opened is reported, the others are still listed,
   and the call says something failed. */
static void test_links_missing_dir(void **state)
{
	(void)state;
	sh("mkdir t && echo a >t/a && ln t/a t/b");
	struct tu_links_opts o;
	struct seen s;
	opts(&o, &s, 1);
	char *t = path_of("t"), *gone = path_of("gone");
	const char *dirs[] = { gone, t };
	assert_true(tu_links(dirs, 2, &o) != 0);
	free(t);
	free(gone);
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors, "gone"));
	assert_string_equal(s.groups, "2: t/a t/b\n");
}

/* Every path of one inode under the DIRs, in one call, with its link
   count: here 3 links, 2 of them inside. */
static void test_paths_of(void **state)
{
	(void)state;
	sh("mkdir -p t/deep/er out && echo a >t/a && ln t/a t/deep/er/b && ln t/a out/c");
	sh("echo other >t/other");
	struct tu_links_opts o;
	struct seen s;
	opts(&o, &s, 2);
	char *t = path_of("t"), *file = path_of("out/c");
	const char *dirs[] = { t };
	assert_int_equal(tu_paths_of(file, dirs, 1, &o), 0);
	assert_string_equal(s.groups, "3: t/a t/deep/er/b\n");
	free(file);
	/* A file with no name under the DIRs: one call, no paths. */
	sh("echo lone >out/lone");
	file = path_of("out/lone");
	opts(&o, &s, 1);
	assert_int_equal(tu_paths_of(file, dirs, 1, &o), 0);
	assert_string_equal(s.groups, "1:\n");
	free(file);
	free(t);
}

/* A FILE that is a symlink is never followed: the paths are those of the
   link's own inode, not of what it points to. A directory is refused. */
static void test_paths_of_symlink_and_dir(void **state)
{
	(void)state;
	sh("mkdir t && echo a >t/a && ln t/a t/a2 && ln -s a t/link");
	struct tu_links_opts o;
	struct seen s;
	opts(&o, &s, 1);
	char *t = path_of("t"), *link = path_of("t/link");
	const char *dirs[] = { t };
	assert_int_equal(tu_paths_of(link, dirs, 1, &o), 0);
	assert_string_equal(s.groups, "1: t/link\n");
	opts(&o, &s, 1);
	assert_true(tu_paths_of(t, dirs, 1, &o) != 0);
	assert_int_equal(s.ngroups, 0);
	assert_int_equal(s.nerrors, 1);
	char want[32];
	snprintf(want, sizeof want, " %d\n", EISDIR);
	assert_non_null(strstr(s.errors, want));
	free(link);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_links_groups, clean),
		cmocka_unit_test_setup(test_links_dir_twice, clean),
		cmocka_unit_test_setup(test_links_missing_dir, clean),
		cmocka_unit_test_setup(test_paths_of, clean),
		cmocka_unit_test_setup(test_paths_of_symlink_and_dir, clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
