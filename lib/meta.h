/* SPDX-License-Identifier: Apache-2.0 */
/* meta.h: read and apply metadata: owner, mode, times, xattrs, ACLs, file
 * flags. Private to the library.
 *
 * Reading goes through libarchive (archive_read_disk_entry_from_file), the
 * model of what a file's metadata is. Applying is ours and fd-relative:
 * libarchive's archive_write_disk works on paths and changes the working
 * directory, which a parallel, race-safe walk cannot allow.
 *
 * Typical use, for a regular file copied into NEW (an open fd):
 *
 *	struct tu_meta m;
 *	tu_meta_read_fd(r, src_fd, &st, &m);
 *	tu_meta_apply_fd(new, &m, TU_META_ALL & ~TU_META_FLAGS, fail, ctx);
 *	... link NEW into place ...
 *	tu_meta_apply_fd(new, &m, TU_META_FLAGS, fail, ctx);	// last: +i, +a
 *	tu_meta_free(&m);
 */
#ifndef TU_META_H
#define TU_META_H
#ifndef TU_INTERNAL
#error "meta.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"
#include <sys/stat.h>

struct archive;
struct archive_entry;

/* What to apply. */
enum {
	TU_META_OWNER = 1u << 0,
	TU_META_XATTR = 1u << 1,	/* every namespace we can write */
	TU_META_ACL   = 1u << 2,	/* POSIX access, and default on directories */
	TU_META_MODE  = 1u << 3,	/* all 07777 bits */
	TU_META_TIMES = 1u << 4,	/* atime and mtime, ns */
	TU_META_FLAGS = 1u << 5,	/* chattr flags (FS_IOC_SETFLAGS) */
	TU_META_ALL   = 0x3f,
	/* Not a piece but a promise: the entry was made in a directory
	   without a default ACL (tu_meta_dir_inherits() false), so it
	   inherited no ACL, and an ACL the source lacks needs no removal
	   (one call fewer per entry). */
	TU_META_UNINHERITED = 1u << 6,
};

/* The metadata of one entry. */
struct tu_meta {
	struct stat st;
	struct archive_entry *ae;	/* xattrs, ACLs, flags; NULL if not read */
	unsigned long fflags;		/* FS_IOC_GETFLAGS bits, 0 if none */
};

/* A pool of libarchive readers, one per concurrent caller; thread-safe. */
struct tu_meta_reader;
int tu_meta_reader_new(struct tu_meta_reader **r);
void tu_meta_reader_free(struct tu_meta_reader *r);

/* Read the metadata of the open regular file or directory FD, whose fstat
   is ST. 0 or -errno. */
int tu_meta_read_fd(struct tu_meta_reader *r, int fd, const struct stat *st, struct tu_meta *m);
/* Read the metadata of the entry held by the O_PATH fd HELD (see
   tu_entry_hold_at: a symlink, FIFO, socket or device, nothing we open),
   whose fstat is ST: its xattrs, and its POSIX ACLs (access, and default
   for a directory), from that inode and no other. Not through libarchive,
   which reads such an entry by path only; the entry is the same model.
   0 or -errno. */
int tu_meta_read_held(int held, const struct stat *st, struct tu_meta *m);
/* The same for NAME in DIRFD, whose lstat was ST: held first, and refused
   with -ESTALE unless it is still the entry ST describes (device, inode,
   type). R is unused (kept for the callers). 0 or -errno. */
int tu_meta_read_at(struct tu_meta_reader *r, int dirfd, const char *name,
		    const struct stat *st, struct tu_meta *m);
void tu_meta_free(struct tu_meta *m);

/* One piece that could not be applied: OP says which ("set owner", "set
   xattr", ...), DETAIL names e.g. the xattr, or is NULL. */
typedef void tu_meta_fail_fn(const char *op, int err, const char *detail, void *ctx);

/* Apply WHAT of M to the open file or directory FD, in the order that keeps
   every piece (see meta.c). Returns 0, or the first failure as -errno after
   calling FAIL for each. */
int tu_meta_apply_fd(int fd, const struct tu_meta *m, unsigned what,
		     tu_meta_fail_fn *fail, void *ctx);
/* The same for NAME in DIRFD, never following it (symlinks, specials). */
int tu_meta_apply_at(int dirfd, const char *name, const struct tu_meta *m, unsigned what,
		     tu_meta_fail_fn *fail, void *ctx);

/* The same for the symlink or special file held by the O_PATH fd HELD (see
   tu_entry_open_made): what was made, never what a name means later. */
int tu_meta_apply_held(int held, const struct tu_meta *m, unsigned what,
		       tu_meta_fail_fn *fail, void *ctx);

/* The mode a new entry copied without -a gets in the directory DIRFD, as cp
   -r and the kernel give it: the permission bits of SRC_MODE (a full st_mode,
   so a directory is known) under UMASK_BITS, or, where DIRFD has a default
   ACL, under that ACL's user::, mask:: (or group::) and other:: instead (the
   umask is then not used: POSIX); no setuid, setgid or sticky bit, except
   S_ISGID on a directory made under a setgid directory, which the kernel
   gives and cp keeps. Make the entry with mode 0600 (0700), then set this
   mode: its inherited ACL then ends as the kernel would have made it.
   0 or -errno. */
int tu_meta_new_mode(int dirfd, mode_t src_mode, mode_t umask_bits, mode_t *out);

/* Does an entry made in the directory DIRFD inherit an ACL from it? True
   when it has a default ACL, or when that cannot be told. One call; ask it
   once per directory, and only of a directory no one else may give a
   default ACL meanwhile (ours: only its owner can). */
bool tu_meta_dir_inherits(int dirfd);

/* Flags that forbid changes to an entry: apply them last. */
bool tu_meta_flags_lock(unsigned long fflags);

/* ---- one xattr, raw (the hash cache's record) ------------------------------------ */

/* The value of XNAME on NAME in DIRFD, never followed and without opening
   it (getxattrat(2), Linux 6.13: -ENOSYS before), or on the open FD, into
   BUF (LEN bytes): its length or -errno (-ENODATA: none; -EOPNOTSUPP: the
   filesystem has no such xattrs; -ERANGE: longer than LEN). */
ssize_t tu_meta_xattr_get_at(int dirfd, const char *name, const char *xname, void *buf,
			     size_t len);
ssize_t tu_meta_xattr_get_fd(int fd, const char *xname, void *buf, size_t len);
/* Set XNAME on the open FD to V (LEN bytes). 0 or -errno. */
int tu_meta_xattr_set_fd(int fd, const char *xname, const void *v, size_t len);
/* Remove XNAME from NAME in DIRFD (removexattrat(2), never followed;
   -ENOSYS before Linux 6.13) or from the open FD. 0 or -errno. */
int tu_meta_xattr_remove_at(int dirfd, const char *name, const char *xname);
int tu_meta_xattr_remove_fd(int fd, const char *xname);

/* ---- the xattr blob that dedup compares ---------------------------------------- */

/* The extended attributes of the open file FD but SKIP (dedup's hash
   record), sorted by name, as one blob: "name\0" + 8-byte length + value,
   each; *OUT is malloc'd, or NULL with *OUTLEN 0 when there are none (or
   the filesystem has none). Two files have equal xattrs when their blobs
   are equal. 0, -EAGAIN (they changed while read), or -errno. */
int tu_xattr_blob(int fd, const char *skip, char **out, size_t *outlen);

#endif
