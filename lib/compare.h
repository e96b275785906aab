/* SPDX-License-Identifier: Apache-2.0 */
/* compare.h: what differs between an entry of SOURCE and the entry of the
 * same name in DEST, for cptree --update (and clone's "is it unchanged").
 * Private to the library.
 *
 * The answer is the TU_CHG_* mask that itemize.h prints, and whether the
 * data must be written again or only metadata applied:
 *  - always: the type (TU_CHG_TYPE: the entry is made anew); a regular
 *    file's size and mtime (ns); a directory's, symlink's and special
 *    file's mtime; a symlink's target and a device's numbers
 *    (TU_CHG_CONTENT: made anew);
 *  - with TU_CMP_OWNER, TU_CMP_GROUP, TU_CMP_PERMS (mode & 07777, never for
 *    symlinks), TU_CMP_XATTR (every namespace the caller can read but
 *    "system.", which holds ACLs), TU_CMP_ACL (the access ACL beyond what
 *    the mode says, and a directory's default ACL), TU_CMP_FLAGS (chattr
 *    flags a user may set): those too. TU_CMP_ARCHIVE is all of them (-a).
 * A regular file's data counts as changed when its size or mtime differs;
 * under --checksum the caller, having compared content (through the hash
 * cache), says so with tu_compare_content(), and then an mtime difference
 * alone is only metadata. Hard-link structure is the caller's (the hard-link
 * map sees groups; one pair of entries does not).
 *
 * Entries come as a held fd on the entry itself (O_PATH is enough, and is
 * what symlinks and specials have) and the caller's statx of it, with at
 * least STATX_TYPE, STATX_MODE, STATX_SIZE and STATX_MTIME (and STATX_UID,
 * STATX_GID for owner and group). This file never opens a name: xattrs and
 * ACLs are read through the fd, or for an O_PATH fd through "/proc/self/fd/N"
 * (getxattr there reaches the held inode, a symlink included, and follows
 * nothing further; it costs about 6 times a read through a plain fd, so
 * pass a readable fd where one is held), the symlink
 * target with readlinkat(fd, ""), and flags through the fd, or for an
 * O_PATH fd on a regular file or directory an O_RDONLY|O_NONBLOCK open of
 * that same /proc link. It never changes anything and never prints. lib/meta.c's
 * readers go through libarchive, which cannot read an O_PATH fd and builds
 * a whole archive entry per call; hence the small readers here.
 *
 *	struct tu_cmp c;
 *	struct tu_cmp_entry s = { sfd, &sstx }, d = { dfd, &dstx };
 *	if (tu_compare(&s, &d, TU_CMP_ARCHIVE, &c) == 0) {
 *		if (checksum && !(c.changed & (TU_CHG_TYPE | TU_CHG_SIZE)) && S_ISREG(...))
 *			tu_compare_content(&c, same_hash);
 *		if (!c.changed) skip; else if (c.data) rewrite; else apply metadata;
 *	}
 */
#ifndef TU_COMPARE_H
#define TU_COMPARE_H
#ifndef TU_INTERNAL
#error "compare.h is private to libtreeutils; include treeutils.h"
#endif

#include "itemize.h"

#include <stdbool.h>
#include <sys/stat.h>

/* What to compare beyond type, size, mtime, symlink target and device
   numbers. */
enum {
	TU_CMP_OWNER = 1u << 0,
	TU_CMP_GROUP = 1u << 1,
	TU_CMP_PERMS = 1u << 2,
	TU_CMP_XATTR = 1u << 3,
	TU_CMP_ACL   = 1u << 4,
	TU_CMP_FLAGS = 1u << 5,
	TU_CMP_ARCHIVE = 0x3f,
};

/* One side: a held fd on the entry and its statx. */
struct tu_cmp_entry {
	int fd;
	const struct statx *stx;
};

struct tu_cmp {
	unsigned changed;	/* TU_CHG_* */
	bool data;		/* data (or the entry itself) must be made again;
				   false: only metadata differs, if anything */
};

/* Compare SRC with DST (NULL: DEST has no such entry, which is TU_CHG_NEW).
   0, -EINVAL when a statx lacks a field the comparison needs, or -errno
   from reading an xattr, ACL, symlink target or flags; C is then
   unchanged. */
int tu_compare(const struct tu_cmp_entry *src, const struct tu_cmp_entry *dst, unsigned what,
	       struct tu_cmp *c);

/* The caller compared a regular file's content (sizes equal): SAME or not.
   Content that differs is TU_CHG_CONTENT and data; equal content makes an
   mtime difference only metadata. */
void tu_compare_content(struct tu_cmp *c, bool same);

#endif
