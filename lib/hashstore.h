/* SPDX-License-Identifier: Apache-2.0 */
/* hashstore.h: hash cache records and where they live. Private to the library.
 *
 * A record says "these 16 bytes are the SpookyHash V2 of this file as it was
 * when it had this size and mtime, hashed at this time". It lives in one of
 * two places (design.md section 5, hashcache(1) for the exact bytes):
 *
 *  - the xattr user.spookyhash of the file itself: 49 bytes, one value,
 *    written with one fsetxattr on the open fd. Per inode, so hard links
 *    share it; it cannot hold ctime, because setting it changes ctime, but
 *    it holds when it was written.
 *  - the sidecar .spookyhashes of the directory: a versioned text file, one
 *    record a line, keyed by name, also holding ctime and inode. It is read
 *    whole within a bound set by its directory, changed in memory and
 *    rewritten whole through a temporary name, fsync and rename, never
 *    edited in place.
 *
 * This file knows the formats, the system calls that move records, and who
 * may be believed and who may read: a sidecar's records are trusted only as
 * its owner and mode allow (tu_sidecar_trusted), and it is written so that
 * no digest reaches a reader of the file who could not read what it
 * describes (tu_sidecar_may_publish). Whether a record still matches its
 * file is hashcache.c's to decide. It must never read file data and never
 * print.
 */
#ifndef TU_HASHSTORE_H
#define TU_HASHSTORE_H
#ifndef TU_INTERNAL
#error "hashstore.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"
#include <sys/types.h>

#define TU_XATTR_NAME    "user.spookyhash"
#define TU_SIDECAR_NAME  ".spookyhashes"

#define TU_XATTR_VERSION 2
#define TU_XATTR_LEN     49	/* version, digest, size, mtime, hashed, written */
#define TU_XATTR_V1_LEN  41	/* version 1: no written time */
/* The ctime an xattr write gives the file is at most this much past the
   record's written_ns. */
#define TU_XATTR_STAMP_SLACK (10 * 1000000LL)
#define TU_SIDECAR_VERSION 1
/* A sidecar larger than this is refused (about 8 million records). */
#define TU_SIDECAR_MAX   (1024L * 1024 * 1024)
/* What a sidecar may hold is bounded by its directory: at most
   TU_SIDECAR_PER_DIRBYTE bytes per byte of the directory's own size (a
   record line is at most about 1,100 bytes, a directory entry at least 20
   bytes on tmpfs and 12 on ext4), and never less than TU_SIDECAR_FLOOR, for
   filesystems that report no size for directories. Anything larger is
   damaged (or planted) and is not read. */
#define TU_SIDECAR_PER_DIRBYTE 64
#define TU_SIDECAR_FLOOR (4L * 1024 * 1024)

struct tu_hashrec {
	unsigned char digest[16];
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;	/* sidecar only; 0 from an xattr */
	uint64_t ino;		/* sidecar only; 0 from an xattr */
	int64_t hashed_ns;	/* when the hash was calculated (realtime) */
	int64_t written_ns;	/* xattr only: when the record was written;
				   0 from a version 1 record or a sidecar */
};

/* ---- xattr records ---------------------------------------------------------- */

/* Encode R into OUT (TU_XATTR_LEN bytes); returns TU_XATTR_LEN. */
size_t tu_xattr_encode(const struct tu_hashrec *r, unsigned char *out);
/* Decode LEN bytes at BUF (version 2, or version 1 with written_ns 0). 0,
   -EPROTO for an unknown version, -EBADMSG for a malformed value. */
int tu_xattr_decode(const void *buf, size_t len, struct tu_hashrec *r);

/* Read the record of NAME in DIRFD without opening it (getxattrat, Linux
   6.13); -ENOSYS when the kernel lacks it: open the file and use
   tu_xattr_get_fd. Else 0, -ENODATA (none), -EOPNOTSUPP (no user xattrs
   here), -EPROTO/-EBADMSG (not ours to read), or another -errno. */
int tu_xattr_get_at(int dirfd, const char *name, struct tu_hashrec *r);
int tu_xattr_get_fd(int fd, struct tu_hashrec *r);
/* Write R on the open FD with one fsetxattr (rarely two), stamped with the
   moment it is written: R->written_ns is set so that the ctime the write
   gives the file is at most written_ns + TU_XATTR_STAMP_SLACK. This
   changes ctime, never mtime. 0 or -errno. */
int tu_xattr_set_fd(int fd, struct tu_hashrec *r);
/* Write R on both FD1 and FD2 (two files of equal content: cptree
   --update's SOURCE and DEST), one stamp for both, so that the two values
   are the same bytes and each file's ctime is within the slack of it. FD1
   first; nothing on FD2 if FD1 refuses. 0 or -errno. */
int tu_xattr_set_pair(int fd1, int fd2, struct tu_hashrec *r);
/* Remove the record: 0, -ENODATA when there was none, -ENOSYS (by name,
   when the kernel lacks removexattrat), or another -errno. */
int tu_xattr_remove_at(int dirfd, const char *name);
int tu_xattr_remove_fd(int fd);

/* For tests: false makes the *_at calls answer -ENOSYS, as an old kernel
   does, so the open-the-file fallback gets exercised too. */
void tu_xattr_use_at_calls(bool use);

/* ---- sidecar records -------------------------------------------------------- */

struct tu_sidecar;

/* Told about each line that was ignored: LINE (1-based; 0 for the file as
   a whole) and why. */
typedef void tu_sidecar_warn_fn(unsigned line, const char *why, void *ctx);

/* A new empty sidecar (as for a directory that has none). NULL: no memory. */
struct tu_sidecar *tu_sidecar_new(void);
void tu_sidecar_free(struct tu_sidecar *s);

/* Parse LEN bytes of sidecar text into S (which should be empty). Bad lines
   (garbled, bad check value, a truncated last line, duplicate names: every
   record of such a name) and a bad or unknown-version header are ignored,
   reported to WARN, and mark S as needing a rewrite. */
void tu_sidecar_parse(struct tu_sidecar *s, const char *buf, size_t len,
		      tu_sidecar_warn_fn *warn, void *ctx);

/* Load DIRFD's .spookyhashes. No file is no error (an empty sidecar).
   -ELOOP/-EINVAL when the name is a symlink or not a regular file (the
   caller should then leave it alone), or another -errno from open/read.
   A file larger than its directory could need (TU_SIDECAR_PER_DIRBYTE) is
   not read: it is reported to WARN as damaged, and loads as an empty
   sidecar that will replace it. Also works out who will own the file when
   it is written (see tu_sidecar_write). */
int tu_sidecar_load(int dirfd, struct tu_sidecar **out, tu_sidecar_warn_fn *warn, void *ctx);

/* The text S would be written as; malloc'd, length in *LEN. */
char *tu_sidecar_format(const struct tu_sidecar *s, size_t *len);

/* Write S as DIRFD's .spookyhashes: a fresh TU_TMP_PREFIX name, fsync,
   rename over the old one. With no records left, remove the file instead.
   The new file is mode 0600, owned by whoever writes it, except that root
   gives it to the directory's owner; the mode of the file it replaces is
   kept only when the directory's owner wrote that file (the owner's
   choice). Loaded records are carried over only if they were vouched for
   (tu_sidecar_trusted) or the old file had the new one's owner and was not
   writable by others: a forged record never gains trust by a rewrite.
   0 or -errno (nothing changed). */
int tu_sidecar_write(int dirfd, struct tu_sidecar *s);

/* Records, by name, whether trusted or not (see tu_sidecar_trusted). The
   pointers stay valid until S changes. */
const struct tu_hashrec *tu_sidecar_find(struct tu_sidecar *s, const char *name);
/* The next record (after PREV, or the first when PREV is NULL) for inode
   INO under any name: hard links in one directory. */
const struct tu_hashrec *tu_sidecar_find_ino(struct tu_sidecar *s, uint64_t ino,
					     const struct tu_hashrec *prev);
/* Whether R (found in S) may be believed for a file owned by FILE_UID.
   Records put in this session are; a loaded one only if the file was
   owned by root or by FILE_UID and not writable by group or others (whoever
   can write a sidecar can forge its records: its check values are not
   keyed). A record trusted here is vouched for, and kept by a rewrite. The
   first refusal also sets the flag tu_sidecar_take_distrust() returns. */
bool tu_sidecar_trusted(struct tu_sidecar *s, const struct tu_hashrec *r, uid_t file_uid);
/* True once, after a record of S was refused by tu_sidecar_trusted(). */
bool tu_sidecar_take_distrust(struct tu_sidecar *s);
/* Whether a record of a file owned by FUID:FGID with mode FMODE may go in S:
   every user who can read S as it will be written (tu_sidecar_write: its
   owner, and its group or everyone by its mode) can read the file. A digest
   of a short secret gives the secret away. */
bool tu_sidecar_may_publish(const struct tu_sidecar *s, uid_t fuid, gid_t fgid, mode_t fmode);
/* Add or replace NAME's record. 0 or -ENOMEM. */
int tu_sidecar_put(struct tu_sidecar *s, const char *name, const struct tu_hashrec *r);
/* Drop NAME's record; true if there was one. */
bool tu_sidecar_del(struct tu_sidecar *s, const char *name);
/* Mark NAME as present in the directory (for tu_sidecar_prune). */
void tu_sidecar_seen(struct tu_sidecar *s, const char *name);
/* Drop every record not marked seen: names no longer in the directory, or
   no longer regular files. Returns how many went. */
size_t tu_sidecar_prune(struct tu_sidecar *s);

size_t tu_sidecar_count(const struct tu_sidecar *s);
bool tu_sidecar_dirty(const struct tu_sidecar *s);
/* A file was there when loaded. */
bool tu_sidecar_exists(const struct tu_sidecar *s);

/* Escape NAME for a sidecar line into OUT (4 * strlen + 1 bytes): bytes
   0x00-0x20, 0x7f, '\\' and bytes not part of valid UTF-8 become \xHH. */
void tu_sidecar_escape(const char *name, char *out);

#include "hashcache.h"	/* until its users include it themselves */

#endif
