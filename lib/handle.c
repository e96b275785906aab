/* SPDX-License-Identifier: Apache-2.0 */
/* handle.c: held fds for directories, their identity, and safe opens.
 *
 * Everything here works on a held directory fd and one name. It must never
 * resolve a path string inside a tree, never follow a symlink in a tree, and
 * never hand back a re-opened directory without checking it is the same one.
 */
#define TU_INTERNAL
#include "handle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define PROC_FD_MAX 64

#define IDENT_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_MNT_ID | \
		    STATX_CTIME | STATX_BTIME)

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
	id->has_btime = (sx->stx_mask & STATX_BTIME) != 0;
	id->btime = (struct timespec){ sx->stx_btime.tv_sec, sx->stx_btime.tv_nsec };
	id->ctime = (struct timespec){ sx->stx_ctime.tv_sec, sx->stx_ctime.tv_nsec };
	id->rdev = makedev(sx->stx_rdev_major, sx->stx_rdev_minor);
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

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int tu_dir_open_made(int dirfd, const char *name, uid_t owner, const struct timespec *since,
		     struct tu_ident *id)
{
	int fd = tu_dir_open_at(dirfd, name, id);
	if (fd < 0)
		return fd;
	bool ours = id->uid == owner && (id->mode & 077) == 0 &&
		    !(since && id->has_btime && ts_before(&id->btime, since));
	if (!ours) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int tu_entry_open_made(int dirfd, const char *name, mode_t mode, dev_t rdev, uid_t owner,
		       const struct timespec *since, struct tu_ident *id)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = tu_ident_fd(fd, id);
	if (r < 0) {
		close(fd);
		return r;
	}
	bool dev = S_ISCHR(mode) || S_ISBLK(mode);
	bool ours = (id->mode & S_IFMT) == (mode & S_IFMT) && id->uid == owner &&
		    (!dev || id->rdev == rdev) &&
		    !(since && id->has_btime && ts_before(&id->btime, since));
	if (!ours) {
		close(fd);
		return -ESTALE;
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
	char proc[PROC_FD_MAX];
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

int tu_dir_open_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int tu_file_open_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
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

struct rename_tmp {
	int dirfd, newdirfd;
	const char *name;
};

static int rename_tmp_make(const char *tmp, void *ctx)
{
	const struct rename_tmp *t = ctx;
	return tu_rename_noreplace(t->dirfd, t->name, t->newdirfd, tmp);
}

int tu_rename_to_tmp(int dirfd, const char *name, int newdirfd, char *out)
{
	struct rename_tmp t = { dirfd, newdirfd, name };
	return tu_tmp_try(out, rename_tmp_make, &t);
}

int tu_link_held(int fd, int dirfd, const char *name, _Atomic bool *no_empty_path)
{
	/* AT_EMPTY_PATH links the held inode with no path lookup at all, but
	   needs CAP_DAC_READ_SEARCH (ENOENT without it); /proc otherwise,
	   whose magic link also names exactly the held inode. */
	if (!atomic_load(no_empty_path)) {
		if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT && errno != EPERM && errno != EINVAL)
			return -errno;
		atomic_store(no_empty_path, true);
	}
	char proc[PROC_FD_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
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

struct link_tmp {
	int fd, dirfd;
	_Atomic bool no_empty_path;
};

static int link_tmp_make(const char *tmp, void *ctx)
{
	struct link_tmp *t = ctx;
	/* linkat never replaces an existing name: EEXIST, try anew. */
	return tu_link_held(t->fd, t->dirfd, tmp, &t->no_empty_path);
}

int tu_link_tmp(int fd, int dirfd, char *out)
{
	struct link_tmp t = { .fd = fd, .dirfd = dirfd };
	return tu_tmp_try(out, link_tmp_make, &t);
}

/* ---- temporary files and directories --------------------------------------- */

static int file_tmp_make(const char *tmp, void *ctx)
{
	int dirfd = *(const int *)ctx;
	int fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	return fd >= 0 ? fd : -errno;
}

int tu_file_create_tmp(int dirfd, char *out)
{
	return tu_tmp_try(out, file_tmp_make, &dirfd);
}

struct dir_tmp {
	int dirfd;
	mode_t mode;
};

static int dir_tmp_make(const char *tmp, void *ctx)
{
	const struct dir_tmp *t = ctx;
	return mkdirat(t->dirfd, tmp, t->mode) == 0 ? 0 : -errno;
}

int tu_dir_create_tmp(int dirfd, mode_t mode, char *out)
{
	struct dir_tmp t = { dirfd, mode };
	return tu_tmp_try(out, dir_tmp_make, &t);
}

int tu_tmpfile_create(struct tu_fs_caps *caps, int dfd, char *tmp)
{
	tmp[0] = '\0';
	if (!atomic_load(&caps->no_tmpfile)) {
		int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
			return -errno;
		atomic_store(&caps->no_tmpfile, true);
	}
	return tu_file_create_tmp(dfd, tmp);
}

int tu_tmpfile_place(struct tu_fs_caps *caps, int fd, int dfd, const char *tmp, const char *name)
{
	if (tmp[0])
		return tu_rename_noreplace(dfd, tmp, dfd, name);
	return tu_link_held(fd, dfd, name, &caps->no_empty_path);
}

void tu_tmpfile_discard(int dfd, const char *tmp)
{
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
}

/* ---- where a directory lies ------------------------------------------------- */

int tu_dir_is_below(int fd, const struct tu_ident *sid)
{
	int cur = dup(fd);
	if (cur < 0)
		return -errno;
	for (int depth = 0; depth < 65536; depth++) {
		struct tu_ident id, up;
		int r = tu_ident_fd(cur, &id);
		if (r < 0) {
			close(cur);
			return r;
		}
		if (tu_ident_same(&id, sid)) {
			close(cur);
			return 1;
		}
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int err = errno;
		close(cur);
		/* A directory we may not search ends the climb: SID, which the
		   caller could reach, cannot lie above it on this path. */
		if (next < 0)
			return err == EACCES ? 0 : -err;
		r = tu_ident_fd(next, &up);
		if (r < 0 || tu_ident_same(&up, &id)) {
			close(next);
			return r < 0 ? r : 0;
		}
		cur = next;
	}
	close(cur);
	return 0;
}

int tu_dir_is_empty(int fd)
{
	DIR *dir = fdopendir(dup(fd));
	if (!dir)
		return -errno;
	int r = 1;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 0;
			break;
		}
	}
	closedir(dir);
	return r;
}

char *tu_fd_path(int fd)
{
	char proc[PROC_FD_MAX], buf[PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, buf, sizeof buf - 1);
	if (n <= 0 || (size_t)n >= sizeof buf - 1 || buf[0] != '/')
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

int tu_read_link_at(int dirfd, const char *name, size_t hint, char **out)
{
	size_t cap = hint ? hint + 1 : 256;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		ssize_t n = readlinkat(dirfd, name, buf, cap);
		if (n < 0) {
			int err = errno;
			free(buf);
			return -err;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			*out = buf;
			return 0;
		}
		free(buf);
		cap *= 2;
	}
}

/* ---- entries: one name in a held directory ------------------------------------ */

int tu_file_open_at(int dirfd, const char *name, bool follow)
{
	/* O_NONBLOCK: a FIFO swapped in cannot block us; O_NOCTTY: a terminal
	   swapped in does not become ours. */
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
					 (follow ? 0 : O_NOFOLLOW));
	return fd >= 0 ? fd : -errno;
}

int tu_file_open_noatime_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW |
					 O_NOATIME);
	return fd >= 0 ? fd : -errno;
}

int tu_file_rewind(int fd)
{
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
}

int tu_entry_hold_at(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int tu_stat_fd(int fd, struct stat *st)
{
	return fstat(fd, st) == 0 ? 0 : -errno;
}

int tu_stat_at(int dirfd, const char *name, struct stat *st, bool follow)
{
	return fstatat(dirfd, name, st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int tu_statx_at(int dirfd, const char *name, unsigned mask, struct statx *sx)
{
	return statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, mask, sx) == 0
		       ? 0
		       : -errno;
}

int tu_statx_fd(int fd, unsigned mask, struct statx *sx)
{
	return statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, mask, sx) == 0 ? 0 : -errno;
}

int tu_chmod_fd(int fd, mode_t mode)
{
	return fchmod(fd, mode) == 0 ? 0 : -errno;
}

int tu_chown_fd(int fd, uid_t uid, gid_t gid)
{
	return fchown(fd, uid, gid) == 0 ? 0 : -errno;
}

int tu_sync_fd(int fd)
{
	return fsync(fd) == 0 ? 0 : -errno;
}

int tu_unlink_at(int dirfd, const char *name)
{
	return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
}

int tu_make_dir_at(int dirfd, const char *name, mode_t mode)
{
	return mkdirat(dirfd, name, mode) == 0 ? 0 : -errno;
}

int tu_make_node_at(int dirfd, const char *name, mode_t mode, dev_t rdev)
{
	return mknodat(dirfd, name, mode, rdev) == 0 ? 0 : -errno;
}

int tu_make_symlink_at(const char *target, int dirfd, const char *name)
{
	return symlinkat(target, dirfd, name) == 0 ? 0 : -errno;
}

int tu_link_at(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	return linkat(olddirfd, oldname, newdirfd, newname, 0) == 0 ? 0 : -errno;
}

int tu_rename_at(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	return renameat(olddirfd, oldname, newdirfd, newname) == 0 ? 0 : -errno;
}

int tu_dir_rewind(int fd)
{
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
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

/* ---- place a directory we made ------------------------------------------------ */

int tu_dir_place(int dirfd, const char *tmp, const char *name, const struct tu_ident *ours,
		 const struct tu_ident *old)
{
	if (!old) {
		int r = tu_rename_noreplace(dirfd, tmp, dirfd, name);
		if (r < 0)
			return r;
		if (name_holds(dirfd, name, ours))
			return 0;
		/* Someone exchanged TMP before the rename: what moved is
		   not ours, and goes back where it was found. */
		tu_rename_noreplace(dirfd, name, dirfd, tmp);
		return -ESTALE;
	}
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0) {
		int err = errno;
		if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP)
			return -err;
		/* No RENAME_EXCHANGE on this filesystem: rename over, which
		   the kernel does only while NAME is an empty directory. */
		if (!name_holds(dirfd, name, old))
			return -ESTALE;
		if (renameat(dirfd, tmp, dirfd, name) < 0)
			return -errno;
		if (name_holds(dirfd, name, ours))
			return 0;
		tu_rename_noreplace(dirfd, name, dirfd, tmp);
		return -ESTALE;
	}
	/* Nothing was destroyed: NAME holds what TMP held, and TMP what NAME
	   held. Done if that is ours in place of the empty OLD, which goes;
	   anything else (TMP or NAME exchanged by someone, or OLD filled
	   since it was checked) is exchanged back, both names as found. */
	int r = -ESTALE;
	if (name_holds(dirfd, name, ours) && name_holds(dirfd, tmp, old)) {
		if (unlinkat(dirfd, tmp, AT_REMOVEDIR) == 0)
			return 0;
		r = -errno;
	}
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0 && r == -ESTALE)
		r = -errno;
	return r;
}

int tu_dir_find_ident(int dirfd, const struct tu_ident *id, char *out, size_t len)
{
	/* A descriptor of its own: DIRFD's offset is not ours to move. */
	int fd = openat(dirfd, ".", TU_DIR_FLAGS);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int err = errno;
		close(fd);
		return -err;
	}
	int r = -ENOENT;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_ino != id->ino || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 || !name_holds(dirfd, de->d_name, id))
			continue;
		if (strlen(de->d_name) >= len) {
			r = -ENAMETOOLONG;
			break;
		}
		strcpy(out, de->d_name);
		r = 0;
		break;
	}
	closedir(dir);
	return r;
}

int tu_exchange_at(int dirfd, const char *a, const char *b)
{
	return renameat2(dirfd, a, dirfd, b, RENAME_EXCHANGE) == 0 ? 0 : -errno;
}
