/* Unit tests for lib/rmtree.c through its public API: callbacks, counters,
 * dry run, force, refusals, symlink arguments. The CLI and hostile suites
 * test the rest (races, mounts, permissions). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "treeutils.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

struct seen {
	int errors;
	int last_err;
	char last_path[PATH_MAX];
	int removed, removed_dirs;
	char first_removed[PATH_MAX];
};

static int on_error(const struct tu_err *e, void *ctx)
{
	struct seen *s = ctx;
	s->errors++;
	s->last_err = e->err;
	snprintf(s->last_path, sizeof s->last_path, "%s", e->path);
	return TU_CONTINUE;
}

static void on_removed(const char *path, bool is_dir, void *ctx)
{
	struct seen *s = ctx;
	if (s->removed + s->removed_dirs == 0)
		snprintf(s->first_removed, sizeof s->first_removed, "%s", path);
	if (is_dir)
		s->removed_dirs++;
	else
		s->removed++;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-rmtree.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	return chdir(tmp);
}

static int teardown(void **state)
{
	(void)state;
	if (chdir("/") < 0)
		return -1;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void make_small_tree(const char *top)
{
	char p[512];
	assert_int_equal(mkdir(top, 0755), 0);
	snprintf(p, sizeof p, "%s/sub", top);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/sub/f%d", top, i);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	snprintf(p, sizeof p, "%s/link", top);
	assert_int_equal(symlink("/", p), 0);
}

static void init(struct tu_rmtree_opts *o, struct seen *s, struct tu_stats *st)
{
	tu_rmtree_opts_init(o);
	memset(s, 0, sizeof *s);
	o->error = on_error;
	o->removed = on_removed;
	o->ctx = s;
	o->stats = st;
}

static void test_defaults(void **state)
{
	(void)state;
	struct tu_rmtree_opts o;
	tu_rmtree_opts_init(&o);
	assert_true(o.timeout == TU_RMTREE_TIMEOUT);
	assert_false(o.hide || o.all_or_nothing || o.dry_run || o.force || o.one_file_system);
}

static void test_removes_and_counts(void **state)
{
	(void)state;
	make_small_tree("t1");
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("t1", &o), 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.removed, 4);
	assert_int_equal(s.removed_dirs, 2);
	assert_int_equal(atomic_load(&st.entries), 6);
	assert_int_equal(access("t1", F_OK), -1);
}

static void test_dry_run_changes_nothing(void **state)
{
	(void)state;
	make_small_tree("t2");
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	o.dry_run = true;
	o.hide = true;		/* no rename in a dry run either */
	assert_int_equal(tu_rmtree("t2", &o), 0);
	assert_int_equal(s.removed + s.removed_dirs, 6);
	assert_int_equal(access("t2/sub/f2", F_OK), 0);
	assert_int_equal(access("t2/link", F_OK), 0);
}

static void test_missing_and_force(void **state)
{
	(void)state;
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("nope", &o), -ENOENT);
	assert_int_equal(s.errors, 1);
	assert_string_equal(s.last_path, "nope");
	init(&o, &s, &st);
	o.force = true;
	assert_int_equal(tu_rmtree("nope", &o), 0);
	assert_int_equal(tu_rmtree("no/such/parent/x", &o), 0);
	assert_int_equal(s.errors, 0);
}

static void test_refusals(void **state)
{
	(void)state;
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	const char *bad[] = { "", ".", "..", "/", "//", "a/..", "./.", "../." };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		init(&o, &s, &st);
		o.force = true;		/* refusals are errors even with force */
		int r = tu_rmtree(bad[i], &o);
		assert_true(r == -EINVAL || r == -EPERM);
		assert_int_equal(s.errors, 1);
	}
}

static void test_symlink_argument_removes_only_the_link(void **state)
{
	(void)state;
	make_small_tree("target");
	assert_int_equal(symlink("target", "ln"), 0);
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("ln/", &o), 0);
	assert_int_equal(s.removed, 1);
	assert_string_equal(s.first_removed, "ln");
	assert_int_equal(access("target/sub/f0", F_OK), 0);
}

static void test_trailing_slashes_in_messages(void **state)
{
	(void)state;
	make_small_tree("t3");
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	o.dry_run = true;
	assert_int_equal(tu_rmtree("t3///", &o), 0);
	/* Post-order: the first path reported lies below t3, joined once. */
	assert_true(strncmp(s.first_removed, "t3/", 3) == 0);
	assert_null(strstr(s.first_removed, "//"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_removes_and_counts),
		cmocka_unit_test(test_dry_run_changes_nothing),
		cmocka_unit_test(test_missing_and_force),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_symlink_argument_removes_only_the_link),
		cmocka_unit_test(test_trailing_slashes_in_messages),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
