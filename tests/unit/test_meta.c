/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/meta.c: tu_meta_new_mode() against a table; metadata
 * of symlinks and special files read from the inode held (never from what
 * the name means later) and applied through a held fd (never by name);
 * POSIX ACLs copied exactly, absent included, and TU_META_UNINHERITED;
 * the xattr blob dedup compares. (tests/unit/test_meta_acl.c has the
 * cases of files and directories made under a default ACL.) Some cases need
 * root (trusted.* xattrs on symlinks and FIFOs, chown) and skip without it.
 * It must never touch anything outside its own scratch directory. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "handle.h"
#include "meta.h"
#include "unit.h"

#include <archive.h>
#include <archive_entry.h>
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
	snprintf(tmp, sizeof tmp, "%s/tu-meta.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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

static int clean(void **state)
{
	(void)state;
	unit_rm_rf(tmpfd);
	return 0;
}

/* Run CMD in the scratch directory. */
static void sh(const char *cmd)
{
	char buf[1200];
	snprintf(buf, sizeof buf, "cd '%s' && %s", tmp, cmd);
	assert_int_equal(system(buf), 0);
}

static bool has_acls(void)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "setfacl -m u:65534:r '%s' 2>/dev/null && setfacl -b '%s'", tmp,
		 tmp);
	return system(cmd) == 0;
}

/* The xattr NAME of PATH in the scratch directory (never followed):
   its length, or -errno. */
static ssize_t get(const char *path, const char *name, char *buf, size_t cap)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, path);
	ssize_t n = lgetxattr(p, name, buf, cap);
	return n < 0 ? -errno : n;
}

static void set(const char *path, const char *name, const char *value)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, path);
	assert_int_equal(lsetxattr(p, name, value, strlen(value), 0), 0);
}

/* PATH held by an O_PATH fd, as cptree holds a symlink or special. */
static int hold(const char *path, struct stat *st)
{
	int fd = tu_entry_hold_at(tmpfd, path, st);
	assert_true(fd >= 0);
	return fd;
}

/* ---- tu_meta_new_mode ------------------------------------------------------ */

/* The mode cp -r gives a new entry, row by row: the umask, or a default
   ACL's user::, mask:: (group:: without one) and other:: instead; no
   setuid, setgid or sticky, but a directory keeps the setgid bit of a
   setgid parent. */
static void test_new_mode_table(void **state)
{
	(void)state;
	bool acls = has_acls();
	static const struct {
		const char *dir_setup;	/* shell, on directory p */
		bool needs_acl;
		mode_t src, umask, want;
	} rows[] = {
		{ "chmod 0755 p", false, S_IFREG | 0644, 022, 0644 },
		{ "chmod 0755 p", false, S_IFREG | 0777, 077, 0700 },
		{ "chmod 0755 p", false, S_IFREG | 04755, 022, 0755 },	/* setuid dropped */
		{ "chmod 0755 p", false, S_IFDIR | 01777, 022, 0755 },	/* sticky dropped */
		{ "chmod 2775 p", false, S_IFDIR | 0755, 022, 02755 },	/* setgid kept */
		{ "chmod 2775 p", false, S_IFREG | 02755, 022, 0755 },	/* not on a file */
		{ "setfacl -m d:u::rwx,d:g::rwx,d:o::rwx p", true, S_IFREG | 0666, 077, 0666 },
		{ "setfacl -m d:u::rwx,d:g::r-x,d:o::--- p", true, S_IFREG | 0777, 0, 0750 },
		{ "setfacl -m d:u::rwx,d:g::rwx,d:o::r-x,d:u:65534:r,d:m::r-x p", true,
		  S_IFDIR | 0777, 077, 0755 },	/* mask::, not group:: */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		if (rows[i].needs_acl && !acls)
			continue;
		unit_rm_rf(tmpfd);
		sh("mkdir p");
		sh(rows[i].dir_setup);
		int p = openat(tmpfd, "p", O_RDONLY | O_DIRECTORY);
		assert_true(p >= 0);
		mode_t got = 01234;
		assert_int_equal(tu_meta_new_mode(p, rows[i].src, rows[i].umask, &got), 0);
		close(p);
		if (got != rows[i].want)
			fail_msg("row %zu: mode %04o, want %04o", i, got, rows[i].want);
	}
}

/* ---- reading from the inode held ------------------------------------------- */

/* A FIFO is held, then another file is renamed over its name: what is read
   through the fd is the FIFO's own, never the newcomer's. */
static void test_read_held_is_the_inode_held(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();	/* trusted.* on FIFOs needs CAP_SYS_ADMIN */
	sh("mkfifo fifo && echo x >secret");
	set("fifo", "trusted.mine", "fifo's");
	set("secret", "trusted.pin", "1234");
	struct stat st;
	int held = hold("fifo", &st);
	assert_true(S_ISFIFO(st.st_mode));
	sh("mv secret fifo");
	struct tu_meta m;
	assert_int_equal(tu_meta_read_held(held, &st, &m), 0);
	bool mine = false, pin = false;
	const char *name;
	const void *v;
	size_t len;
	archive_entry_xattr_reset(m.ae);
	while (archive_entry_xattr_next(m.ae, &name, &v, &len) == ARCHIVE_OK) {
		mine |= strcmp(name, "trusted.mine") == 0 && len == 6 && !memcmp(v, "fifo's", 6);
		pin |= strcmp(name, "trusted.pin") == 0;
	}
	assert_true(mine);
	assert_false(pin);
	tu_meta_free(&m);
	/* By name, the same stat is refused: the name holds another inode. */
	assert_int_equal(tu_meta_read_at(reader, tmpfd, "fifo", &st, &m), -ESTALE);
	close(held);
}

/* A symlink's own xattrs, never its target's; it has no ACL. */
static void test_read_held_symlink_own_xattrs(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();	/* trusted.* needs CAP_SYS_ADMIN */
	sh("echo t >target && ln -s target link");
	set("link", "trusted.l", "link");
	set("target", "trusted.t", "target");
	struct stat st;
	int held = hold("link", &st);
	assert_true(S_ISLNK(st.st_mode));
	struct tu_meta m;
	assert_int_equal(tu_meta_read_held(held, &st, &m), 0);
	assert_int_equal(archive_entry_xattr_count(m.ae), 1);
	const char *name;
	const void *v;
	size_t len;
	archive_entry_xattr_reset(m.ae);
	assert_int_equal(archive_entry_xattr_next(m.ae, &name, &v, &len), ARCHIVE_OK);
	assert_string_equal(name, "trusted.l");
	assert_int_equal(archive_entry_acl_types(m.ae), 0);
	tu_meta_free(&m);
	close(held);
}

/* ---- applying through the inode held --------------------------------------- */

/* Owner, mode and times go on the FIFO held, even once another file has
   taken its name: that file is left as it was. */
static void test_apply_held_never_by_name(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();	/* chown */
	sh("mkfifo -m 0600 made && echo x >other && chmod 0644 other && touch -d 2020-01-01 other");
	struct stat other0;
	assert_int_equal(fstatat(tmpfd, "other", &other0, 0), 0);
	struct stat st;
	int held = hold("made", &st);
	sh("mv other made");
	struct tu_meta m = { .st = st };
	m.st.st_uid = 65534;
	m.st.st_gid = 65534;
	m.st.st_mode = S_IFIFO | 0640;
	m.st.st_mtim = (struct timespec){ 1000000000, 5 };
	m.st.st_atim = m.st.st_mtim;
	assert_int_equal(tu_meta_apply_held(held, &m, TU_META_OWNER | TU_META_MODE | TU_META_TIMES,
					    NULL, NULL), 0);
	struct stat now;
	assert_int_equal(fstat(held, &now), 0);
	assert_int_equal(now.st_uid, 65534);
	assert_int_equal(now.st_mode & 07777, 0640);
	assert_int_equal(now.st_mtim.tv_sec, 1000000000);
	assert_int_equal(now.st_mtim.tv_nsec, 5);
	struct stat other;
	assert_int_equal(fstatat(tmpfd, "made", &other, 0), 0);
	assert_int_equal(other.st_ino, other0.st_ino);
	assert_int_equal(other.st_uid, other0.st_uid);
	assert_int_equal(other.st_mode, other0.st_mode);
	assert_int_equal(other.st_mtim.tv_sec, other0.st_mtim.tv_sec);
	close(held);
}

/* ---- ACLs, exactly ----------------------------------------------------------- */

/* A FIFO's ACL with named users, groups and a mask, read through the held
   fd and applied to a FIFO that inherited another ACL: byte for byte the
   source's. A source with none removes the inherited one, unless the
   caller promised there is none to remove (TU_META_UNINHERITED). */
static void test_acl_exact_through_held(void **state)
{
	(void)state;
	if (!has_acls())
		skip();
	sh("mkdir p && setfacl -d -m u:65534:rwx p && mkfifo -m 0640 src && mkfifo -m 0600 bare");
	sh("setfacl -m u:1234:r,u:4321:rw,g:5678:r,m::rw src");
	sh("(umask 077 && mkfifo p/copy && mkfifo p/bare && mkfifo p/kept)");
	char a[512], b[512];
	assert_true(get("p/copy", ACCESS, b, sizeof b) > 0);	/* inherited */
	struct stat st;
	int held = hold("src", &st);
	struct tu_meta m;
	assert_int_equal(tu_meta_read_held(held, &st, &m), 0);
	close(held);
	struct stat dst;
	int out = hold("p/copy", &dst);
	assert_int_equal(tu_meta_apply_held(out, &m, TU_META_ACL | TU_META_MODE, NULL, NULL), 0);
	close(out);
	tu_meta_free(&m);
	ssize_t na = get("src", ACCESS, a, sizeof a), nb = get("p/copy", ACCESS, b, sizeof b);
	assert_true(na > 4 + 3 * 8);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na);

	held = hold("bare", &st);
	assert_int_equal(tu_meta_read_held(held, &st, &m), 0);
	close(held);
	out = hold("p/bare", &dst);
	assert_int_equal(tu_meta_apply_held(out, &m, TU_META_ACL, NULL, NULL), 0);
	close(out);
	assert_int_equal(get("p/bare", ACCESS, b, sizeof b), -ENODATA);
	/* The promise is taken at its word: nothing is removed. */
	out = hold("p/kept", &dst);
	assert_int_equal(tu_meta_apply_held(out, &m, TU_META_ACL | TU_META_UNINHERITED, NULL,
					    NULL), 0);
	close(out);
	assert_true(get("p/kept", ACCESS, b, sizeof b) > 0);
	tu_meta_free(&m);
}

/* What is made in a directory inherits an ACL exactly when it has a
   default one. */
static void test_dir_inherits(void **state)
{
	(void)state;
	if (!has_acls())
		skip();
	sh("mkdir plain acl && setfacl -d -m u:65534:rx acl");
	int p = openat(tmpfd, "plain", O_RDONLY | O_DIRECTORY);
	int q = openat(tmpfd, "acl", O_RDONLY | O_DIRECTORY);
	assert_true(p >= 0 && q >= 0);
	assert_false(tu_meta_dir_inherits(p));
	assert_true(tu_meta_dir_inherits(q));
	close(p);
	close(q);
}

/* ---- the xattr blob ------------------------------------------------------------ */

static int open_file(const char *name)
{
	int fd = openat(tmpfd, name, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

/* Equal xattrs (set in another order) give equal blobs; the skipped name
   never counts; a value or a name more makes them differ; the layout is
   "name\0", an 8-byte length, the value, sorted by name. */
static void test_xattr_blob(void **state)
{
	(void)state;
	sh("echo a >a && echo b >b && echo c >c && echo d >d");
	set("a", "user.z", "zz");
	set("a", "user.a", "1");
	set("b", "user.a", "1");
	set("b", "user.z", "zz");
	set("b", "user.skipme", "anything");
	set("c", "user.a", "1");
	set("c", "user.z", "zy");
	int fa = open_file("a"), fb = open_file("b"), fc = open_file("c"), fd = open_file("d");
	char *ba, *bb, *bc, *bd;
	size_t la, lb, lc, ld;
	assert_int_equal(tu_xattr_blob(fa, "user.skipme", &ba, &la), 0);
	assert_int_equal(tu_xattr_blob(fb, "user.skipme", &bb, &lb), 0);
	assert_int_equal(tu_xattr_blob(fc, "user.skipme", &bc, &lc), 0);
	assert_int_equal(tu_xattr_blob(fd, "user.skipme", &bd, &ld), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	assert_int_equal(la, lc);
	assert_true(memcmp(ba, bc, la) != 0);
	assert_null(bd);
	assert_int_equal(ld, 0);
	static const char want[] = "user.a\0\1\0\0\0\0\0\0\0" "1" "user.z\0\2\0\0\0\0\0\0\0" "zz";
	assert_int_equal(la, sizeof want - 1);
	assert_memory_equal(ba, want, la);
	/* Only the skipped name: no blob, as with none at all. */
	set("d", "user.skipme", "x");
	free(bd);
	assert_int_equal(tu_xattr_blob(fd, "user.skipme", &bd, &ld), 0);
	assert_null(bd);
	free(ba);
	free(bb);
	free(bc);
	close(fa);
	close(fb);
	close(fc);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_new_mode_table, clean),
		cmocka_unit_test_setup(test_read_held_is_the_inode_held, clean),
		cmocka_unit_test_setup(test_read_held_symlink_own_xattrs, clean),
		cmocka_unit_test_setup(test_apply_held_never_by_name, clean),
		cmocka_unit_test_setup(test_acl_exact_through_held, clean),
		cmocka_unit_test_setup(test_dir_inherits, clean),
		cmocka_unit_test_setup(test_xattr_blob, clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
