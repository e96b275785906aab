/* Unit tests for lib/handle.c: identity, safe opens, re-open checks, random
 * names, path splitting. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "handle.h"

#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_hex),
		cmocka_unit_test(test_tmp_names),
		cmocka_unit_test(test_dir_open_refuses_links_and_files),
		cmocka_unit_test(test_reopen_checks_identity),
		cmocka_unit_test(test_open_parent_splits),
		cmocka_unit_test(test_rename_noreplace_and_tmp),
		cmocka_unit_test(test_open_forced),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
