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

#endif
