/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/cptree.c and lib/meta.c through the public API: what is
 * copied, what is refused (and then nothing written), what the callbacks
 * see. The tool-level behaviour is in tests/cli/cptree.bats. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "treeutils.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-cptree.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp) || chdir(tmp) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	if (chdir("/") < 0)
		return -1;
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", tmp, tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_tree(const char *t)
{
	char p[512];
	assert_int_equal(mkdir(t, 0755), 0);
	snprintf(p, sizeof p, "%s/sub", t);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof p, "%s/sub/f", t);
	write_file(p, "hello\n");
	snprintf(p, sizeof p, "%s/link", t);
	assert_int_equal(symlink("sub/f", p), 0);
}

struct counts {
	int errors, items, dirs, files, links;
	int last_err;
};

static int on_error(const struct tu_err *e, void *ctx)
{
	struct counts *c = ctx;
	c->errors++;
	c->last_err = e->err;
	return TU_CONTINUE;
}

static void on_item(const struct tu_copy_item *it, void *ctx)
{
	struct counts *c = ctx;
	c->items++;
	c->dirs += it->type == 'd';
	c->files += it->type == 'f';
	c->links += it->type == 'L';
}

static void opts(struct tu_cptree_opts *o, struct counts *c)
{
	tu_cptree_opts_init(o);
	o->error = on_error;
	o->copied = on_item;
	o->ctx = c;
	o->jobs = 2;
}

static void test_copies_tree(void **state)
{
	(void)state;
	make_tree("s1");
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	assert_int_equal(tu_cptree("s1", "d1", &o), 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.dirs, 2);	/* the root and sub */
	assert_int_equal(c.files, 1);
	assert_int_equal(c.links, 1);
	char buf[64] = "";
	FILE *f = fopen("d1/sub/f", "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_string_equal(buf, "hello\n");
	ssize_t n = readlink("d1/link", buf, sizeof buf);
	assert_int_equal(n, 5);
	struct stat st;
	assert_int_equal(lstat("d1/sub", &st), 0);
	mode_t um = umask(0);
	umask(um);
	assert_int_equal(st.st_mode & 0777, 0750 & ~um);
}

static void test_archive_keeps_times_and_xattrs(void **state)
{
	(void)state;
	make_tree("s2");
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1100000000, 987654321 } };
	assert_int_equal(utimensat(AT_FDCWD, "s2/sub/f", ts, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, "s2/sub", ts, 0), 0);
	bool xattrs = setxattr("s2/sub/f", "user.test", "v", 1, 0) == 0;
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	o.archive = true;
	assert_int_equal(tu_cptree("s2", "d2", &o), 0);
	struct stat a, b;
	assert_int_equal(stat("s2/sub/f", &a), 0);
	assert_int_equal(stat("d2/sub/f", &b), 0);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	assert_int_equal(stat("d2/sub", &b), 0);
	assert_int_equal(b.st_mtim.tv_nsec, 987654321);
	if (xattrs) {
		char v[8];
		assert_int_equal(getxattr("d2/sub/f", "user.test", v, sizeof v), 1);
	}
}

static void test_refusals_write_nothing(void **state)
{
	(void)state;
	make_tree("s3");
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	assert_int_equal(tu_cptree("s3", "s3/sub/inside", &o), -EINVAL);
	assert_int_equal(access("s3/sub/inside", F_OK), -1);
	assert_int_equal(tu_cptree("s3", "s3", &o), -EINVAL);
	assert_int_equal(tu_cptree("s3", "s3/sub", &o), -EINVAL);
	assert_int_equal(mkdir("full", 0755), 0);
	write_file("full/x", "x");
	assert_int_equal(tu_cptree("s3", "full", &o), -ENOTEMPTY);
	assert_int_equal(tu_cptree("s3", "", &o), -EINVAL);
	assert_int_equal(tu_cptree("missing", "d3", &o), -ENOENT);
	assert_int_equal(access("d3", F_OK), -1);
	assert_int_equal(c.items, 0);
	assert_true(c.errors >= 6);
}

static void test_dry_run_writes_nothing(void **state)
{
	(void)state;
	make_tree("s4");
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	o.dry_run = true;
	assert_int_equal(tu_cptree("s4", "d4", &o), 0);
	assert_int_equal(c.items, 4);
	assert_int_equal(access("d4", F_OK), -1);
}

/* A dry run with dereference sees what a real one makes: the symlink is
   listed as the file it leads to, never as a link. */
static void test_dry_run_dereferences_like_a_real_run(void **state)
{
	(void)state;
	make_tree("s8");
	struct counts dry = { 0 }, real = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &dry);
	o.dereference = TU_DEREF_SYMBOLIC;
	o.dry_run = true;
	assert_int_equal(tu_cptree("s8", "d8", &o), 0);
	assert_int_equal(access("d8", F_OK), -1);
	opts(&o, &real);
	o.dereference = TU_DEREF_SYMBOLIC;
	assert_int_equal(tu_cptree("s8", "d8", &o), 0);
	assert_int_equal(real.files, 2);	/* sub/f, and link as a file */
	assert_int_equal(real.links, 0);
	assert_int_equal(dry.files, real.files);
	assert_int_equal(dry.links, real.links);
	assert_int_equal(dry.dirs, real.dirs);
	assert_int_equal(dry.items, real.items);
	assert_int_equal(dry.errors + real.errors, 0);
}

static void test_atomic_leaves_no_hidden_name(void **state)
{
	(void)state;
	make_tree("s5");
	assert_int_equal(mkdir("p5", 0755), 0);
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	o.atomic = true;
	assert_int_equal(tu_cptree("s5", "p5/d5", &o), 0);
	assert_int_equal(access("p5/d5/sub/f", F_OK), 0);
	FILE *p = popen("ls -A p5", "r");
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, p))
		n++;
	pclose(p);
	assert_int_equal(n, 1);
}


static void on_item_rewritten(const struct tu_copy_item *it, void *ctx)
{
	struct counts *c = ctx;
	on_item(it, ctx);
	if (it->how == 'r') {
		c->files++;	/* counts rewrites here */
		assert_non_null(it->old_target);
	}
}

static void expect_link(const char *path, const char *want)
{
	char buf[1024];
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* The lexical rule of fix_symlinks, case by case. */
static void test_fix_symlinks_rule(void **state)
{
	(void)state;
	char cwd[512], p[1200];
	assert_non_null(getcwd(cwd, sizeof cwd));
	make_tree("src");
	assert_int_equal(symlink("sub/../sub/f", "src/inside"), 0);
	assert_int_equal(symlink("../src/sub/f", "src/out_and_back"), 0);
	assert_int_equal(symlink("../src", "src/to_root"), 0);
	assert_int_equal(symlink("../srcx/f", "src/sibling"), 0);
	assert_int_equal(symlink("../../src/sub/", "src/sub/up_slash"), 0);
	snprintf(p, sizeof p, "%s/src/sub/", cwd);
	assert_int_equal(symlink(p, "src/abs_in"), 0);
	snprintf(p, sizeof p, "%s/srcx", cwd);
	assert_int_equal(symlink(p, "src/abs_sibling"), 0);
	snprintf(p, sizeof p, "%s/src/sub/../../src", cwd);
	assert_int_equal(symlink(p, "src/abs_dots"), 0);

	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	o.copied = on_item_rewritten;
	o.fix_symlinks = true;
	assert_int_equal(tu_cptree("src", "dst", &o), 0);
	assert_int_equal(c.errors, 0);
	expect_link("dst/link", "sub/f");
	expect_link("dst/inside", "sub/../sub/f");
	expect_link("dst/out_and_back", "sub/f");
	expect_link("dst/to_root", ".");
	expect_link("dst/sibling", "../srcx/f");
	expect_link("dst/sub/up_slash", "./");
	snprintf(p, sizeof p, "%s/dst/sub/", cwd);
	expect_link("dst/abs_in", p);
	snprintf(p, sizeof p, "%s/srcx", cwd);
	expect_link("dst/abs_sibling", p);
	snprintf(p, sizeof p, "%s/dst", cwd);
	expect_link("dst/abs_dots", p);
	assert_int_equal(c.files, 1 + 5);	/* sub/f, and five rewrites */
}

/* dereference hard: every name its own inode; total counted first. */
static void test_dereference_hard_and_total(void **state)
{
	(void)state;
	make_tree("h");
	assert_int_equal(link("h/sub/f", "h/f2"), 0);
	struct counts c = { 0 };
	struct tu_cptree_opts o;
	opts(&o, &c);
	struct tu_stats total = { 0 };
	o.archive = true;
	o.dereference = TU_DEREF_HARD;
	o.total = &total;
	assert_int_equal(tu_cptree("h", "hd", &o), 0);
	struct stat a, b;
	assert_int_equal(stat("hd/sub/f", &a), 0);
	assert_int_equal(stat("hd/f2", &b), 0);
	assert_true(a.st_ino != b.st_ino);
	assert_int_equal(a.st_nlink, 1);
	assert_int_equal(total.entries, 5);	/* h, sub, sub/f, link, f2 */
	assert_int_equal(total.bytes, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copies_tree),
		cmocka_unit_test(test_archive_keeps_times_and_xattrs),
		cmocka_unit_test(test_refusals_write_nothing),
		cmocka_unit_test(test_dry_run_writes_nothing),
		cmocka_unit_test(test_dry_run_dereferences_like_a_real_run),
		cmocka_unit_test(test_atomic_leaves_no_hidden_name),
		cmocka_unit_test(test_fix_symlinks_rule),
		cmocka_unit_test(test_dereference_hard_and_total),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
