/* SPDX-License-Identifier: Apache-2.0 */
/* compare.c: what differs between a SOURCE entry and a DEST entry (the
 * rules are in compare.h).
 *
 * The cheap answers come first, from the two statx results; xattrs, ACLs
 * and flags are read only when asked for, through the held fds. ACLs are
 * compared as rsync compares them: an access ACL is equal when its named
 * users and groups, whether it has a mask, and (with a mask) the owning
 * group's entry are equal, because the rest of it is the mode and a chmod
 * changes both; a default ACL is compared whole.
 *
 * This file must never open a name, never follow a symlink, never change
 * an entry and never print.
 */
#define TU_INTERNAL
#include "compare.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The chattr flags a user may set, as lib/meta.c copies them (its
   COPY_FLAGS: keep the two lists alike). */
#define CMP_FLAGS (FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL | FS_IMMUTABLE_FL | \
		   FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL | FS_JOURNAL_DATA_FL | \
		   FS_NOTAIL_FL | FS_DIRSYNC_FL | FS_TOPDIR_FL | FS_PROJINHERIT_FL)

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

/* The kernel's POSIX ACL xattr layout (linux/posix_acl_xattr.h): a 4-byte
   version, then 8-byte entries, little-endian, sorted by tag then id. */
enum {
	ACL_TAG_USER_OBJ = 0x01,
	ACL_TAG_USER = 0x02,
	ACL_TAG_GROUP_OBJ = 0x04,
	ACL_TAG_GROUP = 0x08,
	ACL_TAG_MASK = 0x10,
};

#define PROC_LEN 32

static void proc_path(char buf[PROC_LEN], int fd)
{
	snprintf(buf, PROC_LEN, "/proc/self/fd/%d", fd);
}

/* An entry whose xattrs are read: through its fd, which is cheapest, or
   when that is an O_PATH fd (f*xattr() answer EBADF) through its
   /proc/self/fd link, about 6 times dearer (4.6 against 0.8 us a
   listxattr on tmpfs). */
struct xent {
	int fd;
	char proc[PROC_LEN];	/* "" until the fd proved to be O_PATH */
};

static void xent_init(struct xent *x, int fd)
{
	x->fd = fd;
	x->proc[0] = '\0';
}

static ssize_t x_get(struct xent *x, const char *name, void *v, size_t n)
{
	if (!x->proc[0]) {
		ssize_t r = fgetxattr(x->fd, name, v, n);
		if (r >= 0 || errno != EBADF)
			return r;
		proc_path(x->proc, x->fd);
	}
	return getxattr(x->proc, name, v, n);
}

static ssize_t x_list(struct xent *x, char *list, size_t n)
{
	if (!x->proc[0]) {
		ssize_t r = flistxattr(x->fd, list, n);
		if (r >= 0 || errno != EBADF)
			return r;
		proc_path(x->proc, x->fd);
	}
	return listxattr(x->proc, list, n);
}

/* A growable buffer for xattr names and values. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t n)
{
	if (n <= b->cap)
		return 0;
	char *np = realloc(b->p, n);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = n;
	return 0;
}

static bool no_xattrs(int err)
{
	return err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
}

/* NAME's value on entry X into B (len 0 and *PRESENT false when it has
   none). 0 or -errno. */
static int get_value(struct xent *x, const char *name, struct buf *b, bool *present)
{
	*present = false;
	b->len = 0;
	/* A zero size would ask for the size instead of the value. */
	int r = buf_reserve(b, 256);
	if (r)
		return r;
	for (;;) {
		ssize_t n = x_get(x, name, b->p, b->cap);
		if (n >= 0) {
			b->len = (size_t)n;
			*present = true;
			return 0;
		}
		if (errno == ENODATA || no_xattrs(errno))
			return 0;
		if (errno != ERANGE)
			return -errno;
		/* Too small: ask for the size, grow, and read again (the value
		   may grow in between, hence the loop). */
		n = x_get(x, name, NULL, 0);
		if (n < 0)
			return errno == ENODATA ? 0 : -errno;
		r = buf_reserve(b, (size_t)n + 64);
		if (r)
			return r;
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of entry X, NUL-separated, into B, the
   "system." ones left out and the rest sorted, so two lists compare with
   memcmp. 0 or -errno. */
static int list_names(struct xent *x, struct buf *b)
{
	/* A zero size would ask for the size instead of the list. */
	int r = buf_reserve(b, 1024);
	if (r)
		return r;
	for (;;) {
		ssize_t n = x_list(x, b->p, b->cap);
		if (n >= 0) {
			b->len = (size_t)n;
			break;
		}
		if (no_xattrs(errno)) {
			b->len = 0;
			return 0;
		}
		if (errno != ERANGE)
			return -errno;
		n = x_list(x, NULL, 0);
		if (n < 0)
			return -errno;
		r = buf_reserve(b, (size_t)n + 256);
		if (r)
			return r;
	}
	/* Split, drop system.*, sort, join again. */
	size_t count = 0;
	for (size_t i = 0; i < b->len; i += strlen(b->p + i) + 1)
		count++;
	const char **names = malloc((count ? count : 1) * sizeof *names);
	char *copy = malloc(b->len ? b->len : 1);
	if (!names || !copy) {
		free(names);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, b->p, b->len);
	size_t kept = 0;
	for (size_t i = 0; i < b->len; i += strlen(copy + i) + 1)
		if (strncmp(copy + i, "system.", 7))
			names[kept++] = copy + i;
	qsort(names, kept, sizeof *names, cmp_names);
	size_t at = 0;
	for (size_t i = 0; i < kept; i++) {
		size_t n = strlen(names[i]) + 1;
		memcpy(b->p + at, names[i], n);
		at += n;
	}
	b->len = at;
	free(names);
	free(copy);
	return 0;
}

/* Whether the xattrs (names and values, "system." aside) differ: 1, 0, or
   -errno. */
static int xattrs_differ(int sfd, int dfd)
{
	struct xent sx, dx;
	xent_init(&sx, sfd);
	xent_init(&dx, dfd);
	struct buf sn = {0}, dn = {0}, sv = {0}, dv = {0};
	int r = list_names(&sx, &sn);
	if (!r)
		r = list_names(&dx, &dn);
	if (!r && (sn.len != dn.len || memcmp(sn.p, dn.p, sn.len)))
		r = 1;
	for (size_t i = 0; !r && i < sn.len; i += strlen(sn.p + i) + 1) {
		bool sh, dh;
		r = get_value(&sx, sn.p + i, &sv, &sh);
		if (!r)
			r = get_value(&dx, sn.p + i, &dv, &dh);
		if (!r && (sh != dh || sv.len != dv.len || memcmp(sv.p, dv.p, sv.len)))
			r = 1;
	}
	free(sn.p);
	free(dn.p);
	free(sv.p);
	free(dv.p);
	return r;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The part of an access ACL the mode does not say: its named entries, the
   mask's presence and (with a mask) the owning group's permissions, into
   OUT as (tag, perm, id) triples. Returns the number of bytes written. */
static size_t acl_beyond_mode(const struct buf *b, unsigned char *out)
{
	size_t n = 0;
	bool mask = false;
	uint16_t group_obj = 0;
	for (size_t i = 4; i + 8 <= b->len; i += 8) {
		const unsigned char *e = (const unsigned char *)b->p + i;
		uint16_t tag = le16(e);
		if (tag == ACL_TAG_USER || tag == ACL_TAG_GROUP) {
			memcpy(out + n, e, 8);
			n += 8;
		} else if (tag == ACL_TAG_MASK) {
			mask = true;
		} else if (tag == ACL_TAG_GROUP_OBJ) {
			group_obj = le16(e + 2);
		}
	}
	if (mask) {
		unsigned char m[8] = { ACL_TAG_MASK, 0, (unsigned char)group_obj,
				       (unsigned char)(group_obj >> 8), 0, 0, 0, 0 };
		memcpy(out + n, m, 8);
		n += 8;
	}
	return n;
}

static int acl_value(struct xent *x, const char *name, struct buf *b)
{
	bool present;
	int r = get_value(x, name, b, &present);
	/* A file system without ACLs, or an entry without one: no entries. */
	if (r == -EOPNOTSUPP || r == -ENOTSUP)
		r = 0;
	if (!r && !present)
		b->len = 0;
	return r;
}

/* Whether the ACLs differ: 1, 0, or -errno. */
static int acls_differ(int sfd, int dfd, bool is_dir)
{
	struct xent sx, dx;
	xent_init(&sx, sfd);
	xent_init(&dx, dfd);
	struct buf s = {0}, d = {0};
	int r = acl_value(&sx, ACL_ACCESS, &s);
	if (!r)
		r = acl_value(&dx, ACL_ACCESS, &d);
	if (!r) {
		unsigned char *bs = malloc(s.len + 8), *bd = malloc(d.len + 8);
		if (!bs || !bd) {
			r = -ENOMEM;
		} else {
			size_t ns = acl_beyond_mode(&s, bs), nd = acl_beyond_mode(&d, bd);
			r = ns != nd || memcmp(bs, bd, ns);
		}
		free(bs);
		free(bd);
	}
	if (!r && is_dir) {
		r = acl_value(&sx, ACL_DEFAULT, &s);
		if (!r)
			r = acl_value(&dx, ACL_DEFAULT, &d);
		if (!r)
			r = s.len != d.len || memcmp(s.p, d.p, s.len);
	}
	free(s.p);
	free(d.p);
	return r;
}

/* The chattr flags of the regular file or directory behind FD into *OUT
   (0 where the file system has none). 0 or -errno. */
static int read_flags(int fd, unsigned long *out)
{
	/* FS_IOC_GETFLAGS takes an int, whatever its name says. */
	int v = 0;
	int r = ioctl(fd, FS_IOC_GETFLAGS, &v);
	int err = r ? errno : 0;
	if (err == EBADF) {
		/* An O_PATH fd: open the very inode it holds, not a name. */
		char p[PROC_LEN];
		proc_path(p, fd);
		int rfd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (rfd < 0)
			return -errno;
		r = ioctl(rfd, FS_IOC_GETFLAGS, &v);
		err = r ? errno : 0;
		close(rfd);
	}
	if (err == ENOTTY || err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL || err == ENOSYS) {
		v = 0;
		err = 0;
	}
	if (err)
		return -err;
	*out = (unsigned long)(unsigned)v & CMP_FLAGS;
	return 0;
}

/* Whether the symlink targets differ: 1, 0, or -errno. */
static int targets_differ(int sfd, int dfd, size_t ssize, size_t dsize)
{
	if (ssize != dsize)
		return 1;
	char *a = malloc(ssize + 1), *b = malloc(dsize + 1);
	int r = 0;
	if (!a || !b) {
		r = -ENOMEM;
	} else {
		ssize_t na = readlinkat(sfd, "", a, ssize + 1);
		ssize_t nb = na < 0 ? -1 : readlinkat(dfd, "", b, dsize + 1);
		if (na < 0 || nb < 0)
			r = -errno;
		else
			r = na != nb || memcmp(a, b, (size_t)na);
	}
	free(a);
	free(b);
	return r;
}

static bool has(const struct statx *x, unsigned mask)
{
	return (x->stx_mask & mask) == mask;
}

int tu_compare(const struct tu_cmp_entry *src, const struct tu_cmp_entry *dst, unsigned what,
	       struct tu_cmp *c)
{
	const struct statx *s = src->stx;
	unsigned need = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME;
	if (what & TU_CMP_OWNER)
		need |= STATX_UID;
	if (what & TU_CMP_GROUP)
		need |= STATX_GID;
	if (!has(s, need) || (dst && !has(dst->stx, need)))
		return -EINVAL;
	if (!dst) {
		*c = (struct tu_cmp){ TU_CHG_NEW, true };
		return 0;
	}
	const struct statx *d = dst->stx;
	if ((s->stx_mode & S_IFMT) != (d->stx_mode & S_IFMT)) {
		*c = (struct tu_cmp){ TU_CHG_TYPE, true };
		return 0;
	}

	struct tu_cmp out = { 0, false };
	mode_t type = s->stx_mode & S_IFMT;
	if (type == S_IFREG && s->stx_size != d->stx_size) {
		out.changed |= TU_CHG_SIZE;
		out.data = true;
	}
	if (s->stx_mtime.tv_sec != d->stx_mtime.tv_sec ||
	    s->stx_mtime.tv_nsec != d->stx_mtime.tv_nsec) {
		out.changed |= TU_CHG_MTIME;
		/* Without content compared, a file with another mtime may hold
		   other data (the quick check). */
		if (type == S_IFREG)
			out.data = true;
	}
	if (type == S_IFCHR || type == S_IFBLK) {
		if (s->stx_rdev_major != d->stx_rdev_major || s->stx_rdev_minor != d->stx_rdev_minor) {
			out.changed |= TU_CHG_CONTENT;
			out.data = true;
		}
	}
	if (type == S_IFLNK) {
		int r = targets_differ(src->fd, dst->fd, s->stx_size, d->stx_size);
		if (r < 0)
			return r;
		if (r) {
			out.changed |= TU_CHG_CONTENT;
			out.data = true;
		}
	}
	if ((what & TU_CMP_PERMS) && type != S_IFLNK && ((s->stx_mode ^ d->stx_mode) & 07777))
		out.changed |= TU_CHG_PERMS;
	if ((what & TU_CMP_OWNER) && s->stx_uid != d->stx_uid)
		out.changed |= TU_CHG_OWNER;
	if ((what & TU_CMP_GROUP) && s->stx_gid != d->stx_gid)
		out.changed |= TU_CHG_GROUP;
	if (what & TU_CMP_XATTR) {
		int r = xattrs_differ(src->fd, dst->fd);
		if (r < 0)
			return r;
		if (r)
			out.changed |= TU_CHG_XATTR;
	}
	/* Symlinks have no ACLs of their own (Linux gives them none). */
	if ((what & TU_CMP_ACL) && type != S_IFLNK) {
		int r = acls_differ(src->fd, dst->fd, type == S_IFDIR);
		if (r < 0)
			return r;
		if (r)
			out.changed |= TU_CHG_ACL;
	}
	/* Only regular files and directories carry chattr flags we copy. */
	if ((what & TU_CMP_FLAGS) && (type == S_IFREG || type == S_IFDIR)) {
		unsigned long sf = 0, df = 0;
		int r = read_flags(src->fd, &sf);
		if (!r)
			r = read_flags(dst->fd, &df);
		if (r)
			return r;
		if (sf != df)
			out.changed |= TU_CHG_FLAGS;
	}
	*c = out;
	return 0;
}

void tu_compare_content(struct tu_cmp *c, bool same)
{
	if (!same) {
		c->changed |= TU_CHG_CONTENT;
		c->data = true;
		return;
	}
	c->changed &= ~TU_CHG_CONTENT;
	c->data = (c->changed & (TU_CHG_TYPE | TU_CHG_NEW | TU_CHG_SIZE)) != 0;
}
