/* handle.c: held fds for directories, their identity, and safe opens.
 *
 * Everything here works on a held directory fd and one name. It must never
 * resolve a path string inside a tree, never follow a symlink in a tree, and
 * never hand back a re-opened directory without checking it is the same one.
 */
#define TU_INTERNAL
#include "handle.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

#define IDENT_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_MNT_ID)

static void ident_from_statx(const struct statx *sx, struct tu_ident *id)
{
	id->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	id->ino = sx->stx_ino;
	id->mode = sx->stx_mode;
	id->uid = sx->stx_uid;
	id->gid = sx->stx_gid;
	id->mnt_id = (sx->stx_mask & STATX_MNT_ID) ? sx->stx_mnt_id : 0;
	id->mount_root = (sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
			 (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
	id->immutable = (sx->stx_attributes_mask & STATX_ATTR_IMMUTABLE) &&
			(sx->stx_attributes & STATX_ATTR_IMMUTABLE);
	id->append = (sx->stx_attributes_mask & STATX_ATTR_APPEND) &&
		     (sx->stx_attributes & STATX_ATTR_APPEND);
}

int tu_ident_fd(int fd, struct tu_ident *id)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, IDENT_MASK, &sx) < 0)
		return -errno;
	ident_from_statx(&sx, id);
	return 0;
}

int tu_ident_at(int dirfd, const char *name, struct tu_ident *id)
{
	struct statx sx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, IDENT_MASK, &sx) < 0)
		return -errno;
	ident_from_statx(&sx, id);
	return 0;
}

int tu_dir_open_at(int dirfd, const char *name, struct tu_ident *id)
{
	int fd = openat(dirfd, name, TU_DIR_FLAGS);
	if (fd < 0)
		return -errno;
	int r = tu_ident_fd(fd, id);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* chmod through a held fd. fchmod() refuses O_PATH fds, so use fchmodat2
   with AT_EMPTY_PATH (Linux 6.6), else the fd's magic link in /proc, which
   names exactly the held inode and so cannot be raced. */
static int chmod_held(int fd, mode_t mode)
{
	if (syscall(__NR_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
		return -errno;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (chmod(proc, mode) < 0)
		return -errno;
	return 0;
}

int tu_dir_open_forced(int dirfd, const char *name, struct tu_ident *id, mode_t *old_mode)
{
	*old_mode = (mode_t)-1;
	int fd = tu_dir_open_at(dirfd, name, id);
	if (fd != -EACCES)
		return fd;

	/* If we can't read or search the directory, we may still own it, and
	   then we may make it readable. Hold it first, so the chmod lands on
	   the directory we looked at and not on whatever the name means next. */
	int pfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	struct tu_ident held;
	int r = tu_ident_fd(pfd, &held);
	if (r == 0 && held.uid != geteuid())
		r = -EACCES;
	if (r == 0)
		r = chmod_held(pfd, (held.mode & 07777) | S_IRWXU);
	if (r == 0) {
		fd = tu_dir_open_at(dirfd, name, id);
		if (fd >= 0 && !tu_ident_same(id, &held)) {
			close(fd);
			fd = -ESTALE;
		}
		if (fd >= 0)
			*old_mode = held.mode & 07777;
		r = fd;
	}
	close(pfd);
	return r;
}

int tu_dir_reopen_parent(int child_fd, const struct tu_ident *expect)
{
	struct tu_ident id;
	int fd = tu_dir_open_at(child_fd, "..", &id);
	if (fd < 0)
		return fd;
	if (!tu_ident_same(&id, expect)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int tu_dir_reopen_at(int dirfd, const char *name, const struct tu_ident *expect)
{
	struct tu_ident id;
	int fd = tu_dir_open_at(dirfd, name, &id);
	if (fd < 0)
		return fd;
	if (!tu_ident_same(&id, expect)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* -L only: the kernel follows NAME itself when it is a symlink (and
   whatever that link leads through), once, and we hold what it found. */
int tu_dir_open_follow(int dirfd, const char *name, struct tu_ident *id)
{
	int fd = openat(dirfd, name, TU_DIR_FLAGS & ~O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int r = tu_ident_fd(fd, id);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int tu_dir_reopen_follow(int dirfd, const char *name, const struct tu_ident *expect)
{
	struct tu_ident id;
	int fd = tu_dir_open_follow(dirfd, name, &id);
	if (fd < 0)
		return fd;
	if (!tu_ident_same(&id, expect)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int tu_dir_make_writable(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & S_IRWXU) == S_IRWXU)
		return -EPERM;	/* nothing to gain: the bits are not the problem */
	if (fchmod(fd, (st.st_mode & 07777) | S_IRWXU) < 0)
		return -errno;
	return 0;
}

bool tu_is_dir_at(int dirfd, const char *name)
{
	/* O_PATH needs no permission on the entry and has no side effects:
	   opening it cannot block on a FIFO or wake a device. */
	int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int tu_dir_access_write(int fd)
{
	/* faccessat2 asks the kernel itself, so ACLs, capabilities and
	   read-only mounts all count. */
	if (syscall(SYS_faccessat2, fd, "", W_OK | X_OK, AT_EMPTY_PATH | AT_EACCESS) == 0)
		return 0;
	return -errno;
}

int tu_open_parent(const char *path, char *buf, size_t len, const char **last)
{
	size_t n = strlen(path);
	if (n + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	const char *parent;
	if (!slash) {
		*last = buf;
		parent = ".";
	} else if (slash == buf) {
		*last = buf + 1;
		parent = "/";
		if (buf[1] == '\0')
			*last = buf;	/* the root itself: "/" */
	} else {
		*slash = '\0';
		*last = slash + 1;
		parent = buf;
	}
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

int tu_rename_noreplace(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	if (renameat2(olddirfd, oldname, newdirfd, newname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_NOREPLACE here (some FUSE and network filesystems). The
	   names we pass are fresh random ones, so a plain rename after a check
	   is safe enough: nobody else chooses our 128-bit names. */
	if (faccessat(newdirfd, newname, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (renameat(olddirfd, oldname, newdirfd, newname) < 0)
		return -errno;
	return 0;
}

int tu_rename_to_tmp(int dirfd, const char *name, int newdirfd, char *out)
{
	for (int tries = 0; tries < 4; tries++) {
		char hex[TU_TMP_HEX + 1];
		int r = tu_random_hex(hex, TU_TMP_HEX);
		if (r < 0)
			return r;
		snprintf(out, TU_TMP_NAME_MAX, "%s%s", TU_TMP_PREFIX, hex);
		r = tu_rename_noreplace(dirfd, name, newdirfd, out);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

int tu_random_hex(char *out, size_t nhex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t need = (nhex + 1) / 2;
	if (need > sizeof raw)
		return -EINVAL;
	size_t got = 0;
	while (got < need) {
		ssize_t r = getrandom(raw + got, need - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < nhex; i++)
		out[i] = digits[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf];
	out[nhex] = '\0';
	return 0;
}

bool tu_is_tmp_name(const char *name)
{
	size_t p = sizeof(TU_TMP_PREFIX) - 1;
	if (strncmp(name, TU_TMP_PREFIX, p) != 0)
		return false;
	for (size_t i = 0; i < TU_TMP_HEX; i++) {
		char c = name[p + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return name[p + TU_TMP_HEX] == '\0';
}

size_t tu_utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2; min = 0x80; c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; min = 0x800; c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4; min = 0x10000; c &= 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

double tu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- appended for dedup ---------------------------------------------------- */

#include <linux/openat2.h>
#include <stdlib.h>

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

/* The fallback of tu_open_beneath: one component at a time, each opened
   with O_NOFOLLOW relative to the last; ".." and empty components refused. */
static int open_beneath_walk(int rootfd, const char *rel, int flags, bool no_xdev)
{
	char *copy = strdup(rel);
	if (!copy)
		return -ENOMEM;
	struct tu_ident root;
	int r = no_xdev ? tu_ident_fd(rootfd, &root) : 0;
	int cur = -1;
	char *save = NULL;
	char *part = strtok_r(copy, "/", &save);
	while (r == 0 && part) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(part, "..") == 0 || strcmp(part, ".") == 0) {
			r = -EXDEV;
			break;
		}
		int at = cur >= 0 ? cur : rootfd;
		int fd = next ? openat(at, part, TU_DIR_FLAGS) :
				openat(at, part, flags | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (no_xdev) {
			struct tu_ident id;
			r = tu_ident_fd(cur, &id);
			if (r == 0 && (id.dev != root.dev || id.mnt_id != root.mnt_id))
				r = -EXDEV;
		}
		part = next;
	}
	free(copy);
	if (r < 0) {
		if (cur >= 0)
			close(cur);
		return r;
	}
	return cur;
}

int tu_open_beneath(int rootfd, const char *rel, int flags, bool no_xdev)
{
	if (rel[0] == '\0')
		rel = ".";
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   (no_xdev ? RESOLVE_NO_XDEV : 0),
	};
	long fd = syscall(__NR_openat2, rootfd, rel, &how, sizeof how);
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS && errno != EPERM)	/* EPERM: a seccomp filter */
		return -errno;
	if (strcmp(rel, ".") == 0) {
		int d = openat(rootfd, ".", flags | O_CLOEXEC);
		return d >= 0 ? d : -errno;
	}
	return open_beneath_walk(rootfd, rel, flags, no_xdev);
}

int tu_link_tmp(int fd, int dirfd, char *out)
{
	char proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	bool use_proc = false;
	for (int tries = 0; tries < 4; tries++) {
		char hex[TU_TMP_HEX + 1];
		int r = tu_random_hex(hex, TU_TMP_HEX);
		if (r < 0)
			return r;
		snprintf(out, TU_TMP_NAME_MAX, "%s%s", TU_TMP_PREFIX, hex);
		/* linkat never replaces an existing name: EEXIST, try anew. */
		if (!use_proc && linkat(fd, "", dirfd, out, AT_EMPTY_PATH) == 0)
			return 0;
		if (!use_proc && errno != ENOENT && errno != EPERM && errno != EEXIST)
			return -errno;
		if (!use_proc && errno != EEXIST)
			use_proc = true;	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH */
		if (use_proc) {
			if (linkat(AT_FDCWD, proc, dirfd, out, AT_SYMLINK_FOLLOW) == 0)
				return 0;
			if (errno != EEXIST)
				return -errno;
		}
	}
	return -EEXIST;
}

/* ---- replace an existing name -------------------------------------------------- */

/* Does NAME in DIRFD hold the inode ID (dev, ino)? */
static bool name_holds(int dirfd, const char *name, const struct tu_ident *id)
{
	struct statx sx;
	return statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_INO, &sx) == 0 &&
	       sx.stx_ino == id->ino && makedev(sx.stx_dev_major, sx.stx_dev_minor) == id->dev;
}

int tu_unlink_if(int dirfd, const char *name, dev_t dev, ino_t ino)
{
	struct statx sx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_INO | STATX_TYPE,
		  &sx) < 0)
		return -errno;
	if (sx.stx_ino != ino || makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev ||
	    !S_ISREG(sx.stx_mode))
		return -ESTALE;
	return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
}

/* Remove TMP only while it holds our inode: anything else there is kept.
   True if nothing is left under TMP. */
static bool drop_ours(int dirfd, const char *tmp, const struct tu_ident *ours)
{
	int r = tu_unlink_if(dirfd, tmp, ours->dev, ours->ino);
	return r == 0 || r == -ENOENT;
}

bool tu_replace_drop_tmp(int dirfd, const char *tmp, dev_t dev, ino_t ino)
{
	struct tu_ident ours = { .dev = dev, .ino = ino };
	return drop_ours(dirfd, tmp, &ours);
}

int tu_replace_name(int dirfd, const char *tmp, const char *name, const struct tu_ident *ours,
		    const struct tu_ident *old, bool (*accept)(void *arg), void *arg, bool *left)
{
	*left = false;
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0) {
		int err = errno;
		if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP) {
			*left = !drop_ours(dirfd, tmp, ours);
			return -err;
		}
		/* No RENAME_EXCHANGE on this filesystem (some FUSE and network
		   ones): check, then rename over. A file renamed onto NAME
		   between the two calls is lost; the man page says so. */
		int r = 0;
		if (!name_holds(dirfd, name, old) || (accept && !accept(arg)))
			r = -ESTALE;
		else if (renameat(dirfd, tmp, dirfd, name) < 0)
			r = -errno;
		if (r < 0)
			*left = !drop_ours(dirfd, tmp, ours);
		return r;
	}
	/* NAME holds ours now, and TMP whatever NAME held an instant ago: no
	   file was destroyed. If that is OLD, still as the caller wants it,
	   TMP is the last step. */
	if (name_holds(dirfd, tmp, old) && (!accept || accept(arg)))
		return unlinkat(dirfd, tmp, 0) == 0 ? 0 : -errno;
	/* Someone else's file came out (saved by rename onto NAME since it
	   was checked): exchange back, unless NAME no longer holds ours (a
	   newer file was put there since: it stays, and what came out stays
	   under TMP, for the caller to report). */
	if (name_holds(dirfd, name, ours) && renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0)
		*left = !drop_ours(dirfd, tmp, ours);
	else
		*left = true;
	return -ESTALE;
}
