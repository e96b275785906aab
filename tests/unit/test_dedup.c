/* SPDX-License-Identifier: Apache-2.0 */
/* test_dedup.c: unit tests of lib/dedup.c through tu_dedup(), with the test
 * hooks of dedup.h making races deterministic: a file changed between the
 * comparison and the link, a name renamed over between the temporary link
 * and the rename, a file saved by rename in the replace window, a kept file
 * that runs out of links (EMLINK), and the owner rule of ignore_owner.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "unit.h"

#define TU_INTERNAL
#include "dedup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	int dfd;
	struct tu_dedup_opts o;
	struct tu_dedup_counts counts;
	int errors, warnings;
};

static struct fixture *cur;	/* for the hooks */

static int on_error(const struct tu_err *e, void *ctx)
{
	(void)e;
	((struct fixture *)ctx)->errors++;
	return TU_CONTINUE;
}

static int on_warning(const struct tu_err *e, void *ctx)
{
	(void)e;
	((struct fixture *)ctx)->warnings++;
	return TU_CONTINUE;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s/test_dedup.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (strlen(f->dir) >= sizeof f->dir - 1 || !mkdtemp(f->dir)) {
		strcpy(f->dir, "/tmp/test_dedup.XXXXXX");
		if (!mkdtemp(f->dir))
			return -1;
	}
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	tu_dedup_opts_init(&f->o);
	f->o.counts = &f->counts;
	f->o.error = on_error;
	f->o.warning = on_warning;
	f->o.ctx = f;
	f->o.jobs = 1;
	cur = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tu_dedup_hook = NULL;
	tu_dedup_link_max = 0;
	unit_rm_rf(f->dfd);
	close(f->dfd);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(int dfd, const char *name, const char *data, size_t len)
{
	unit_write_file(dfd, name, data, len);
	/* One mtime for all, as cp -p would leave. */
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	assert_int_equal(utimensat(dfd, name, ts, 0), 0);
}

static ino_t ino_of(int dfd, const char *name)
{
	struct stat st;
	assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_ino;
}

static void content_is(int dfd, const char *name, const char *data, size_t len)
{
	char buf[8192];
	int fd = openat(dfd, name, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(buf, data, len);
}

static int tmp_names(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *e;
	int n = 0;
	rewinddir(d);
	while ((e = readdir(d)))
		n += tu_is_tmp_name(e->d_name);
	closedir(d);
	return n;
}

static int run(struct fixture *f)
{
	const char *dirs[] = { f->dir };
	return tu_dedup(dirs, 1, &f->o);
}

static char data[6000];

static void fill(char c)
{
	memset(data, c, sizeof data);
	for (size_t i = 0; i < sizeof data; i += 97)
		data[i] = (char)(i * 7);
}

/* Files "a" and "b", both holding fill(C)'s data. */
static void two_copies(struct fixture *f, char c)
{
	fill(c);
	write_file(f->dfd, "a", data, sizeof data);
	write_file(f->dfd, "b", data, sizeof data);
}

/* "a" has one link again, and no temporary name is left: our temporary
   link is gone. */
static void temporary_link_gone(struct fixture *f)
{
	struct stat st;
	assert_int_equal(fstatat(f->dfd, "a", &st, 0), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(tmp_names(f->dfd), 0);
}

/* Files "a", "b" and "c", all holding fill(C)'s data. */
static void three_copies(struct fixture *f, char c)
{
	fill(c);
	write_file(f->dfd, "a", data, sizeof data);
	write_file(f->dfd, "b", data, sizeof data);
	write_file(f->dfd, "c", data, sizeof data);
}

static void test_links_identical_files(void **state)
{
	struct fixture *f = *state;
	three_copies(f, 'a');
	assert_int_equal(run(f), 0);
	assert_int_equal(ino_of(f->dfd, "a"), ino_of(f->dfd, "b"));
	assert_int_equal(ino_of(f->dfd, "a"), ino_of(f->dfd, "c"));
	assert_int_equal(f->counts.linked, 2);
	assert_int_equal(f->counts.groups, 1);
	assert_int_equal(f->counts.bytes_freed, 2 * sizeof data);
	assert_int_equal(tmp_names(f->dfd), 0);
}

/* The hook changes the duplicate's content (same size, mtime put back)
   after it was compared and before it is linked. */
static void change_dup(enum tu_dedup_hook_point p, int dirfd, const char *name)
{
	if (p != TU_DEDUP_BEFORE_CHECK)
		return;
	int fd = openat(dirfd, name, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "Z", 1, 3000), 1);
	close(fd);
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	assert_int_equal(utimensat(dirfd, name, ts, 0), 0);
}

static void test_changed_after_compare_not_linked(void **state)
{
	struct fixture *f = *state;
	two_copies(f, 'b');
	tu_dedup_hook = change_dup;
	f->o.keep = TU_KEEP_FIRST;
	assert_int_equal(run(f), 0);
	assert_int_not_equal(ino_of(f->dfd, "a"), ino_of(f->dfd, "b"));
	assert_int_equal(f->counts.linked, 0);
	assert_int_equal(f->counts.changed, 1);
	assert_int_equal(f->warnings, 1);
	content_is(f->dfd, "a", data, sizeof data);
	data[3000] = 'Z';
	content_is(f->dfd, "b", data, sizeof data);
	assert_int_equal(tmp_names(f->dfd), 0);
}

/* The hook renames another file over the duplicate's name after our
   temporary link is made: the new file must survive, unlinked. */
static void rename_over_dup(enum tu_dedup_hook_point p, int dirfd, const char *name)
{
	if (p != TU_DEDUP_AFTER_TMP)
		return;
	assert_int_equal(renameat(dirfd, "other", dirfd, name), 0);
}

static void test_renamed_over_not_linked(void **state)
{
	struct fixture *f = *state;
	two_copies(f, 'c');
	write_file(f->dfd, "other", "someone else's", 14);
	tu_dedup_hook = rename_over_dup;
	f->o.keep = TU_KEEP_FIRST;
	assert_int_equal(run(f), 0);
	assert_int_equal(f->counts.linked, 0);
	assert_int_not_equal(ino_of(f->dfd, "a"), ino_of(f->dfd, "b"));
	content_is(f->dfd, "b", "someone else's", 14);
	content_is(f->dfd, "a", data, sizeof data);
	temporary_link_gone(f);
}

/* With a link limit of 3, five copies end as two inodes: 3 + 2 names. */
static void test_emlink_starts_a_new_kept_file(void **state)
{
	struct fixture *f = *state;
	fill('d');
	const char *names[] = { "f1", "f2", "f3", "f4", "f5" };
	for (int i = 0; i < 5; i++)
		write_file(f->dfd, names[i], data, sizeof data);
	tu_dedup_link_max = 3;
	f->o.keep = TU_KEEP_FIRST;
	assert_int_equal(run(f), 0);
	assert_int_equal(f->errors, 0);
	int seen = 0;
	ino_t inos[5];
	for (int i = 0; i < 5; i++) {
		content_is(f->dfd, names[i], data, sizeof data);
		inos[i] = ino_of(f->dfd, names[i]);
		struct stat st;
		assert_int_equal(fstatat(f->dfd, names[i], &st, 0), 0);
		assert_true(st.st_nlink <= 3);
	}
	for (int i = 0; i < 5; i++) {
		bool first = true;
		for (int j = 0; j < i; j++)
			first &= inos[j] != inos[i];
		seen += first;
	}
	assert_int_equal(seen, 2);
	assert_int_equal(f->counts.linked, 3);
	assert_int_equal(tmp_names(f->dfd), 0);
}

static void test_leftover_rule(void **state)
{
	struct fixture *f = *state;
	fill('e');
	write_file(f->dfd, "a", data, sizeof data);
	char ours[64], theirs[64];
	snprintf(ours, sizeof ours, "%s%032x", TU_TMP_PREFIX, 1);
	snprintf(theirs, sizeof theirs, "%s%032x", TU_TMP_PREFIX, 2);
	/* A link of a file in the tree: what a crash between link and
	   rename leaves. */
	assert_int_equal(linkat(f->dfd, "a", f->dfd, ours, 0), 0);
	/* Not a link of anything here: someone else's; never touched. */
	write_file(f->dfd, theirs, "not ours", 8);
	f->o.dry_run = true;
	assert_int_equal(run(f), 0);
	assert_int_equal(f->counts.leftovers, 1);
	assert_int_equal(faccessat(f->dfd, ours, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	f->o.dry_run = false;
	assert_int_equal(run(f), 0);
	assert_int_equal(faccessat(f->dfd, ours, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	content_is(f->dfd, theirs, "not ours", 8);
	content_is(f->dfd, "a", data, sizeof data);
}

static void test_dry_run_changes_nothing(void **state)
{
	struct fixture *f = *state;
	fill('f');
	write_file(f->dfd, "a", data, sizeof data);
	write_file(f->dfd, "b", data, sizeof data);
	struct stat before, after;
	assert_int_equal(fstatat(f->dfd, "b", &before, 0), 0);
	f->o.dry_run = true;
	assert_int_equal(run(f), 0);
	assert_int_equal(f->counts.linked, 1);
	assert_int_equal(f->counts.bytes_freed, sizeof data);
	assert_int_equal(fstatat(f->dfd, "b", &after, 0), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_ctim.tv_sec, after.st_ctim.tv_sec);
	assert_int_equal(before.st_ctim.tv_nsec, after.st_ctim.tv_nsec);
}

/* The hook changes the kept file "a" (same size, mtime put back) after
   the others were compared with it in a dry run. */
static void change_keep(enum tu_dedup_hook_point p, int dirfd, const char *name)
{
	if (p != TU_DEDUP_BEFORE_GROUP_CHECK)
		return;
	assert_string_equal(name, "a");
	change_dup(TU_DEDUP_BEFORE_CHECK, dirfd, name);
}

static void test_dry_run_keep_changed_no_group(void **state)
{
	struct fixture *f = *state;
	three_copies(f, 'g');
	f->o.dry_run = true;
	f->o.keep = TU_KEEP_FIRST;
	tu_dedup_hook = change_keep;
	assert_int_equal(run(f), 0);
	/* Nothing "would be linked" to a file that no longer is a copy. */
	assert_int_equal(f->counts.groups, 0);
	assert_int_equal(f->counts.linked, 0);
	assert_int_equal(f->counts.bytes_freed, 0);
	assert_int_equal(f->counts.changed, 1);
	assert_int_equal(f->warnings, 1);
	/* Without the change: the group, and two files to link. */
	tu_dedup_hook = NULL;
	write_file(f->dfd, "a", data, sizeof data);
	memset(&f->counts, 0, sizeof f->counts);
	assert_int_equal(run(f), 0);
	assert_int_equal(f->counts.groups, 1);
	assert_int_equal(f->counts.linked, 2);
}

/* The hook saves a new version of the duplicate's name the way an editor
   does (a new file renamed onto the name) in the instant between our last
   check of the name and the replacement (issue 12, hole 1). */
static void save_by_rename(enum tu_dedup_hook_point p, int dirfd, const char *name)
{
	if (p != TU_DEDUP_BEFORE_REPLACE)
		return;
	unit_write_file(dirfd, "save.new", "the user's save", 15);
	assert_int_equal(renameat(dirfd, "save.new", dirfd, name), 0);
}

static void test_replace_window_save_by_rename_survives(void **state)
{
	struct fixture *f = *state;
	two_copies(f, 'h');
	tu_dedup_hook = save_by_rename;
	f->o.keep = TU_KEEP_FIRST;
	assert_int_equal(run(f), 0);
	content_is(f->dfd, "b", "the user's save", 15);
	content_is(f->dfd, "a", data, sizeof data);
	assert_int_equal(f->counts.linked, 0);
	assert_int_equal(f->counts.changed, 1);
	temporary_link_gone(f);
}

static void chown_name(int dfd, const char *name, uid_t uid)
{
	assert_int_equal(fchownat(dfd, name, uid, uid, AT_SYMLINK_NOFOLLOW), 0);
	/* chown moved ctime, not mtime: one mtime for all still. */
}

/* As root with ignore_owner, an attacker's copy of root's file, with
   extra links to make it "most linked", is never the kept file for root's
   name (issue 12, hole 2): the kept inode is root's. */
static void test_ignore_owner_never_keeps_another_users_inode(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();		/* chown to another user needs root */
	fill('i');
	write_file(f->dfd, "root_file", data, sizeof data);
	write_file(f->dfd, "theirs", data, sizeof data);
	chown_name(f->dfd, "theirs", 65534);
	assert_int_equal(linkat(f->dfd, "theirs", f->dfd, "theirs2", 0), 0);
	assert_int_equal(linkat(f->dfd, "theirs", f->dfd, "theirs3", 0), 0);
	f->o.ignore_owner = true;
	f->o.keep = TU_KEEP_MOST_LINKED;
	assert_int_equal(run(f), 0);
	struct stat st;
	assert_int_equal(fstatat(f->dfd, "root_file", &st, 0), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(ino_of(f->dfd, "theirs"), st.st_ino);
	assert_int_equal(ino_of(f->dfd, "theirs3"), st.st_ino);
}

/* Two other users' copies are not linked to each other (the group is
   split by owner); each user's own copies still are. */
static void test_ignore_owner_splits_other_users(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();		/* chown to another user needs root */
	fill('j');
	const char *names[] = { "u1a", "u1b", "u2a", "u2b" };
	for (int i = 0; i < 4; i++) {
		write_file(f->dfd, names[i], data, sizeof data);
		chown_name(f->dfd, names[i], i < 2 ? 1001 : 1002);
	}
	f->o.ignore_owner = true;
	assert_int_equal(run(f), 0);
	assert_int_equal(ino_of(f->dfd, "u1a"), ino_of(f->dfd, "u1b"));
	assert_int_equal(ino_of(f->dfd, "u2a"), ino_of(f->dfd, "u2b"));
	assert_int_not_equal(ino_of(f->dfd, "u1a"), ino_of(f->dfd, "u2a"));
	struct stat st;
	assert_int_equal(fstatat(f->dfd, "u1b", &st, 0), 0);
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(fstatat(f->dfd, "u2a", &st, 0), 0);
	assert_int_equal(st.st_uid, 1002);
	assert_int_equal(f->counts.linked, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_links_identical_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_after_compare_not_linked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renamed_over_not_linked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emlink_starts_a_new_kept_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_keep_changed_no_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_window_save_by_rename_survives, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ignore_owner_never_keeps_another_users_inode,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignore_owner_splits_other_users, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
