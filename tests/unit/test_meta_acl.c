/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the ACL side of lib/meta.c: with -a a copy's access and
 * default ACLs are exactly the source's, absent included (an ACL inherited
 * from the directory it is made in is removed), for files, directories and
 * FIFOs; and tu_meta_new_mode() gives the mode cp -r gives without -a
 * (umask, or the parent's default ACL; setgid directories). Needs setfacl.
 * It must never touch anything outside its own scratch directory. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "meta.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ACCESS  "system.posix_acl_access"
#define DEFAULT "system.posix_acl_default"

static char tmp[256];
static int tmpfd;
static struct tu_meta_reader *reader;

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-meta-acl.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
	return tmpfd < 0 || tu_meta_reader_new(&reader) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	unit_rm_rf(tmpfd);
	close(tmpfd);
	tu_meta_reader_free(reader);
	return rmdir(tmp);
}

/* Each test starts from an empty scratch directory. */
static int clean(void **state)
{
	(void)state;
	unit_rm_rf(tmpfd);
	return 0;
}

/* FMT is always a literal at the call sites, with two %s: the scratch
   directory and ARG. */
static void sh(const char *fmt, const char *arg)
{
	char cmd[1024];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(cmd, sizeof cmd, fmt, tmp, arg);
#pragma GCC diagnostic pop
	assert_int_equal(system(cmd), 0);
}

static bool has_acls(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "setfacl -m u:65534:r '%s' 2>/dev/null && setfacl -b '%s'", tmp,
		 tmp);
	return system(cmd) == 0;
}

/* The xattr NAME of TMP/PATH (never followed), or "" with -errno. */
static ssize_t get(const char *path, const char *name, char *buf, size_t cap)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, path);
	ssize_t n = lgetxattr(p, name, buf, cap);
	return n < 0 ? -errno : n;
}

/* Copy the metadata of SRC (read as cptree reads it) onto DST. */
static void copy_meta(const char *src, const char *dst)
{
	struct stat st;
	assert_int_equal(fstatat(tmpfd, src, &st, AT_SYMLINK_NOFOLLOW), 0);
	struct tu_meta m;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		int fd = openat(tmpfd, src, O_RDONLY | O_NOFOLLOW);
		assert_true(fd >= 0);
		assert_int_equal(tu_meta_read_fd(reader, fd, &st, &m), 0);
		close(fd);
		fd = openat(tmpfd, dst, O_RDONLY | O_NOFOLLOW);
		assert_true(fd >= 0);
		assert_int_equal(tu_meta_apply_fd(fd, &m, TU_META_ACL | TU_META_MODE, NULL, NULL), 0);
		close(fd);
	} else {
		assert_int_equal(tu_meta_read_at(reader, tmpfd, src, &st, &m), 0);
		assert_int_equal(tu_meta_apply_at(tmpfd, dst, &m, TU_META_ACL | TU_META_MODE, NULL,
						  NULL), 0);
	}
	tu_meta_free(&m);
}

/* The copy's ACL NAME is the source's, byte for byte, or absent in both. */
static void assert_same_acl(const char *src, const char *dst, const char *name)
{
	char a[512], b[512];
	ssize_t na = get(src, name, a, sizeof a), nb = get(dst, name, b, sizeof b);
	assert_int_equal(na, nb);
	if (na > 0)
		assert_memory_equal(a, b, (size_t)na);
}

/* Entries made in a directory with a default ACL (P) inherit ACLs; copying
   the metadata of sources without ACLs removes them. */
static void test_inherited_acls_removed(void **state)
{
	(void)state;
	if (!has_acls())
		skip();
	sh("cd '%s' && mkdir s p && setfacl -d -m u:65534:rwx p%s", "");
	sh("cd '%s' && echo x >s/f && chmod 0640 s/f && mkdir -m 0750 s/d && mkfifo -m 0600 s/fifo%s",
	   "");
	sh("cd '%s' && (umask 077 && echo >p/f && mkdir p/d && mkfifo p/fifo)%s", "");
	char buf[512];
	assert_true(get("p/f", ACCESS, buf, sizeof buf) > 0);
	assert_true(get("p/d", DEFAULT, buf, sizeof buf) > 0);
	assert_true(get("p/fifo", ACCESS, buf, sizeof buf) > 0);
	copy_meta("s/f", "p/f");
	copy_meta("s/d", "p/d");
	copy_meta("s/fifo", "p/fifo");
	assert_int_equal(get("p/f", ACCESS, buf, sizeof buf), -ENODATA);
	assert_int_equal(get("p/d", ACCESS, buf, sizeof buf), -ENODATA);
	assert_int_equal(get("p/d", DEFAULT, buf, sizeof buf), -ENODATA);
	assert_int_equal(get("p/fifo", ACCESS, buf, sizeof buf), -ENODATA);
	struct stat st;
	assert_int_equal(fstatat(tmpfd, "p/f", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

/* Sources with ACLs of their own: the copy holds exactly those, whatever
   it inherited. */
static void test_own_acls_kept(void **state)
{
	(void)state;
	if (!has_acls())
		skip();
	sh("cd '%s' && mkdir s p && setfacl -d -m u:65534:rwx,g:65534:r p%s", "");
	sh("cd '%s' && echo x >s/f && setfacl -m u:1234:rw,g:5678:r,u:99:x s/f && "
	   "mkdir s/d && setfacl -m u:1234:rx -d -m u:4321:rwx,g:8:r s/d && "
	   "mkdir s/donly && setfacl -d -m g:5678:rx s/donly && "
	   "mkfifo s/fifo && setfacl -m u:1234:r s/fifo%s", "");
	sh("cd '%s' && echo >p/f && mkdir p/d p/donly && mkfifo p/fifo%s", "");
	static const char *const names[] = { "f", "d", "donly", "fifo" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char s[64], d[64];
		snprintf(s, sizeof s, "s/%s", names[i]);
		snprintf(d, sizeof d, "p/%s", names[i]);
		copy_meta(s, d);
		assert_same_acl(s, d, ACCESS);
		assert_same_acl(s, d, DEFAULT);
	}
}

static mode_t new_mode(const char *dir, mode_t src, mode_t umask_bits)
{
	int fd = openat(tmpfd, dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	mode_t m = 0;
	assert_int_equal(tu_meta_new_mode(fd, src, umask_bits, &m), 0);
	close(fd);
	return m;
}

/* Without -a: the umask, or the parent's default ACL instead; setuid and
   setgid never kept on files; setgid directories give theirs. Each case
   is what cp -r gives (checked by hand with coreutils 9.1). */
static void test_new_mode(void **state)
{
	(void)state;
	sh("cd '%s' && mkdir plain sgid && chmod 2775 sgid%s", "");
	assert_int_equal(new_mode("plain", S_IFREG | 0644, 022), 0644);
	assert_int_equal(new_mode("plain", S_IFREG | 0777, 077), 0700);
	assert_int_equal(new_mode("plain", S_IFREG | 04755, 022), 0755);
	assert_int_equal(new_mode("plain", S_IFDIR | 02755, 022), 0755);
	assert_int_equal(new_mode("sgid", S_IFDIR | 0755, 022), 02755);
	assert_int_equal(new_mode("sgid", S_IFREG | 02775, 002), 0775);
	if (!has_acls())
		return;
	sh("cd '%s' && mkdir acl && setfacl -m d:u::rwx,d:g::rwx,d:o::rwx acl%s", "");
	assert_int_equal(new_mode("acl", S_IFREG | 0644, 077), 0644);
	assert_int_equal(new_mode("acl", S_IFDIR | 0775, 077), 0775);
	sh("cd '%s' && mkdir masked && setfacl -m d:u::rwx,d:g::rwx,d:o::r,d:u:65534:rwx,d:m::r-x masked%s",
	   "");
	assert_int_equal(new_mode("masked", S_IFREG | 0777, 0), 0754);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_inherited_acls_removed, clean),
		cmocka_unit_test_setup(test_own_acls_kept, clean),
		cmocka_unit_test_setup(test_new_mode, clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
