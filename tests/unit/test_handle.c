/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/handle.c: identity, safe opens, re-open checks, random
 * names, path splitting. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "handle.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];
static int tmpfd;

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-handle.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	chmod(tmp, 0755);	/* other users search it in test_open_forced */
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
	return tmpfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(tmpfd);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", tmp, tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_random_hex(void **state)
{
	(void)state;
	char a[33], b[33];
	assert_int_equal(tu_random_hex(a, 32), 0);
	assert_int_equal(tu_random_hex(b, 32), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	char odd[8];
	assert_int_equal(tu_random_hex(odd, 7), 0);
	assert_int_equal(strlen(odd), 7);
	char big[200];
	assert_int_equal(tu_random_hex(big, 199), -EINVAL);
}

static void test_tmp_names(void **state)
{
	(void)state;
	assert_true(tu_is_tmp_name(".tu-0123456789abcdef0123456789abcdef"));
	assert_false(tu_is_tmp_name(".tu-0123456789abcdef0123456789abcde"));
	assert_false(tu_is_tmp_name(".tu-0123456789abcdef0123456789abcdef0"));
	assert_false(tu_is_tmp_name(".tu-0123456789ABCDEF0123456789abcdef"));
	assert_false(tu_is_tmp_name("tu-0123456789abcdef0123456789abcdef"));
	assert_false(tu_is_tmp_name(""));
}

/* The one temporary-name loop: a fresh name each try, at most four. */
struct tries {
	int calls, succeed_at;
	char seen[4][TU_TMP_NAME_MAX];
};

static int try_make(const char *name, void *ctx)
{
	struct tries *t = ctx;
	assert_true(tu_is_tmp_name(name));
	for (int i = 0; i < t->calls; i++)
		assert_string_not_equal(t->seen[i], name);
	if (t->calls < 4)
		strcpy(t->seen[t->calls], name);
	return ++t->calls == t->succeed_at ? 0 : -EEXIST;
}

static void test_tmp_try(void **state)
{
	(void)state;
	char out[TU_TMP_NAME_MAX];
	struct tries t = { .succeed_at = 3 };
	assert_int_equal(tu_tmp_try(out, try_make, &t), 0);
	assert_int_equal(t.calls, 3);
	assert_string_equal(out, t.seen[2]);
	struct tries never = { .succeed_at = -1 };
	assert_int_equal(tu_tmp_try(out, try_make, &never), -EEXIST);
	assert_int_equal(never.calls, 4);
}

static int count_tmp_names(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	assert_non_null(d);
	rewinddir(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += tu_is_tmp_name(e->d_name);
	closedir(d);
	return n;
}

/* A temporary file is 0600 from its creation, is placed under a new name
   only, and leaves no temporary name behind, unnamed or named. */
static void test_tmpfile_create_place(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "t", 0755), 0);
	int dfd = openat(tmpfd, "t", O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	for (int named = 0; named < 2; named++) {
		struct tu_fs_caps caps = { .no_tmpfile = named };
		char tname[TU_TMP_NAME_MAX];
		int fd = tu_tmpfile_create(&caps, dfd, tname);
		assert_true(fd >= 0);
		assert_int_equal(tname[0] != '\0', named);
		assert_int_equal(count_tmp_names(dfd), named);
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(write(fd, "x", 1), 1);
		const char *name = named ? "named" : "unnamed";
		assert_int_equal(tu_tmpfile_place(&caps, fd, dfd, tname, name), 0);
		assert_int_equal(count_tmp_names(dfd), 0);
		close(fd);
		/* A second file never replaces the first. */
		fd = tu_tmpfile_create(&caps, dfd, tname);
		assert_true(fd >= 0);
		assert_int_equal(tu_tmpfile_place(&caps, fd, dfd, tname, name), -EEXIST);
		tu_tmpfile_discard(dfd, tname);
		close(fd);
		assert_int_equal(count_tmp_names(dfd), 0);
		assert_int_equal(fstatat(dfd, name, &st, 0), 0);
		assert_int_equal(st.st_size, 1);
	}
	char dtmp[TU_TMP_NAME_MAX];
	assert_int_equal(tu_dir_create_tmp(dfd, 0700, dtmp), 0);
	struct stat st;
	assert_int_equal(fstatat(dfd, dtmp, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	close(dfd);
}

static void test_dir_is_below_and_empty(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "top", 0755), 0);
	assert_int_equal(mkdirat(tmpfd, "top/a", 0755), 0);
	assert_int_equal(mkdirat(tmpfd, "top/a/b", 0755), 0);
	assert_int_equal(mkdirat(tmpfd, "other", 0755), 0);
	struct tu_ident top, other;
	int t = tu_dir_open_at(tmpfd, "top", &top);
	int o = tu_dir_open_at(tmpfd, "other", &other);
	int b = openat(tmpfd, "top/a/b", O_RDONLY | O_DIRECTORY);
	assert_true(t >= 0 && o >= 0 && b >= 0);
	assert_int_equal(tu_dir_is_below(b, &top), 1);
	assert_int_equal(tu_dir_is_below(t, &top), 1);
	assert_int_equal(tu_dir_is_below(b, &other), 0);
	assert_int_equal(tu_dir_is_below(t, &other), 0);
	assert_int_equal(tu_dir_is_empty(b), 1);
	assert_int_equal(tu_dir_is_empty(t), 0);
	close(t);
	close(o);
	close(b);
}

static void test_dir_open_refuses_links_and_files(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "d", 0755), 0);
	assert_int_equal(symlinkat("d", tmpfd, "link"), 0);
	int f = openat(tmpfd, "file", O_CREAT | O_WRONLY, 0644);
	assert_true(f >= 0);
	close(f);
	struct tu_ident id;
	int fd = tu_dir_open_at(tmpfd, "d", &id);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstatat(tmpfd, "d", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(id.ino == st.st_ino && id.dev == st.st_dev);
	assert_true(S_ISDIR(id.mode));
	close(fd);
	/* A symlink is refused: ENOTDIR or ELOOP, by kernel version. */
	int r = tu_dir_open_at(tmpfd, "link", &id);
	assert_true(r == -ELOOP || r == -ENOTDIR);
	assert_int_equal(tu_dir_open_at(tmpfd, "file", &id), -ENOTDIR);
	assert_int_equal(tu_dir_open_at(tmpfd, "missing", &id), -ENOENT);
	assert_true(tu_is_dir_at(tmpfd, "d"));
	assert_false(tu_is_dir_at(tmpfd, "link"));
	assert_false(tu_is_dir_at(tmpfd, "file"));
}

static void test_reopen_checks_identity(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "p", 0755), 0);
	assert_int_equal(mkdirat(tmpfd, "p/c", 0755), 0);
	struct tu_ident pid, cid;
	int p = tu_dir_open_at(tmpfd, "p", &pid);
	int c = tu_dir_open_at(p, "c", &cid);
	assert_true(p >= 0 && c >= 0);

	int again = tu_dir_reopen_parent(c, &pid);
	assert_true(again >= 0);
	close(again);
	again = tu_dir_reopen_at(p, "c", &cid);
	assert_true(again >= 0);
	close(again);

	/* Swap c for another directory of the same name: refused. */
	assert_int_equal(renameat(p, "c", p, "c-old"), 0);
	assert_int_equal(mkdirat(p, "c", 0755), 0);
	assert_int_equal(tu_dir_reopen_at(p, "c", &cid), -ESTALE);
	/* Move c-old (held as c) elsewhere: its ".." is no longer p. */
	assert_int_equal(renameat(p, "c-old", tmpfd, "moved"), 0);
	assert_int_equal(tu_dir_reopen_parent(c, &pid), -ESTALE);
	close(c);
	close(p);
}

static void test_open_parent_splits(void **state)
{
	(void)state;
	char buf[256];
	const char *last;
	char path[300];
	assert_int_equal(mkdirat(tmpfd, "sp", 0755), 0);
	snprintf(path, sizeof path, "%s/sp///", tmp);
	int fd = tu_open_parent(path, buf, sizeof buf, &last);
	assert_true(fd >= 0);
	assert_string_equal(last, "sp");
	struct stat a, b;
	fstat(fd, &a);
	fstat(tmpfd, &b);
	assert_true(a.st_ino == b.st_ino);
	close(fd);

	fd = tu_open_parent("/", buf, sizeof buf, &last);
	assert_true(fd >= 0);
	assert_string_equal(last, "/");
	close(fd);
	fd = tu_open_parent("plain", buf, sizeof buf, &last);
	assert_true(fd >= 0);
	assert_string_equal(last, "plain");
	close(fd);
	fd = tu_open_parent("/etc", buf, sizeof buf, &last);
	assert_true(fd >= 0);
	assert_string_equal(last, "etc");
	close(fd);
	assert_int_equal(tu_open_parent("x/y", buf, 3, &last), -ENAMETOOLONG);
	assert_int_equal(tu_open_parent("/no/such/dir/x", buf, sizeof buf, &last), -ENOENT);
}

static void test_rename_noreplace_and_tmp(void **state)
{
	(void)state;
	int f = openat(tmpfd, "r1", O_CREAT | O_WRONLY, 0644);
	close(f);
	f = openat(tmpfd, "r2", O_CREAT | O_WRONLY, 0644);
	close(f);
	assert_int_equal(tu_rename_noreplace(tmpfd, "r1", tmpfd, "r2"), -EEXIST);
	char name[TU_TMP_NAME_MAX];
	assert_int_equal(tu_rename_to_tmp(tmpfd, "r1", tmpfd, name), 0);
	assert_true(tu_is_tmp_name(name));
	assert_int_equal(faccessat(tmpfd, name, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(faccessat(tmpfd, "r1", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* As another user, our own mode-000 directory is made readable through the
   held fd; one of another owner is refused. Needs root to switch users. */
static void test_open_forced(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdirat(tmpfd, "forced", 0755), 0);
	assert_int_equal(mkdirat(tmpfd, "forced/mine", 0000), 0);
	assert_int_equal(mkdirat(tmpfd, "forced/theirs", 0000), 0);
	assert_int_equal(fchownat(tmpfd, "forced", 65534, 65534, 0), 0);
	assert_int_equal(fchownat(tmpfd, "forced/mine", 65534, 65534, 0), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		struct tu_ident id;
		mode_t old;
		int d = openat(tmpfd, "forced", O_RDONLY | O_DIRECTORY);
		if (d < 0)
			_exit(11);
		if (tu_dir_open_at(d, "mine", &id) != -EACCES)
			_exit(12);
		int fd = tu_dir_open_forced(d, "mine", &id, &old);
		if (fd < 0 || old != 0 || (id.mode & 0700) != 0700)
			_exit(13);
		if (tu_dir_open_forced(d, "theirs", &id, &old) != -EACCES)
			_exit(14);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void ident_of(const char *name, struct tu_ident *id)
{
	assert_int_equal(tu_ident_at(tmpfd, name, id), 0);
}

/* tu_dir_place: what lands on NAME is the directory we made, or nothing
   changes (but the empty old DEST), whatever someone exchanged. */
static void test_dir_place(void **state)
{
	(void)state;
	struct tu_ident ours, old, other, now;
	char found[NAME_MAX + 1];
	/* A new name. */
	assert_int_equal(mkdirat(tmpfd, "p-tmp", 0700), 0);
	ident_of("p-tmp", &ours);
	assert_int_equal(tu_dir_place(tmpfd, "p-tmp", "p-new", &ours, NULL), 0);
	ident_of("p-new", &now);
	assert_true(tu_ident_same(&now, &ours));
	/* In place of an empty directory, which goes. */
	assert_int_equal(mkdirat(tmpfd, "p-tmp", 0700), 0);
	ident_of("p-tmp", &ours);
	assert_int_equal(mkdirat(tmpfd, "p-old", 0700), 0);
	ident_of("p-old", &old);
	assert_int_equal(tu_dir_place(tmpfd, "p-tmp", "p-old", &ours, &old), 0);
	ident_of("p-old", &now);
	assert_true(tu_ident_same(&now, &ours));
	assert_int_equal(faccessat(tmpfd, "p-tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	/* The old one was filled since it was checked: both as found. */
	assert_int_equal(mkdirat(tmpfd, "p-tmp", 0700), 0);
	ident_of("p-tmp", &ours);
	ident_of("p-old", &old);
	assert_int_equal(mkdirat(tmpfd, "p-old/x", 0700), 0);
	assert_int_equal(tu_dir_place(tmpfd, "p-tmp", "p-old", &ours, &old), -ENOTEMPTY);
	ident_of("p-old", &now);
	assert_true(tu_ident_same(&now, &old));
	ident_of("p-tmp", &now);
	assert_true(tu_ident_same(&now, &ours));
	/* Someone put another directory under TMP (ours moved to p-moved):
	   it is not placed, and goes back under TMP; ours is found. */
	assert_int_equal(renameat(tmpfd, "p-tmp", tmpfd, "p-moved"), 0);
	assert_int_equal(mkdirat(tmpfd, "p-tmp", 0700), 0);
	ident_of("p-tmp", &other);
	assert_int_equal(tu_dir_place(tmpfd, "p-tmp", "p-new2", &ours, NULL), -ESTALE);
	assert_int_equal(faccessat(tmpfd, "p-new2", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ident_of("p-tmp", &now);
	assert_true(tu_ident_same(&now, &other));
	assert_int_equal(mkdirat(tmpfd, "p-empty", 0700), 0);
	ident_of("p-empty", &old);
	assert_int_equal(tu_dir_place(tmpfd, "p-tmp", "p-empty", &ours, &old), -ESTALE);
	ident_of("p-empty", &now);
	assert_true(tu_ident_same(&now, &old));
	ident_of("p-tmp", &now);
	assert_true(tu_ident_same(&now, &other));
	assert_int_equal(tu_dir_find_ident(tmpfd, &ours, found, sizeof found), 0);
	assert_string_equal(found, "p-moved");
	assert_int_equal(tu_dir_find_ident(tmpfd, &ours, found, 4), -ENAMETOOLONG);
	assert_int_equal(unlinkat(tmpfd, "p-moved", AT_REMOVEDIR), 0);
	assert_int_equal(tu_dir_find_ident(tmpfd, &ours, found, sizeof found), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_hex),
		cmocka_unit_test(test_tmp_names),
		cmocka_unit_test(test_tmp_try),
		cmocka_unit_test(test_tmpfile_create_place),
		cmocka_unit_test(test_dir_is_below_and_empty),
		cmocka_unit_test(test_dir_open_refuses_links_and_files),
		cmocka_unit_test(test_reopen_checks_identity),
		cmocka_unit_test(test_open_parent_splits),
		cmocka_unit_test(test_rename_noreplace_and_tmp),
		cmocka_unit_test(test_open_forced),
		cmocka_unit_test(test_dir_place),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
