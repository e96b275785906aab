/* data.h: moving and sharing file data between open files (data.c).
 * Private to the library.
 */
#ifndef TU_DATA_H
#define TU_DATA_H
#ifndef TU_INTERNAL
#error "data.h is private to libtreeutils; include treeutils.h"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- dedupe range ------------------------------------------------------------ */

/* Share the extents of the first SIZE bytes of SRCFD with DSTFD
   (FIDEDUPERANGE, in pieces a filesystem takes), where the kernel finds
   them equal. Returns 0 (*SHARED: bytes shared), -EBADE if the contents
   differ, -EOPNOTSUPP (and kin: -EINVAL, -ENOTTY, -EXDEV) where the
   filesystem cannot, -EAGAIN if the kernel shared nothing.
   PROBE: ask with a length of 0, which the kernel checks as it would a
   real request (the mount writable, DSTFD ours to dedupe, the filesystem
   able) and then answers without touching either file, not even ctime. */
int tu_dedupe_range(int srcfd, int dstfd, uint64_t size, bool probe, uint64_t *shared);

/* Do FD1 and FD2 already share all their extents (FIEMAP: the same
   physical extents, marked shared, for the same ranges)? 1, 0 (no, or not
   known: more than 64 extents, delayed allocation, inline data), or -errno
   (-EOPNOTSUPP where the filesystem has no FIEMAP). */
int tu_extents_shared(int fd1, int fd2);

/* ---- reads that dedup compares and asks for ahead -------------------------------- */

/* Read LEN bytes at OFF into BUF, retrying short reads and EINTR; *GOT is
   less than LEN only at the end of the file. 0 or -errno. */
int tu_pread_full(int fd, char *buf, size_t len, uint64_t off, size_t *got);
/* Read up to LEN bytes at offset 0 only if the page cache has them
   (RWF_NOWAIT): the bytes read, -EAGAIN (they would wait), -EOPNOTSUPP
   (reads here never wait, e.g. tmpfs), or -errno. */
ssize_t tu_pread_nowait(int fd, void *buf, size_t len);
/* Ask the kernel to start reading the first LEN bytes (POSIX_FADV_WILLNEED). */
void tu_will_need(int fd, uint64_t len);

#endif
