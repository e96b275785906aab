/* SPDX-License-Identifier: Apache-2.0 */
/* handle.h: held fds for directories and files, their identity, safe opens.
 * Private to the library. Every system call on a tree lives behind this file
 * or meta.h, so a port touches few files.
 *
 * Rules kept here: a directory is always opened by one name relative to its
 * parent's fd with O_NOFOLLOW; a re-open checks (dev, ino) and refuses a
 * different directory; nothing here takes a path string into a tree.
 */
#ifndef TU_HANDLE_H
#define TU_HANDLE_H
#ifndef TU_INTERNAL
#error "handle.h is private to libtreeutils; include treeutils.h"
#endif

#include "names.h"
#include "treeutils.h"
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>

/* What we know of an open directory or file. */
struct tu_ident {
	dev_t dev;
	ino_t ino;
	uint64_t mnt_id;	/* 0 when the kernel cannot say */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	bool mount_root;	/* the root of a mount (bind mounts too) */
	bool immutable;		/* chattr +i, when the filesystem tells */
	bool append;		/* chattr +a, when the filesystem tells */
	bool has_btime;		/* the filesystem tells the birth time */
	struct timespec btime;	/* birth (creation) time, when it does */
	struct timespec ctime;	/* inode change time */
	dev_t rdev;		/* what a device node is */
};

static inline bool tu_ident_same(const struct tu_ident *a, const struct tu_ident *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/* Order by (device, inode), for qsort comparators: -1, 0 or 1. */
static inline int tu_devino_cmp(dev_t da, uint64_t ia, dev_t db, uint64_t ib)
{
	if (da != db)
		return da < db ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/* Flags every directory open uses. O_NONBLOCK keeps a FIFO swapped in by a
   racer from blocking us (O_DIRECTORY refuses it first anyway). */
#define TU_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)

/* Identity of an open fd (statx on the fd itself). */
int tu_ident_fd(int fd, struct tu_ident *id);
/* Identity of NAME in DIRFD, not following a symlink. */
int tu_ident_at(int dirfd, const char *name, struct tu_ident *id);

/* Open the directory NAME in DIRFD that this process has just made
   (mkdirat with a mode that gives nothing to group and others), and refuse
   it with -ESTALE unless it still looks so: owned by OWNER, nothing for
   group or others in its mode, and (SINCE not NULL) born at SINCE or later
   where the filesystem tells birth times. So a directory someone renamed
   onto NAME after mkdirat (theirs, or an older one of root's) is not taken
   for ours. SINCE should be a birth time from the same filesystem (that of
   the DEST root we made), so that a server's clock cannot disagree. Fill
   ID. Returns the fd or -errno. */
int tu_dir_open_made(int dirfd, const char *name, uid_t owner, const struct timespec *since,
		     struct tu_ident *id);

/* The same for a symlink, FIFO, socket or device node NAME this process has
   just made (symlinkat, mknodat) as MODE's type (and RDEV for a device):
   held by an O_PATH fd, never followed, and refused with -ESTALE unless it
   is still of that type (and device), owned by OWNER and (SINCE not NULL)
   born at SINCE or later where the filesystem tells. Metadata is then
   applied through the fd (tu_meta_apply_held), never by name. Fill ID.
   Returns the O_PATH fd or -errno. */
int tu_entry_open_made(int dirfd, const char *name, mode_t mode, dev_t rdev, uid_t owner,
		       const struct timespec *since, struct tu_ident *id);

/* Open directory NAME in DIRFD; fill ID. Returns the fd or -errno; -ELOOP or
   -ENOTDIR when NAME is not (or no longer) a directory. */
int tu_dir_open_at(int dirfd, const char *name, struct tu_ident *id);

/* As tu_dir_open_at, but if the directory cannot be read or searched and we
   own it, add u+rwx through a held O_PATH fd (never by path) and open it.
   *OLD_MODE gets the mode it had before, or (mode_t)-1 if unchanged. */
int tu_dir_open_forced(int dirfd, const char *name, struct tu_ident *id, mode_t *old_mode);

/* Re-open the parent of the open directory CHILD_FD through "..", and
   refuse with -ESTALE unless it is EXPECT. */
int tu_dir_reopen_parent(int child_fd, const struct tu_ident *expect);
/* Re-open NAME in DIRFD and refuse with -ESTALE unless it is EXPECT. */
int tu_dir_reopen_at(int dirfd, const char *name, const struct tu_ident *expect);

/* As tu_dir_open_at and tu_dir_reopen_at, but NAME itself is followed if it
   is a symlink: for -L (dereference) only, never by default. */
int tu_dir_open_follow(int dirfd, const char *name, struct tu_ident *id);
int tu_dir_reopen_follow(int dirfd, const char *name, const struct tu_ident *expect);

/* If we own the open directory FD, add u+rwx to its mode. Returns 0 if it
   changed, -EPERM if not ours, -errno on failure. */
int tu_dir_make_writable(int fd);

/* True if NAME in DIRFD is a directory now (used for DT_UNKNOWN). */
bool tu_is_dir_at(int dirfd, const char *name);

/* Can this process delete entries in the open directory FD (write and
   search permission, honouring ACLs and capabilities)? 0 or -errno. */
int tu_dir_access_write(int fd);

/* Open the directory that holds the last component of PATH, following
   symlinks in the leading part as any tool does. *LAST points into a copy
   stored in BUF (size LEN) with trailing slashes removed. Returns the fd or
   -errno. *LAST is set even when the open fails (but not on
   -ENAMETOOLONG). The last component may be "/", "." or ".."; callers
   check. */
int tu_open_parent(const char *path, char *buf, size_t len, const char **last);

/* Operands, as the user wrote them: the directory PATH (a DIR operand
   written with a trailing slash) or the file PATH (one to read, as md5sum
   opens it), every symlink on the way followed as any tool does. Never for
   an entry inside a tree. The fd or -errno. */
int tu_dir_open_path(const char *path);
int tu_file_open_path(const char *path);

/* renameat2 with RENAME_NOREPLACE, falling back to link-free checks when the
   filesystem lacks it. */
int tu_rename_noreplace(int olddirfd, const char *oldname, int newdirfd, const char *newname);

/* Rename NAME in DIRFD to a fresh TU_TMP_PREFIX name in NEWDIRFD; the new name
   is written to OUT (TU_TMP_NAME_MAX bytes). 0 or -errno. */
int tu_rename_to_tmp(int dirfd, const char *name, int newdirfd, char *out);

/* Give the inode held by FD (any fd, O_PATH too) the new name NAME in DIRFD,
   never replacing an existing one (-EEXIST): linkat AT_EMPTY_PATH, or the
   fd's /proc magic link where that needs a capability we lack; the answer
   is remembered in *NO_EMPTY_PATH (shared by the callers of one run). Links
   the inode held, never a name that may have changed. 0 or -errno. */
int tu_link_held(int fd, int dirfd, const char *name, _Atomic bool *no_empty_path);

/* ---- temporary files and directories --------------------------------------- */

/* What a filesystem refused once, remembered for the rest of a run so each
   entry asks the kernel only what can work. Zeroed at the start. */
struct tu_fs_caps {
	_Atomic bool no_tmpfile;	/* O_TMPFILE refused: named temporaries */
	_Atomic bool no_empty_path;	/* linkat AT_EMPTY_PATH refused: /proc */
};

/* A new, empty regular file in DIRFD under a fresh TU_TMP_PREFIX name
   (O_EXCL, O_NOFOLLOW, mode 0600), written to OUT (TU_TMP_NAME_MAX bytes).
   Returns the fd (write only) or -errno. */
int tu_file_create_tmp(int dirfd, char *out);

/* A new directory in DIRFD with MODE under a fresh TU_TMP_PREFIX name,
   written to OUT (TU_TMP_NAME_MAX bytes). 0 or -errno. */
int tu_dir_create_tmp(int dirfd, mode_t mode, char *out);

/* A new, empty file in DFD that has no final name yet: unnamed (O_TMPFILE,
   TMP set to "") or under a temporary name (in TMP, TU_TMP_NAME_MAX bytes).
   Mode 0600 from its creation, so it is never more open than that. Returns
   the fd (write only) or -errno. */
int tu_tmpfile_create(struct tu_fs_caps *caps, int dfd, char *tmp);
/* Give the complete file FD (temporary name TMP, or unnamed) its final NAME
   in DFD, never replacing anything (-EEXIST). 0 or -errno. */
int tu_tmpfile_place(struct tu_fs_caps *caps, int fd, int dfd, const char *tmp,
		     const char *name);
/* Throw away a file never placed: its temporary name, if it has one. */
void tu_tmpfile_discard(int dfd, const char *tmp);

/* ---- where a directory lies ------------------------------------------------- */

/* Is the directory FD, or any directory above it (through ".."), the one SID
   names? 1, 0, or -errno. A directory we may not search ends the climb. */
int tu_dir_is_below(int fd, const struct tu_ident *sid);
/* Does the directory FD hold nothing but "." and ".."? 1, 0, or -errno. */
int tu_dir_is_empty(int fd);
/* The canonical path of the open FD, from the kernel (/proc/self/fd);
   malloc'd, NULL when unknown or longer than PATH_MAX. For link targets
   that are strings only, never to open. */
char *tu_fd_path(int fd);
/* The target of the symlink NAME in DIRFD, malloc'd in *OUT (HINT: its
   expected length, or 0). 0 or -errno. */
int tu_read_link_at(int dirfd, const char *name, size_t hint, char **out);

/* ---- entries: one name in a held directory ------------------------------------ */

/* Each of these acts on NAME in the held DIRFD only, never follows a
   symlink at NAME unless FOLLOW says so (-L), never replaces an existing
   name, and answers 0 (or a fd) or -errno. */

/* Open the file NAME read-only, non-blocking, never as our terminal. */
int tu_file_open_at(int dirfd, const char *name, bool follow);
/* The same (never followed) without updating its atime (O_NOATIME: ours,
   or CAP_FOWNER; -EPERM otherwise). */
int tu_file_open_noatime_at(int dirfd, const char *name);
/* Read the open file FD from its start again. 0 or -errno. */
int tu_file_rewind(int fd);
/* Hold the entry NAME (any type; a symlink itself, never followed) by an
   O_PATH fd and fill ST with what that fd holds: its metadata is then read
   from the inode stat'ed (tu_meta_read_held), never from what the name
   means later. Returns the fd or -errno. */
int tu_entry_hold_at(int dirfd, const char *name, struct stat *st);
int tu_stat_fd(int fd, struct stat *st);
int tu_stat_at(int dirfd, const char *name, struct stat *st, bool follow);
/* statx of NAME in DIRFD (never followed) or of the open FD, asking for
   MASK, synced as stat is, for callers that keep statx's fields. */
int tu_statx_at(int dirfd, const char *name, unsigned mask, struct statx *sx);
int tu_statx_fd(int fd, unsigned mask, struct statx *sx);
int tu_chmod_fd(int fd, mode_t mode);
int tu_chown_fd(int fd, uid_t uid, gid_t gid);
/* The data and metadata of the open FD on disk. */
int tu_sync_fd(int fd);
/* Remove the non-directory NAME in DIRFD (unlinkat, never followed). */
int tu_unlink_at(int dirfd, const char *name);
int tu_make_dir_at(int dirfd, const char *name, mode_t mode);
int tu_make_node_at(int dirfd, const char *name, mode_t mode, dev_t rdev);
int tu_make_symlink_at(const char *target, int dirfd, const char *name);
/* A new name NEWNAME in NEWDIRFD for OLDNAME in OLDDIRFD (not followed). */
int tu_link_at(int olddirfd, const char *oldname, int newdirfd, const char *newname);
/* Read the open directory FD from its start again. 0 or -errno. */
int tu_dir_rewind(int fd);
/* renameat: NEWNAME is replaced if it exists (an empty directory, for
   --atomic onto an existing empty DEST). */
int tu_rename_at(int olddirfd, const char *oldname, int newdirfd, const char *newname);

/* ---- appended for dedup ---------------------------------------------------- */

/* Open REL, a relative path below the directory held by ROOTFD ("" is that
   directory itself), with FLAGS (O_NOFOLLOW is added). No symlink anywhere in
   REL is followed and nothing outside ROOTFD is reached: openat2 with
   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or where the kernel lacks it one
   O_NOFOLLOW openat per component. NO_XDEV also refuses to cross a mount.
   The caller still checks (dev, ino) of what it gets. Returns the fd or
   -errno (-ELOOP for a symlink, -EXDEV for a mount crossed with NO_XDEV). */
int tu_open_beneath(int rootfd, const char *rel, int flags, bool no_xdev);

/* Make a new hard link to the open regular file FD in DIRFD under a fresh
   TU_TMP_PREFIX name, written to OUT (TU_TMP_NAME_MAX bytes). It links the
   inode held, never a name that may have changed: linkat AT_EMPTY_PATH, or
   /proc/self/fd where that needs a capability we lack. Never replaces an
   existing name. 0 or -errno (-EMLINK when the file has too many links). */
int tu_link_tmp(int fd, int dirfd, char *out);

/* ---- replace an existing name ---------------------------------------------- */

/* Put TMP, a name in DIRFD holding our inode OURS, in the place of NAME in
   DIRFD, if NAME holds OLD (dev, ino) at that instant and ACCEPT(ARG) (if
   not NULL) still accepts it then. Atomic, destroying nothing else: NAME
   and TMP are exchanged (RENAME_EXCHANGE), what came out is checked, and
   if it is not OLD it is exchanged back; TMP is removed only while it holds
   OURS or, at the end, the accepted OLD. Returns 0 (NAME holds OURS, OLD's
   name is gone), -ESTALE (NAME left as found), or -errno. *LEFT: TMP is
   still there, holding something the caller must report (a file saved onto
   NAME during the exchange). Where the filesystem lacks RENAME_EXCHANGE, it
   checks and then renames over, and a file saved in between is lost. */
int tu_replace_name(int dirfd, const char *tmp, const char *name, const struct tu_ident *ours,
		    const struct tu_ident *old, bool (*accept)(void *arg), void *arg, bool *left);
/* Exchange the names A and B in DIRFD (RENAME_EXCHANGE), whatever their
   types: an update puts a new entry in the place of a directory, which is
   removed only then. 0 or -errno (-EINVAL/-EOPNOTSUPP: the filesystem
   cannot). */
int tu_exchange_at(int dirfd, const char *a, const char *b);
/* Remove NAME in DIRFD only if it is a regular file with inode (DEV, INO):
   0, -ESTALE (something else is there, kept), -ENOENT, or -errno. There is
   a window between the check and the unlink; callers use it on names that
   hold a redundant link of theirs, which nobody else has reason to touch. */
int tu_unlink_if(int dirfd, const char *name, dev_t dev, ino_t ino);
/* Remove TMP in DIRFD if it still holds (DEV, INO), our temporary link.
   Anything else under that name is kept: false then. */
bool tu_replace_drop_tmp(int dirfd, const char *tmp, dev_t dev, ino_t ino);

/* ---- place a directory we made ------------------------------------------------ */

/* Give the directory TMP in DIRFD, which holds OURS, the name NAME in DIRFD:
   a new name (OLD NULL: NAME must not exist, -EEXIST), or in place of the
   empty directory OLD found there (exchanged, then OLD removed; -ENOTEMPTY
   if it was filled since). What the rename moved is checked: if it was not
   OURS (someone exchanged TMP meanwhile), it is moved back under TMP and
   -ESTALE returned; so NAME never ends up holding something we did not
   make, and nothing is destroyed but the empty OLD. 0 or -errno. */
int tu_dir_place(int dirfd, const char *tmp, const char *name, const struct tu_ident *ours,
		 const struct tu_ident *old);
/* The name (at most LEN bytes with its NUL, into OUT) under which DIRFD
   holds the entry ID now, found by reading DIRFD: 0, -ENOENT, or -errno.
   For finding what we made after someone renamed it. */
int tu_dir_find_ident(int dirfd, const struct tu_ident *id, char *out, size_t len);

#endif
