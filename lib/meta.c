/* SPDX-License-Identifier: Apache-2.0 */
/* meta.c: read metadata through libarchive, apply it through held fds.
 *
 * libarchive's archive_read_disk_entry_from_file() is the reader and the
 * model: one entry holds the xattrs, POSIX ACLs and file flags. Its traps,
 * handled here:
 *  - a symlink (or anything we do not open) would have to be passed as fd
 *    -1, and libarchive then reads it by path: whatever lies at the name at
 *    that moment. So such an entry is held by an O_PATH fd checked against
 *    what was stat'ed, and read here through that fd (tu_meta_read_held)
 *    into the same kind of entry;
 *  - a directory's default ACL is read by path even when an fd is given, so
 *    the entry's source path is "/proc/self/fd/FD", the held directory.
 *
 * Applying is fd-relative and ordered; each step says why it is where it is.
 * This file must never follow a symlink in a tree, never use
 * archive_write_disk (path-based, changes the working directory), and never
 * print.
 */
#define TU_INTERNAL
#include "meta.h"
#include "handle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PROC_PATH_MAX 64

/* chattr flags we copy: the ones a user may set. Flags the filesystem keeps
   for itself (extents, inline data, encryption, ...) are not ours to set. */
#define COPY_FLAGS (FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL | FS_IMMUTABLE_FL | \
		    FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL | FS_JOURNAL_DATA_FL | \
		    FS_NOTAIL_FL | FS_DIRSYNC_FL | FS_TOPDIR_FL | FS_PROJINHERIT_FL)

struct tu_meta_reader {
	pthread_mutex_t lock;
	struct archive **free;		/* readers not in use */
	size_t nfree, cap;
};

int tu_meta_reader_new(struct tu_meta_reader **out)
{
	struct tu_meta_reader *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void tu_meta_reader_free(struct tu_meta_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfree; i++)
		archive_read_free(r->free[i]);
	free(r->free);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* One archive_read_disk per concurrent caller: they are not thread-safe. */
static struct archive *reader_get(struct tu_meta_reader *r)
{
	struct archive *a = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->nfree)
		a = r->free[--r->nfree];
	pthread_mutex_unlock(&r->lock);
	if (a)
		return a;
	a = archive_read_disk_new();
	if (!a)
		return NULL;
	/* Numeric owners only (no name lookups), never follow, and no sparse
	   map: the copier finds holes itself with SEEK_DATA. */
	archive_read_disk_set_symlink_physical(a);
	archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_SPARSE);
	return a;
}

static void reader_put(struct tu_meta_reader *r, struct archive *a)
{
	pthread_mutex_lock(&r->lock);
	if (r->nfree == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		struct archive **n = realloc(r->free, ncap * sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&r->lock);
			archive_read_free(a);
			return;
		}
		r->free = n;
		r->cap = ncap;
	}
	r->free[r->nfree++] = a;
	pthread_mutex_unlock(&r->lock);
}

static int read_entry(struct tu_meta_reader *r, int fd, const char *path,
		      const struct stat *st, struct tu_meta *m)
{
	memset(m, 0, sizeof *m);
	m->st = *st;
	struct archive *a = reader_get(r);
	if (!a)
		return -ENOMEM;
	struct archive_entry *ae = archive_entry_new();
	if (!ae) {
		reader_put(r, a);
		return -ENOMEM;
	}
	archive_entry_copy_sourcepath(ae, path);
	archive_entry_copy_pathname(ae, path);
	int ar = archive_read_disk_entry_from_file(a, ae, fd, st);
	int err = archive_errno(a);
	reader_put(r, a);
	if (ar < ARCHIVE_WARN) {
		archive_entry_free(ae);
		return -(err > 0 ? err : EIO);
	}
	/* ARCHIVE_WARN: some piece (an ACL, an xattr) could not be read; the
	   entry holds the rest. The apply side copies what is there. */
	unsigned long set = 0, clear = 0;
	archive_entry_fflags(ae, &set, &clear);
	m->fflags = set;
	m->ae = ae;
	return 0;
}

int tu_meta_read_fd(struct tu_meta_reader *r, int fd, const struct stat *st, struct tu_meta *m)
{
	char path[PROC_PATH_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return read_entry(r, fd, path, st, m);
}

/* ---- reading through a held O_PATH fd ----------------------------------------- */

/* An O_PATH fd refuses the f*xattr calls (EBADF). Its /proc magic link
   leads to the inode held with no name looked up, and to a symlink itself,
   never to its target (checked: getxattr through it lists the link's own
   trusted.* names), so the path calls through it read exactly what was
   stat'ed. */

#define ACL_XATTR_ACCESS  "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
#define ACL_XATTR_VERSION 2u
#define ACL_NO_ID         0xffffffffu

static bool no_xattrs(int err)
{
	return err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
}

/* The value of NAME on PROC, malloc'd in *OUT (*LEN bytes). 0; -ENODATA
   when it has none (or the filesystem has no xattrs); -errno. */
static int held_get(const char *proc, const char *name, unsigned char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = getxattr(proc, name, NULL, 0);
		if (n < 0)
			return no_xattrs(errno) ? -ENODATA : -errno;
		unsigned char *v = malloc(n ? (size_t)n : 1);
		if (!v)
			return -ENOMEM;
		ssize_t got = getxattr(proc, name, v, (size_t)n);
		if (got >= 0) {
			*out = v;
			*len = (size_t)got;
			return 0;
		}
		int err = errno;
		free(v);
		if (err != ERANGE)	/* grew in between: ask again */
			return no_xattrs(err) ? -ENODATA : -err;
	}
}

/* Every name of PROC's xattrs, malloc'd in *OUT (*LEN bytes, NUL after
   each). 0 (*LEN 0 when none, or no xattrs on this filesystem) or -errno. */
static int held_list(const char *proc, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = listxattr(proc, NULL, 0);
		if (n <= 0)
			return n == 0 || no_xattrs(errno) ? 0 : -errno;
		char *list = malloc((size_t)n);
		if (!list)
			return -ENOMEM;
		ssize_t got = listxattr(proc, list, (size_t)n);
		if (got >= 0) {
			*out = list;
			*len = (size_t)got;
			return 0;
		}
		int err = errno;
		free(list);
		if (err != ERANGE)
			return no_xattrs(err) ? 0 : -err;
	}
}

/* Names libarchive's reader leaves out of an entry's xattrs, as we do: the
   POSIX ACLs (kept as ACL entries), XFS's old ACL names and its obsolete
   xfsroot namespace. */
static bool xattr_is_acl(const char *name)
{
	return strcmp(name, ACL_XATTR_ACCESS) == 0 || strcmp(name, ACL_XATTR_DEFAULT) == 0 ||
	       strcmp(name, "trusted.SGI_ACL_FILE") == 0 ||
	       strcmp(name, "trusted.SGI_ACL_DEFAULT") == 0 || strncmp(name, "xfsroot.", 8) == 0;
}

/* The POSIX ACL value V (the kernel's xattr format) into AE as entries of
   TYPE (ARCHIVE_ENTRY_ACL_TYPE_ACCESS or _DEFAULT), as libarchive's own
   reader adds what libacl reads: the access ACL's user::, group:: and
   other:: become AE's mode bits, the rest entries. -EINVAL for a value not
   in that format, or 0. */
static int acl_entry_from_xattr(struct archive_entry *ae, int type, const unsigned char *v,
				size_t len)
{
	if (len < 4 || (len - 4) % 8 ||
	    (uint32_t)(v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24) != ACL_XATTR_VERSION)
		return -EINVAL;
	for (size_t at = 4; at < len; at += 8) {
		int tag = v[at] | v[at + 1] << 8, perm = v[at + 2] & 7;
		uint32_t id = v[at + 4] | v[at + 5] << 8 | v[at + 6] << 16 | (uint32_t)v[at + 7] << 24;
		int atag;
		switch (tag) {
		case 0x01: atag = ARCHIVE_ENTRY_ACL_USER_OBJ; break;
		case 0x02: atag = ARCHIVE_ENTRY_ACL_USER; break;
		case 0x04: atag = ARCHIVE_ENTRY_ACL_GROUP_OBJ; break;
		case 0x08: atag = ARCHIVE_ENTRY_ACL_GROUP; break;
		case 0x10: atag = ARCHIVE_ENTRY_ACL_MASK; break;
		case 0x20: atag = ARCHIVE_ENTRY_ACL_OTHER; break;
		default: return -EINVAL;
		}
		bool named = atag == ARCHIVE_ENTRY_ACL_USER || atag == ARCHIVE_ENTRY_ACL_GROUP;
		if (archive_entry_acl_add_entry(ae, type, perm, atag, named ? (int)id : -1, NULL) !=
		    ARCHIVE_OK)
			return -EINVAL;
	}
	return 0;
}

/* The ACL XNAME of PROC into AE as TYPE entries; none is no error. */
static int held_acl(const char *proc, const char *xname, int type, struct archive_entry *ae)
{
	unsigned char *v;
	size_t len;
	int r = held_get(proc, xname, &v, &len);
	if (r == -ENODATA)
		return 0;
	if (r == 0)
		r = acl_entry_from_xattr(ae, type, v, len);
	free(v);
	return r;
}

int tu_meta_read_held(int held, const struct stat *st, struct tu_meta *m)
{
	memset(m, 0, sizeof *m);
	m->st = *st;
	char proc[PROC_PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", held);
	struct archive_entry *ae = archive_entry_new();
	if (!ae)
		return -ENOMEM;
	archive_entry_copy_stat(ae, st);
	char *list;
	size_t n;
	int r = held_list(proc, &list, &n);
	for (size_t i = 0; r == 0 && i < n; i += strlen(list + i) + 1) {
		const char *name = list + i;
		if (xattr_is_acl(name))
			continue;
		unsigned char *v;
		size_t len;
		r = held_get(proc, name, &v, &len);
		if (r == 0)
			archive_entry_xattr_add_entry(ae, name, v, len);
		else if (r == -ENODATA)	/* removed since it was listed */
			r = 0;
		free(v);
	}
	free(list);
	/* Symlinks have no ACLs; only directories have a default one. */
	if (r == 0 && !S_ISLNK(st->st_mode))
		r = held_acl(proc, ACL_XATTR_ACCESS, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ae);
	if (r == 0 && S_ISDIR(st->st_mode))
		r = held_acl(proc, ACL_XATTR_DEFAULT, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, ae);
	if (r < 0) {
		archive_entry_free(ae);
		return r;
	}
	m->ae = ae;
	return 0;
}

int tu_meta_read_at(struct tu_meta_reader *r, int dirfd, const char *name,
		    const struct stat *st, struct tu_meta *m)
{
	(void)r;
	struct stat now;
	int held = tu_entry_hold_at(dirfd, name, &now);
	if (held < 0)
		return held;
	int ret = -ESTALE;
	if (now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
	    (now.st_mode & S_IFMT) == (st->st_mode & S_IFMT))
		ret = tu_meta_read_held(held, st, m);
	close(held);
	return ret;
}

void tu_meta_free(struct tu_meta *m)
{
	if (m->ae)
		archive_entry_free(m->ae);
	m->ae = NULL;
}

bool tu_meta_flags_lock(unsigned long fflags)
{
	return (fflags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0;
}

/* ---- applying ------------------------------------------------------------ */

/* Where to apply: an open fd, a held O_PATH fd (HELD, for symlinks and
   specials: never opened for I/O, never followed), or NAME in DIRFD never
   followed. */
struct target {
	int fd;			/* >= 0: the entry itself */
	int held;		/* >= 0: an O_PATH fd of the entry itself */
	int dirfd;
	const char *name;
	char proc[PROC_PATH_MAX + 256];	/* path of the entry through /proc */
	bool proc_ok;
};

static int fail_note(tu_meta_fail_fn *fail, void *ctx, int *first, const char *op, int err,
		     const char *detail)
{
	if (fail)
		fail(op, err, detail, ctx);
	if (!*first)
		*first = err;
	return -err;
}

/* What a chown refused as not root: bits of *LOST. */
enum { LOST_OWNER = 1, LOST_GROUP = 2 };

/* chown(2) of the target itself (never following it): fchown on an fd,
   fchownat with AT_EMPTY_PATH on a held O_PATH fd, else by name in dirfd. */
static int chown_target(const struct target *t, uid_t uid, gid_t gid)
{
	if (t->fd >= 0)
		return fchown(t->fd, uid, gid);
	if (t->held >= 0)
		return fchownat(t->held, "", uid, gid, AT_EMPTY_PATH);
	return fchownat(t->dirfd, t->name, uid, gid, AT_SYMLINK_NOFOLLOW);
}

/* Owner and group of ST onto the target. Not root (EPERM): the group is
   still kept if we are a member of it, and *LOST says which of the two
   could not be kept (the owner only when it is not already ours). */
static int set_owner(const struct target *t, const struct stat *st, unsigned *lost)
{
	*lost = 0;
	if (chown_target(t, st->st_uid, st->st_gid) == 0)
		return 0;
	int err = errno;
	if (err != EPERM)
		return -err;
	if (st->st_uid != geteuid())
		*lost |= LOST_OWNER;
	if (chown_target(t, (uid_t)-1, st->st_gid) != 0)
		*lost |= LOST_GROUP;
	if (!*lost)	/* both ours, yet refused: say so as it came */
		*lost = LOST_OWNER;
	return -EPERM;
}

/* The words for a setuid or setgid bit a lost owner or group costs, or
   NULL when MODE has neither. */
static const char *dropped_bits(mode_t mode)
{
	bool u = mode & S_ISUID, g = mode & S_ISGID;
	return u && g ? "setuid and setgid bits dropped"
	     : u ? "setuid bit dropped"
	     : g ? "setgid bit dropped" : NULL;
}

/* Set the xattr NAME of the target, never following it. An O_PATH fd
   refuses fsetxattr (EBADF); its /proc magic link names the inode itself,
   with no lookup, so the path call through it is as safe. */
static int set_xattr(const struct target *t, const char *name, const void *v, size_t len)
{
	int r;
	if (t->fd >= 0) {
		r = fsetxattr(t->fd, name, v, len, 0);
		if (r < 0 && errno == EBADF)
			r = setxattr(t->proc, name, v, len, 0);
	} else if (t->held >= 0) {	/* the fd's magic link leads to the entry itself */
		r = setxattr(t->proc, name, v, len, 0);
	} else if (t->proc_ok) {
		r = lsetxattr(t->proc, name, v, len, 0);
	} else {
		return -ENAMETOOLONG;
	}
	return r == 0 ? 0 : -errno;
}

/* Remove the xattr NAME of the target, the same way. */
static int remove_xattr(const struct target *t, const char *name)
{
	int r;
	if (t->fd >= 0) {
		r = fremovexattr(t->fd, name);
		if (r < 0 && errno == EBADF)
			r = removexattr(t->proc, name);
	} else if (t->held >= 0) {
		r = removexattr(t->proc, name);
	} else if (t->proc_ok) {
		r = lremovexattr(t->proc, name);
	} else {
		return -ENAMETOOLONG;
	}
	return r == 0 ? 0 : -errno;
}

/* Every xattr the entry holds, security.capability last: chown (before
   this) clears it, and so does any later write to the data. */
static void set_xattrs(const struct target *t, struct archive_entry *ae,
		       tu_meta_fail_fn *fail, void *ctx, int *first)
{
	if (!ae || archive_entry_xattr_reset(ae) == 0)
		return;
	const char *cap_name = "security.capability";
	const void *cap = NULL;
	size_t cap_len = 0;
	const char *name;
	const void *v;
	size_t len;
	while (archive_entry_xattr_next(ae, &name, &v, &len) == ARCHIVE_OK) {
		if (strcmp(name, cap_name) == 0) {
			cap = v;
			cap_len = len;
			continue;
		}
		int r = set_xattr(t, name, v, len);
		if (r < 0)
			fail_note(fail, ctx, first, "set xattr", -r, name);
	}
	if (cap) {
		int r = set_xattr(t, cap_name, cap, cap_len);
		if (r < 0)
			fail_note(fail, ctx, first, "set xattr", -r, cap_name);
	}
}

/* POSIX ACLs are written as the kernel's own xattr values (the format of
   linux/posix_acl_xattr.h: a version word, then (tag, perm, id) entries,
   little-endian, sorted by tag and id), so that one fd call, or one l*xattr
   call on a name, sets or removes them for every type: libacl sets a
   default ACL and anything without an fd by path only, following
   symlinks. */
struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static int acl_ent_cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;
	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static unsigned char *put_le(unsigned char *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

/* The WANT ACL (ARCHIVE_ENTRY_ACL_TYPE_ACCESS or _DEFAULT) of AE as the
   kernel's xattr value, malloc'ed in *OUT (*LEN bytes). 0 with *OUT NULL
   when AE holds none; -EINVAL for an entry a POSIX ACL cannot hold;
   -ENOMEM. */
static int acl_xattr_from_entry(struct archive_entry *ae, int want, unsigned char **out,
				size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!ae || !(archive_entry_acl_types(ae) & want))
		return 0;
	int n = archive_entry_acl_reset(ae, want);
	if (n <= 0)
		return 0;
	struct acl_ent *e = calloc((size_t)n, sizeof *e);
	if (!e)
		return -ENOMEM;
	int k = 0, type, permset, tag, qual;
	const char *qname;
	while (k < n && archive_entry_acl_next(ae, want, &type, &permset, &tag, &qual, &qname) ==
				ARCHIVE_OK) {
		struct acl_ent *x = &e[k++];
		x->id = ACL_NO_ID;
		switch (tag) {
		case ARCHIVE_ENTRY_ACL_USER_OBJ: x->tag = 0x01; break;
		case ARCHIVE_ENTRY_ACL_USER: x->tag = 0x02; x->id = (uint32_t)qual; break;
		case ARCHIVE_ENTRY_ACL_GROUP_OBJ: x->tag = 0x04; break;
		case ARCHIVE_ENTRY_ACL_GROUP: x->tag = 0x08; x->id = (uint32_t)qual; break;
		case ARCHIVE_ENTRY_ACL_MASK: x->tag = 0x10; break;
		case ARCHIVE_ENTRY_ACL_OTHER: x->tag = 0x20; break;
		default:
			free(e);
			return -EINVAL;
		}
		x->perm = (uint16_t)((permset & ARCHIVE_ENTRY_ACL_READ ? 4 : 0) |
				     (permset & ARCHIVE_ENTRY_ACL_WRITE ? 2 : 0) |
				     (permset & ARCHIVE_ENTRY_ACL_EXECUTE ? 1 : 0));
	}
	qsort(e, (size_t)k, sizeof *e, acl_ent_cmp);
	unsigned char *buf = malloc(4 + 8 * (size_t)k);
	if (!buf) {
		free(e);
		return -ENOMEM;
	}
	unsigned char *p = put_le(buf, ACL_XATTR_VERSION, 4);
	for (int i = 0; i < k; i++) {
		p = put_le(p, e[i].tag, 2);
		p = put_le(p, e[i].perm, 2);
		p = put_le(p, e[i].id, 4);
	}
	free(e);
	*out = buf;
	*len = (size_t)(p - buf);
	return 0;
}

/* POSIX ACLs made exactly the source's, absent included: the access ACL of
   every type but symlinks (which have none), and a directory's default
   ACL. An entry made in a directory with a default ACL inherits one; where
   the source has none, it is removed, so a copy is never more open than
   its source (before the mode is set, see apply()). */
static void set_acls(const struct target *t, struct archive_entry *ae, mode_t type,
		     bool inherited, tu_meta_fail_fn *fail, void *ctx, int *first)
{
	static const struct {
		int type;
		const char *xattr, *what;
	} kinds[] = {
		{ ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ACL_XATTR_ACCESS, "access" },
		{ ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, ACL_XATTR_DEFAULT, "default" },
	};
	if (S_ISLNK(type))
		return;
	for (int i = 0; i < (S_ISDIR(type) ? 2 : 1); i++) {
		unsigned char *v;
		size_t len;
		int r = acl_xattr_from_entry(ae, kinds[i].type, &v, &len);
		bool set = v != NULL;
		if (r == 0 && !set && !inherited)
			continue;	/* none in the source, none inherited */
		if (r == 0)
			r = set ? set_xattr(t, kinds[i].xattr, v, len) : remove_xattr(t, kinds[i].xattr);
		free(v);
		/* Nothing to remove, or a filesystem without ACLs (which then
		   holds none). */
		if (!set && (r == -ENODATA || r == -EOPNOTSUPP))
			r = 0;
		if (r < 0)
			fail_note(fail, ctx, first, "set ACL", -r, kinds[i].what);
	}
}

/* The permission bits a default ACL value (kernel xattr format) lets a new
   entry keep: user::, mask:: (group:: without a mask) and other::, as
   bits 0777. -EINVAL for a value not in that format. */
static int acl_default_perms(const unsigned char *v, size_t len, mode_t *out)
{
	if (len < 4 || (len - 4) % 8 ||
	    (uint32_t)(v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24) != ACL_XATTR_VERSION)
		return -EINVAL;
	int u = -1, g = -1, m = -1, o = -1;
	for (size_t at = 4; at < len; at += 8) {
		int tag = v[at] | v[at + 1] << 8, perm = (v[at + 2] | v[at + 3] << 8) & 7;
		switch (tag) {
		case 0x01: u = perm; break;
		case 0x04: g = perm; break;
		case 0x10: m = perm; break;
		case 0x20: o = perm; break;
		}
	}
	if (u < 0 || g < 0 || o < 0)
		return -EINVAL;
	*out = (mode_t)(u << 6 | (m >= 0 ? m : g) << 3 | o);
	return 0;
}

bool tu_meta_dir_inherits(int dirfd)
{
	if (fgetxattr(dirfd, ACL_XATTR_DEFAULT, NULL, 0) >= 0)
		return true;
	/* No default ACL, or a filesystem without ACLs (nothing to
	   inherit); anything else cannot tell. */
	return !(errno == ENODATA || no_xattrs(errno));
}

int tu_meta_new_mode(int dirfd, mode_t src_mode, mode_t umask_bits, mode_t *out)
{
	struct stat dst;
	if (fstat(dirfd, &dst) < 0)
		return -errno;
	mode_t allow = 0777 & ~umask_bits;
	unsigned char v[4 + 8 * 64];
	ssize_t len = fgetxattr(dirfd, ACL_XATTR_DEFAULT, v, sizeof v);
	if (len < 0 && errno == ERANGE) {
		/* A default ACL with more than 64 entries: only its first
		   four kinds matter, but they may lie anywhere in it. */
		len = fgetxattr(dirfd, ACL_XATTR_DEFAULT, NULL, 0);
		unsigned char *big = len > 0 ? malloc((size_t)len) : NULL;
		if (!big)
			return len > 0 ? -ENOMEM : -errno;
		len = fgetxattr(dirfd, ACL_XATTR_DEFAULT, big, (size_t)len);
		int r = len < 0 ? -errno : acl_default_perms(big, (size_t)len, &allow);
		free(big);
		if (r < 0)
			return r;
	} else if (len >= 0) {
		int r = acl_default_perms(v, (size_t)len, &allow);
		if (r < 0)
			return r;
	} else if (errno != ENODATA && errno != EOPNOTSUPP) {
		return -errno;
	}
	mode_t mode = src_mode & 0777 & allow;
	if (S_ISDIR(src_mode) && (dst.st_mode & S_ISGID))
		mode |= S_ISGID;
	*out = mode;
	return 0;
}

static int set_mode(const struct target *t, mode_t mode)
{
	if (t->held >= 0)	/* fchmod refuses O_PATH: the held inode via /proc */
		return chmod(t->proc, mode) == 0 ? 0 : -errno;
	int r = t->fd >= 0 ? fchmod(t->fd, mode)
			   : fchmodat(t->dirfd, t->name, mode, AT_SYMLINK_NOFOLLOW);
	return r == 0 ? 0 : -errno;
}

static int set_times(const struct target *t, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int r = t->fd >= 0     ? futimens(t->fd, ts)
		: t->held >= 0 ? utimensat(t->held, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
			       : utimensat(t->dirfd, t->name, ts, AT_SYMLINK_NOFOLLOW);
	/* Before Linux 5.8 utimensat has no AT_EMPTY_PATH: the held inode
	   through its magic link, which leads to the entry itself. */
	if (r < 0 && errno == EINVAL && t->held >= 0)
		r = utimensat(AT_FDCWD, t->proc, ts, 0);
	return r == 0 ? 0 : -errno;
}

static int set_flags(int fd, unsigned long want)
{
	int cur = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &cur) != 0)
		return want & COPY_FLAGS ? -errno : 0;
	int next = (int)(((unsigned long)cur & ~(unsigned long)COPY_FLAGS) | (want & COPY_FLAGS));
	if (next == cur)
		return 0;
	if (ioctl(fd, FS_IOC_SETFLAGS, &next) != 0)
		return -errno;
	return 0;
}

static int apply(struct target *t, const struct tu_meta *m, unsigned what,
		 tu_meta_fail_fn *fail, void *ctx)
{
	int first = 0;
	const struct stat *st = &m->st;
	bool is_lnk = S_ISLNK(st->st_mode);
	mode_t mode = st->st_mode & 07777;
	if (t->fd >= 0 || t->held >= 0)
		snprintf(t->proc, sizeof t->proc, "/proc/self/fd/%d", t->fd >= 0 ? t->fd : t->held);
	else
		t->proc_ok = (size_t)snprintf(t->proc, sizeof t->proc, "/proc/self/fd/%d/%s",
					      t->dirfd, t->name) < sizeof t->proc;
	if (t->fd >= 0 || t->held >= 0)
		t->proc_ok = true;

	/* Owner first: chown clears the setuid and setgid bits and file
	   capabilities, so the mode and security.capability come after it. */
	if (what & TU_META_OWNER) {
		unsigned lost;
		int r = set_owner(t, st, &lost);
		if (r < 0) {
			/* "set owner" and "set group" name what was lost; the
			   detail names a setuid or setgid bit only when there
			   was one. */
			const char *bits = is_lnk ? NULL : dropped_bits(mode);
			if (r != -EPERM)
				fail_note(fail, ctx, &first, "set owner", -r, bits);
			if (r == -EPERM && (lost & LOST_OWNER))
				fail_note(fail, ctx, &first, "set owner", EPERM, bits);
			if (r == -EPERM && lost == LOST_GROUP)
				fail_note(fail, ctx, &first, "set group", EPERM, bits);
			/* Never hand setuid/setgid to an owner we did not
			   set. */
			mode &= ~(mode_t)(S_ISUID | S_ISGID);
		}
	}
	if (what & TU_META_XATTR)
		set_xattrs(t, m->ae, fail, ctx, &first);
	/* ACLs before the mode: setting an access ACL rewrites the group bits,
	   and the mode's group bits are then the ACL mask, which fchmod
	   below sets to what the source had. */
	if (what & TU_META_ACL)
		set_acls(t, m->ae, st->st_mode & S_IFMT, !(what & TU_META_UNINHERITED), fail, ctx,
			 &first);
	if ((what & TU_META_MODE) && !is_lnk) {
		int r = set_mode(t, mode);
		if (r < 0)
			fail_note(fail, ctx, &first, "set mode", -r, NULL);
	}
	/* Times after everything that could touch the data; flags after the
	   times, since an immutable entry refuses new times. */
	if (what & TU_META_TIMES) {
		int r = set_times(t, st);
		if (r < 0)
			fail_note(fail, ctx, &first, "set times", -r, NULL);
	}
	if ((what & TU_META_FLAGS) && t->fd >= 0 && m->fflags) {
		int r = set_flags(t->fd, m->fflags);
		if (r < 0)
			fail_note(fail, ctx, &first, "set flags", -r, NULL);
	}
	return first ? -first : 0;
}

int tu_meta_apply_fd(int fd, const struct tu_meta *m, unsigned what,
		     tu_meta_fail_fn *fail, void *ctx)
{
	struct target t = { .fd = fd, .held = -1, .dirfd = -1 };
	return apply(&t, m, what, fail, ctx);
}

int tu_meta_apply_at(int dirfd, const char *name, const struct tu_meta *m, unsigned what,
		     tu_meta_fail_fn *fail, void *ctx)
{
	struct target t = { .fd = -1, .held = -1, .dirfd = dirfd, .name = name };
	return apply(&t, m, what, fail, ctx);
}

int tu_meta_apply_held(int held, const struct tu_meta *m, unsigned what,
		       tu_meta_fail_fn *fail, void *ctx)
{
	struct target t = { .fd = -1, .held = held, .dirfd = -1 };
	return apply(&t, m, what, fail, ctx);
}

/* ---- one xattr, raw (the hash cache's record) ------------------------------------ */

#ifndef __NR_getxattrat
#define __NR_getxattrat 464
#endif
#ifndef __NR_removexattrat
#define __NR_removexattrat 466
#endif

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static int xattr_err(int err)
{
	return err == ENOTSUP ? -EOPNOTSUPP : -err;
}

ssize_t tu_meta_xattr_get_at(int dirfd, const char *name, const char *xname, void *buf,
			     size_t len)
{
	struct xattr_args_v0 args = { .value = (uintptr_t)buf, .size = (uint32_t)len };
	long n = syscall(__NR_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xname, &args,
			 sizeof args);
	return n >= 0 ? (ssize_t)n : xattr_err(errno);
}

ssize_t tu_meta_xattr_get_fd(int fd, const char *xname, void *buf, size_t len)
{
	ssize_t n = fgetxattr(fd, xname, buf, len);
	return n >= 0 ? n : xattr_err(errno);
}

int tu_meta_xattr_set_fd(int fd, const char *xname, const void *v, size_t len)
{
	return fsetxattr(fd, xname, v, len, 0) == 0 ? 0 : xattr_err(errno);
}

int tu_meta_xattr_remove_at(int dirfd, const char *name, const char *xname)
{
	long r = syscall(__NR_removexattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xname);
	return r == 0 ? 0 : xattr_err(errno);
}

int tu_meta_xattr_remove_fd(int fd, const char *xname)
{
	return fremovexattr(fd, xname) == 0 ? 0 : xattr_err(errno);
}

/* ---- the xattr blob that dedup compares ---------------------------------------- */

int tu_xattr_blob(int fd, const char *skip, char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	/* Most files have no xattr but SKIP: one call, no allocation. */
	char small[128];
	size_t skiplen = strlen(skip) + 1;
	ssize_t n = flistxattr(fd, small, sizeof small);
	if (n < 0 && errno != ERANGE)
		return errno == ENOTSUP ? 0 : -errno;
	if (n == 0 || (n == (ssize_t)skiplen && memcmp(small, skip, skiplen) == 0))
		return 0;
	if (n < 0 && (n = flistxattr(fd, NULL, 0)) < 0)
		return errno == ENOTSUP ? 0 : -errno;
	char *list = malloc((size_t)n + 1);
	if (!list)
		return -ENOMEM;
	if (n <= (ssize_t)sizeof small)
		memcpy(list, small, (size_t)n);
	else
		n = flistxattr(fd, list, (size_t)n);
	if (n < 0) {
		free(list);
		return errno == ERANGE ? -EAGAIN : -errno;
	}
	size_t count = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		count++;
	const char **names = malloc((count + 1) * sizeof *names);
	if (!names) {
		free(list);
		return -ENOMEM;
	}
	count = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (strcmp(list + i, skip) != 0)
			names[count++] = list + i;
	/* Insertion sort: few names. Order on disk is no part of equality. */
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	int r = 0;
	char *blob = NULL;
	size_t len = 0;
	for (size_t i = 0; i < count && r == 0; i++) {
		ssize_t vl = fgetxattr(fd, names[i], NULL, 0);
		if (vl < 0) {
			r = errno == ENODATA ? -EAGAIN : -errno;
			break;
		}
		size_t nl = strlen(names[i]) + 1;
		char *nb = realloc(blob, len + nl + 8 + (size_t)vl);
		if (!nb) {
			r = -ENOMEM;
			break;
		}
		blob = nb;
		memcpy(blob + len, names[i], nl);
		uint64_t v64 = (uint64_t)vl;
		memcpy(blob + len + nl, &v64, 8);
		ssize_t got = fgetxattr(fd, names[i], blob + len + nl + 8, (size_t)vl);
		if (got != vl) {
			r = got < 0 && errno != ERANGE ? -errno : -EAGAIN;
			break;
		}
		len += nl + 8 + (size_t)vl;
	}
	free(names);
	free(list);
	if (r < 0) {
		free(blob);
		return r;
	}
	*out = blob;
	*outlen = len;
	return 0;
}
