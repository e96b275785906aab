/* SPDX-License-Identifier: Apache-2.0 */
/* test_compare.c: unit tests of lib/compare.c: what differs between a
 * SOURCE entry and a DEST entry, for each attribute, through O_PATH fds
 * (and plain fds), and what needs the data rewritten.
 *
 * Each test makes a pair of entries in a scratch directory, makes them
 * alike, changes one thing, and checks the mask. Root-only cases (owner,
 * devices) skip when not root; xattrs and flags skip where the scratch file
 * system has none.
 */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "compare.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char tmp[256];
static int tmpfd;

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-compare.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
	return tmpfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(tmpfd);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "chattr -R -i -a '%s' 2>/dev/null; rm -rf '%s'", tmp, tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* One entry under test: an fd (O_PATH unless asked otherwise) and its statx. */
struct ent {
	int fd;
	struct statx stx;
	struct tu_cmp_entry e;
};

static void ent_open(struct ent *x, const char *name, bool opath)
{
	int flags = O_NOFOLLOW | O_CLOEXEC | (opath ? O_PATH : O_RDONLY | O_NONBLOCK);
	x->fd = openat(tmpfd, name, flags);
	assert_true(x->fd >= 0);
	assert_int_equal(statx(x->fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
			       &x->stx), 0);
	x->e = (struct tu_cmp_entry){ x->fd, &x->stx };
}

static void ent_close(struct ent *x)
{
	close(x->fd);
}

/* compare NAME_A with NAME_B under WHAT; returns the result. */
static struct tu_cmp cmp_names(const char *a, const char *b, unsigned what, bool opath)
{
	struct ent s, d;
	ent_open(&s, a, opath);
	ent_open(&d, b, opath);
	struct tu_cmp c = { 0xdead, true };
	assert_int_equal(tu_compare(&s.e, &d.e, what, &c), 0);
	ent_close(&s);
	ent_close(&d);
	return c;
}

static void write_file(const char *name, const char *text)
{
	int fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void set_mtime(const char *name, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	assert_int_equal(utimensat(tmpfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Two alike files A and B: same bytes, mode, times. */
static void two_files(const char *a, const char *b, const char *text)
{
	unlinkat(tmpfd, a, 0);
	unlinkat(tmpfd, b, 0);
	write_file(a, text);
	write_file(b, text);
	set_mtime(a, 1600000000, 123456789);
	set_mtime(b, 1600000000, 123456789);
}

static bool have_user_xattrs(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	if (setxattr(p, "user.probe", "1", 1, 0) == 0) {
		removexattr(p, "user.probe");
		return true;
	}
	return false;
}

static void path_of(char *p, size_t n, const char *name)
{
	snprintf(p, n, "%s/%s", tmp, name);
}

static void test_alike_files_differ_in_nothing(void **state)
{
	(void)state;
	two_files("a", "b", "same");
	for (int opath = 0; opath < 2; opath++) {
		struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, opath);
		assert_int_equal(c.changed, 0);
		assert_false(c.data);
	}
}

static void test_size_and_mtime_need_the_data(void **state)
{
	(void)state;
	two_files("a", "b", "same");
	write_file("a", "longer");
	set_mtime("a", 1600000000, 123456789);
	struct tu_cmp c = cmp_names("a", "b", 0, true);
	assert_int_equal(c.changed, TU_CHG_SIZE);
	assert_true(c.data);

	two_files("a", "b", "same");
	set_mtime("a", 1600000000, 123456790);	/* one nanosecond */
	c = cmp_names("a", "b", 0, true);
	assert_int_equal(c.changed, TU_CHG_MTIME);
	assert_true(c.data);
	/* --checksum found the same content: only the time is applied */
	tu_compare_content(&c, true);
	assert_int_equal(c.changed, TU_CHG_MTIME);
	assert_false(c.data);
	/* or other content */
	tu_compare_content(&c, false);
	assert_int_equal(c.changed, TU_CHG_MTIME | TU_CHG_CONTENT);
	assert_true(c.data);
}

static void test_content_with_size_and_mtime_restored_needs_checksum(void **state)
{
	(void)state;
	two_files("a", "b", "same");
	write_file("a", "SAME");
	set_mtime("a", 1600000000, 123456789);
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);	/* the quick check cannot see it */
	tu_compare_content(&c, false);
	assert_int_equal(c.changed, TU_CHG_CONTENT);
	assert_true(c.data);
}

static void test_missing_dest_is_new_and_another_type_is_type(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	struct ent s;
	ent_open(&s, "a", true);
	struct tu_cmp c;
	assert_int_equal(tu_compare(&s.e, NULL, TU_CMP_ARCHIVE, &c), 0);
	assert_int_equal(c.changed, TU_CHG_NEW);
	assert_true(c.data);
	ent_close(&s);

	unlinkat(tmpfd, "b", 0);
	assert_int_equal(mkdirat(tmpfd, "b", 0755), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_TYPE);
	assert_true(c.data);
	assert_int_equal(unlinkat(tmpfd, "b", AT_REMOVEDIR), 0);
	assert_int_equal(symlinkat("a", tmpfd, "b"), 0);
	c = cmp_names("a", "b", 0, true);
	assert_int_equal(c.changed, TU_CHG_TYPE);
	unlinkat(tmpfd, "b", 0);
}

static void test_mode_is_metadata_only_and_only_with_perms(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	assert_int_equal(fchmodat(tmpfd, "a", 04600, 0), 0);
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_PERMS);
	assert_false(c.data);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE & ~TU_CMP_PERMS, true);
	assert_int_equal(c.changed, 0);
}

static void test_owner_and_group(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	two_files("a", "b", "x");
	assert_int_equal(fchownat(tmpfd, "a", 1234, -1, 0), 0);
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_OWNER);
	assert_false(c.data);
	assert_int_equal(fchownat(tmpfd, "a", 0, 4321, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_GROUP);
	c = cmp_names("a", "b", TU_CMP_OWNER, true);
	assert_int_equal(c.changed, 0);
	/* a symlink's owner counts too */
	unlinkat(tmpfd, "la", 0);
	unlinkat(tmpfd, "lb", 0);
	assert_int_equal(symlinkat("t", tmpfd, "la"), 0);
	assert_int_equal(symlinkat("t", tmpfd, "lb"), 0);
	set_mtime("la", 5, 0);
	set_mtime("lb", 5, 0);
	assert_int_equal(fchownat(tmpfd, "la", 55, -1, AT_SYMLINK_NOFOLLOW), 0);
	c = cmp_names("la", "lb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_OWNER);
}

static void test_xattrs_names_and_values_in_any_order(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	if (!have_user_xattrs("a"))
		skip();
	char pa[512], pb[512];
	path_of(pa, sizeof pa, "a");
	path_of(pb, sizeof pb, "b");
	assert_int_equal(setxattr(pa, "user.one", "1", 1, 0), 0);
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_XATTR);
	assert_false(c.data);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE & ~TU_CMP_XATTR, true);
	assert_int_equal(c.changed, 0);
	/* the same set, set in another order */
	assert_int_equal(setxattr(pa, "user.two", "2", 1, 0), 0);
	assert_int_equal(setxattr(pb, "user.two", "2", 1, 0), 0);
	assert_int_equal(setxattr(pb, "user.one", "1", 1, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, false);
	assert_int_equal(c.changed, 0);
	/* a value changed, same length */
	assert_int_equal(setxattr(pb, "user.one", "9", 1, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_XATTR);
	/* an empty value is still a value */
	assert_int_equal(setxattr(pb, "user.one", "1", 1, 0), 0);
	assert_int_equal(setxattr(pb, "user.empty", "", 0, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_XATTR);
}

/* Values and name lists longer than the first buffers (ERANGE paths). */
static void test_large_xattrs(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	if (!have_user_xattrs("a"))
		skip();
	char pa[512], pb[512];
	path_of(pa, sizeof pa, "a");
	path_of(pb, sizeof pb, "b");
	char big[1500];
	memset(big, 'v', sizeof big);
	char name[64];
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof name, "user.a-rather-long-attribute-name-%02d", i);
		assert_int_equal(setxattr(pa, name, big, i ? 10 : sizeof big, 0), 0);
		assert_int_equal(setxattr(pb, name, big, i ? 10 : sizeof big, 0), 0);
	}
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	big[sizeof big - 1] = 'w';
	assert_int_equal(setxattr(pb, "user.a-rather-long-attribute-name-00", big, sizeof big, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_XATTR);
}

static void set_acl(const char *name, acl_type_t type, const char *text)
{
	char p[512];
	path_of(p, sizeof p, name);
	acl_t acl = acl_from_text(text);
	assert_non_null(acl);
	assert_int_equal(acl_set_file(p, type, acl), 0);
	acl_free(acl);
}

static void test_acls_beyond_the_mode(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	set_acl("a", ACL_TYPE_ACCESS, "u::rw-,u:1000:r--,g::r--,m::r--,o::r--");
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_ACL);	/* not XATTR: system.* are ACLs */
	assert_false(c.data);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE & ~TU_CMP_ACL, true);
	assert_int_equal(c.changed, 0);
	/* the same ACL: equal; then a chmod changes the mode, not the ACL */
	set_acl("b", ACL_TYPE_ACCESS, "u::rw-,u:1000:r--,g::r--,m::r--,o::r--");
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	assert_int_equal(fchmodat(tmpfd, "a", 0600, 0), 0);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_PERMS);
	/* the owning group's entry under a mask is not the mode: it counts */
	assert_int_equal(fchmodat(tmpfd, "a", 0644, 0), 0);
	set_acl("b", ACL_TYPE_ACCESS, "u::rw-,u:1000:r--,g::---,m::r--,o::r--");
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_ACL);
	/* another named user */
	set_acl("b", ACL_TYPE_ACCESS, "u::rw-,u:1001:r--,g::r--,m::r--,o::r--");
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_ACL);
}

static void test_default_acl_of_directories(void **state)
{
	(void)state;
	mkdirat(tmpfd, "da", 0755);
	mkdirat(tmpfd, "db", 0755);
	set_mtime("da", 7, 0);
	set_mtime("db", 7, 0);
	struct tu_cmp c = cmp_names("da", "db", TU_CMP_ARCHIVE, false);
	assert_int_equal(c.changed, 0);
	set_acl("da", ACL_TYPE_DEFAULT, "u::rwx,u:1000:r-x,g::r-x,m::r-x,o::r-x");
	c = cmp_names("da", "db", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_ACL);
	set_acl("db", ACL_TYPE_DEFAULT, "u::rwx,u:1000:r-x,g::r-x,m::r-x,o::r-x");
	c = cmp_names("da", "db", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	/* a default ACL is compared whole: its "other" entry counts */
	set_acl("db", ACL_TYPE_DEFAULT, "u::rwx,u:1000:r-x,g::r-x,m::r-x,o::---");
	c = cmp_names("da", "db", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_ACL);
	/* a directory's mtime is metadata */
	set_acl("db", ACL_TYPE_DEFAULT, "u::rwx,u:1000:r-x,g::r-x,m::r-x,o::r-x");
	set_mtime("db", 8, 0);
	c = cmp_names("da", "db", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_MTIME);
	assert_false(c.data);
}

static void test_symlink_target_and_time(void **state)
{
	(void)state;
	unlinkat(tmpfd, "la", 0);
	unlinkat(tmpfd, "lb", 0);
	assert_int_equal(symlinkat("target-1", tmpfd, "la"), 0);
	assert_int_equal(symlinkat("target-1", tmpfd, "lb"), 0);
	set_mtime("la", 9, 1);
	set_mtime("lb", 9, 1);
	struct tu_cmp c = cmp_names("la", "lb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	/* same length, other bytes */
	unlinkat(tmpfd, "lb", 0);
	assert_int_equal(symlinkat("target-2", tmpfd, "lb"), 0);
	set_mtime("lb", 9, 1);
	c = cmp_names("la", "lb", 0, true);
	assert_int_equal(c.changed, TU_CHG_CONTENT);
	assert_true(c.data);
	/* other length: still content, never size */
	unlinkat(tmpfd, "lb", 0);
	assert_int_equal(symlinkat("t", tmpfd, "lb"), 0);
	set_mtime("lb", 10, 1);
	c = cmp_names("la", "lb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_CONTENT | TU_CHG_MTIME);
	/* only the time */
	unlinkat(tmpfd, "lb", 0);
	assert_int_equal(symlinkat("target-1", tmpfd, "lb"), 0);
	set_mtime("lb", 10, 1);
	c = cmp_names("la", "lb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_MTIME);
	assert_false(c.data);
}

static void test_devices_and_fifos(void **state)
{
	(void)state;
	assert_int_equal(mkfifoat(tmpfd, "fa", 0644), 0);
	assert_int_equal(mkfifoat(tmpfd, "fb", 0644), 0);
	set_mtime("fa", 11, 0);
	set_mtime("fb", 11, 0);
	struct tu_cmp c = cmp_names("fa", "fb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, 0);
	assert_int_equal(fchmodat(tmpfd, "fa", 0600, 0), 0);
	c = cmp_names("fa", "fb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_PERMS);
	if (geteuid() != 0)
		skip();
	assert_int_equal(mknodat(tmpfd, "ca", S_IFCHR | 0600, makedev(1, 3)), 0);
	assert_int_equal(mknodat(tmpfd, "cb", S_IFCHR | 0600, makedev(1, 5)), 0);
	assert_int_equal(mknodat(tmpfd, "ba", S_IFBLK | 0600, makedev(1, 3)), 0);
	set_mtime("ca", 12, 0);
	set_mtime("cb", 12, 0);
	set_mtime("ba", 12, 0);
	c = cmp_names("ca", "cb", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_CONTENT);
	assert_true(c.data);
	/* character and block devices are different types */
	c = cmp_names("ca", "ba", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_TYPE);
}

static void test_file_flags(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	int fd = openat(tmpfd, "a", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int v = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &v) != 0) {
		close(fd);
		skip();
	}
	v |= FS_NODUMP_FL;
	int r = ioctl(fd, FS_IOC_SETFLAGS, &v);
	close(fd);
	if (r != 0)
		skip();
	struct tu_cmp c = cmp_names("a", "b", TU_CMP_ARCHIVE, true);
	assert_int_equal(c.changed, TU_CHG_FLAGS);
	assert_false(c.data);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE, false);
	assert_int_equal(c.changed, TU_CHG_FLAGS);
	c = cmp_names("a", "b", TU_CMP_ARCHIVE & ~TU_CMP_FLAGS, true);
	assert_int_equal(c.changed, 0);
}

static void test_a_statx_without_the_fields_is_refused(void **state)
{
	(void)state;
	two_files("a", "b", "x");
	struct ent s, d;
	ent_open(&s, "a", true);
	ent_open(&d, "b", true);
	struct tu_cmp c = { 77, true };
	d.stx.stx_mask &= ~STATX_MTIME;
	assert_int_equal(tu_compare(&s.e, &d.e, 0, &c), -EINVAL);
	assert_int_equal(c.changed, 77);
	d.stx.stx_mask |= STATX_MTIME;
	s.stx.stx_mask &= ~STATX_UID;
	assert_int_equal(tu_compare(&s.e, &d.e, TU_CMP_OWNER, &c), -EINVAL);
	assert_int_equal(tu_compare(&s.e, &d.e, TU_CMP_PERMS, &c), 0);
	ent_close(&s);
	ent_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alike_files_differ_in_nothing),
		cmocka_unit_test(test_size_and_mtime_need_the_data),
		cmocka_unit_test(test_content_with_size_and_mtime_restored_needs_checksum),
		cmocka_unit_test(test_missing_dest_is_new_and_another_type_is_type),
		cmocka_unit_test(test_mode_is_metadata_only_and_only_with_perms),
		cmocka_unit_test(test_owner_and_group),
		cmocka_unit_test(test_xattrs_names_and_values_in_any_order),
		cmocka_unit_test(test_large_xattrs),
		cmocka_unit_test(test_acls_beyond_the_mode),
		cmocka_unit_test(test_default_acl_of_directories),
		cmocka_unit_test(test_symlink_target_and_time),
		cmocka_unit_test(test_devices_and_fifos),
		cmocka_unit_test(test_file_flags),
		cmocka_unit_test(test_a_statx_without_the_fields_is_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
