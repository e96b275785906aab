/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/rmtree.c through its public API: callbacks, counters,
 * dry run, force, refusals, symlink arguments, and tu_rmtree_at: one name in
 * a held directory, the expected identity, the may_remove predicate. The CLI
 * and hostile suites test the rest (races, mounts, permissions). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "treeutils.h"
#include "unit.h"

#include <dirent.h>
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

static int count_names(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
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
	assert_false(o.hide || o.all_or_nothing || o.dry_run || o.force || o.cross_mounts);
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

/* The symlink-operand rule (rmtree(1), SYMLINK OPERANDS): "ln" is the link
   itself, and only the link goes; "ln/" names the directory it points to,
   which is never removed through the link: refused, nothing removed. */
static void test_symlink_argument_removes_only_the_link(void **state)
{
	(void)state;
	make_small_tree("target");
	assert_int_equal(symlink("target", "ln"), 0);
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("ln/", &o), -ENOTDIR);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.removed, 0);
	struct stat lst;
	assert_int_equal(lstat("ln", &lst), 0);
	assert_true(S_ISLNK(lst.st_mode));
	assert_int_equal(access("target/sub/f0", F_OK), 0);
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("ln", &o), 0);
	assert_int_equal(s.removed, 1);
	assert_string_equal(s.first_removed, "ln");	/* as given */
	assert_int_equal(lstat("ln", &lst), -1);
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

/* ---- tu_rmtree_at ----------------------------------------------------------- */

static void touch(const char *p)
{
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
}

struct keep {
	struct seen s;
	int asked;
	int kept, kept_dirs;
	char rels[16][64];
	const char *keep_rel;	/* kept by the predicate */
};

static bool keep_one(const struct tu_rmtree_entry *e, void *ctx)
{
	struct keep *k = ctx;
	if (k->asked < 16)
		snprintf(k->rels[k->asked], sizeof k->rels[0], "%s", e->rel);
	k->asked++;
	/* What the predicate is told is what lies there. */
	struct stat st;
	assert_int_equal(fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(st.st_ino == e->ino && st.st_dev == e->dev);
	assert_int_equal(e->is_dir, S_ISDIR(st.st_mode));
	assert_true(e->ctime_sec == st.st_ctim.tv_sec && e->ctime_nsec == st.st_ctim.tv_nsec);
	return strcmp(e->rel, k->keep_rel) != 0;
}

static int keep_error(const struct tu_err *e, void *ctx)
{
	return on_error(e, &((struct keep *)ctx)->s);
}

static void keep_removed(const char *path, bool is_dir, void *ctx)
{
	on_removed(path, is_dir, &((struct keep *)ctx)->s);
}

static void keep_kept(const char *path, bool is_dir, void *ctx)
{
	struct keep *k = ctx;
	(void)path;
	if (is_dir)
		k->kept_dirs++;
	else
		k->kept++;
}

static void init_keep(struct tu_rmtree_opts *o, struct keep *k, const char *keep_rel)
{
	tu_rmtree_opts_init(o);
	memset(k, 0, sizeof *k);
	k->keep_rel = keep_rel;
	o->error = keep_error;
	o->removed = keep_removed;
	o->kept = keep_kept;
	o->may_remove = keep_one;
	o->ctx = k;
}

/* held/top/{a/{b/kept,b/gone,c/x},y}: the predicate keeps top/a/b/kept. */
static int make_keep_tree(void)
{
	/* One scratch directory serves the whole group. */
	assert_int_equal(system("rm -rf held"), 0);
	assert_int_equal(mkdir("held", 0755), 0);
	assert_int_equal(mkdir("held/top", 0755), 0);
	assert_int_equal(mkdir("held/top/a", 0755), 0);
	assert_int_equal(mkdir("held/top/a/b", 0755), 0);
	assert_int_equal(mkdir("held/top/a/c", 0755), 0);
	touch("held/top/a/b/kept");
	touch("held/top/a/b/gone");
	touch("held/top/a/c/x");
	touch("held/top/y");
	int dfd = open("held", O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	return dfd;
}

static void test_at_removes_an_entry_of_a_held_directory(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	assert_int_equal(chmod("held", 0555), 0);	/* root writes anyway */
	assert_int_equal(chmod("held", 0755), 0);
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	o.display = "shown/top";
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.removed, 4);
	assert_int_equal(s.removed_dirs, 4);
	/* Paths in callbacks start with the display name. */
	assert_true(strncmp(s.first_removed, "shown/top/", 10) == 0);
	assert_int_equal(faccessat(dfd, "top", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	/* The held directory itself is never touched. */
	struct stat hs;
	assert_int_equal(fstat(dfd, &hs), 0);
	assert_int_equal(hs.st_mode & 07777, 0755);
	close(dfd);
}

static void test_at_refuses_what_is_not_one_name(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	const char *bad[] = { "", ".", "..", "top/a", "/", "top/" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct tu_rmtree_opts o;
		struct seen s;
		struct tu_stats st = { 0 };
		init(&o, &s, &st);
		o.force = true;
		assert_int_equal(tu_rmtree_at(dfd, bad[i], &o), -EINVAL);
		assert_int_equal(s.errors, 1);
	}
	assert_int_equal(access("held/top/a/b/kept", F_OK), 0);
	close(dfd);
}

static void test_at_checks_the_expected_identity(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	struct stat made;
	assert_int_equal(stat("held/top", &made), 0);
	/* Someone swaps another directory in under the name. */
	assert_int_equal(rename("held/top", "held/moved"), 0);
	assert_int_equal(mkdir("held/top", 0755), 0);
	touch("held/top/theirs");
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	o.expect_id = true;
	o.expect_dev = made.st_dev;
	o.expect_ino = made.st_ino;
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), -ESTALE);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.last_err, ESTALE);
	assert_int_equal(s.removed + s.removed_dirs, 0);
	assert_int_equal(access("held/top/theirs", F_OK), 0);
	/* With hide too: the swapped-in directory keeps its name. */
	init(&o, &s, &st);
	o.expect_id = true;
	o.expect_dev = made.st_dev;
	o.expect_ino = made.st_ino;
	o.hide = true;
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), -ESTALE);
	assert_int_equal(access("held/top/theirs", F_OK), 0);
	/* The one we made, under its name again, goes. */
	assert_int_equal(rename("held/top", "held/theirs"), 0);
	assert_int_equal(rename("held/moved", "held/top"), 0);
	init(&o, &s, &st);
	o.expect_id = true;
	o.expect_dev = made.st_dev;
	o.expect_ino = made.st_ino;
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), 0);
	assert_int_equal(access("held/top", F_OK), -1);
	assert_int_equal(access("held/theirs/theirs", F_OK), 0);
	close(dfd);
}

static void test_at_predicate_keeps_an_entry_and_its_ancestors(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	struct tu_rmtree_opts o;
	struct keep k;
	init_keep(&o, &k, "top/a/b/kept");
	o.jobs = 2;
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), TU_RMTREE_KEPT);
	assert_int_equal(k.s.errors, 0);
	assert_int_equal(k.kept, 1);
	assert_int_equal(k.kept_dirs, 3);	/* b, a, top */
	assert_int_equal(access("held/top/a/b/kept", F_OK), 0);
	assert_int_equal(access("held/top/a/b/gone", F_OK), -1);
	assert_int_equal(access("held/top/a/c", F_OK), -1);
	assert_int_equal(access("held/top/y", F_OK), -1);
	/* Kept in place, never renamed away. */
	struct stat st;
	assert_int_equal(stat("held/top", &st), 0);
	assert_int_equal(count_names("held/top"), 1);
	assert_int_equal(count_names("held/top/a"), 1);
	/* Everything was asked about, with paths from the held directory. */
	assert_int_equal(k.asked, 8);
	bool saw_top = false, saw_deep = false;
	for (int i = 0; i < k.asked && i < 16; i++) {
		saw_top |= strcmp(k.rels[i], "top") == 0;
		saw_deep |= strcmp(k.rels[i], "top/a/c/x") == 0;
	}
	assert_true(saw_top && saw_deep);
	close(dfd);
}

static void test_at_predicate_keeps_a_whole_directory(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	struct tu_rmtree_opts o;
	struct keep k;
	init_keep(&o, &k, "top/a");
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), TU_RMTREE_KEPT);
	/* Nothing inside a kept directory is asked about or removed. */
	assert_int_equal(access("held/top/a/b/gone", F_OK), 0);
	assert_int_equal(access("held/top/a/c/x", F_OK), 0);
	assert_int_equal(access("held/top/y", F_OK), -1);
	assert_int_equal(k.asked, 3);		/* top, a, y */
	assert_int_equal(k.kept_dirs, 2);	/* a, top */
	/* The top itself kept: nothing at all is removed. */
	init_keep(&o, &k, "top");
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), TU_RMTREE_KEPT);
	assert_int_equal(k.asked, 1);
	assert_int_equal(k.s.removed + k.s.removed_dirs, 0);
	assert_int_equal(access("held/top/a/c/x", F_OK), 0);
	close(dfd);
}

static void test_at_predicate_in_a_dry_run(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	struct tu_rmtree_opts o;
	struct keep k;
	init_keep(&o, &k, "top/a/b/kept");
	o.dry_run = true;
	assert_int_equal(tu_rmtree_at(dfd, "top", &o), TU_RMTREE_KEPT);
	/* gone, x, c, y would go; kept, b, a and top would not. */
	assert_int_equal(k.s.removed, 3);
	assert_int_equal(k.s.removed_dirs, 1);
	assert_int_equal(k.kept + k.kept_dirs, 4);
	assert_int_equal(access("held/top/a/b/gone", F_OK), 0);
	close(dfd);
}

static void test_rmtree_is_a_wrapper_that_also_asks(void **state)
{
	(void)state;
	int dfd = make_keep_tree();
	close(dfd);
	struct tu_rmtree_opts o;
	struct keep k;
	init_keep(&o, &k, "top/y");
	assert_int_equal(tu_rmtree("held/top/", &o), TU_RMTREE_KEPT);
	assert_int_equal(access("held/top/y", F_OK), 0);
	assert_int_equal(access("held/top/a", F_OK), -1);
	assert_string_equal(k.rels[0], "top");
}

/* Some entries cannot go (an immutable file, as root): TU_PARTIAL, the
   failure reported, the rest removed; never -errno, which means nothing
   could start. */
static void test_some_entries_fail_is_partial(void **state)
{
	(void)state;
	make_small_tree("t6");
	if (unit_set_immutable("t6/sub/f1", 1) < 0)
		skip();		/* needs root and a filesystem with chattr +i */
	struct tu_rmtree_opts o;
	struct seen s;
	struct tu_stats st = { 0 };
	init(&o, &s, &st);
	int r = tu_rmtree("t6", &o);
	unit_set_immutable("t6/sub/f1", 0);
	assert_int_equal(r, TU_PARTIAL);
	assert_true(s.errors >= 1);
	assert_int_equal(access("t6/sub/f1", F_OK), 0);
	assert_int_equal(access("t6/sub/f0", F_OK), -1);
	assert_int_equal(access("t6/link", F_OK), -1);
	/* Nothing could start: -errno. */
	init(&o, &s, &st);
	assert_int_equal(tu_rmtree("t6-missing", &o), -ENOENT);
	assert_int_equal(tu_rmtree("t6", &o), 0);
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
		cmocka_unit_test(test_at_removes_an_entry_of_a_held_directory),
		cmocka_unit_test(test_at_refuses_what_is_not_one_name),
		cmocka_unit_test(test_at_checks_the_expected_identity),
		cmocka_unit_test(test_at_predicate_keeps_an_entry_and_its_ancestors),
		cmocka_unit_test(test_at_predicate_keeps_a_whole_directory),
		cmocka_unit_test(test_at_predicate_in_a_dry_run),
		cmocka_unit_test(test_rmtree_is_a_wrapper_that_also_asks),
		cmocka_unit_test(test_some_entries_fail_is_partial),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
