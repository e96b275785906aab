/* SPDX-License-Identifier: Apache-2.0 */
/* hashcache.h: the hash cache's calls for other library modules (dedup),
 * beyond the public ones in treeutils.h. Private to the library.
 *
 * hashcache.c defines these; hashstore.h is only the record formats and the
 * system calls that move records. Nothing here may print or exit.
 */
#ifndef TU_HASHCACHE_H
#define TU_HASHCACHE_H
#ifndef TU_INTERNAL
#error "hashcache.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"
#include "hashstore.h"

/* ---- records kept back for a sidecar ------------------------------------------ */

/* For dedup, whose workers hash files of many directories at once while a
   sidecar may be changed by one thread at a time: as tu_hashcache_get_fd()
   without a hashdir, except that a record due for a sidecar (store=file,
   or auto where the xattr is refused) is not stored but copied to
   *PENDING, with *HAS_PENDING set, for the caller to hand to
   tu_hashdir_put() one directory at a time. With no directory known, root
   writes no xattr record on a file with more than one link (hashcache(1),
   SECURITY). */
int tu_hashcache_get_fd_defer(struct tu_hashcache *hc, int fd, struct tu_hash_info *out,
			      struct tu_hashrec *pending, bool *has_pending);
/* Put R as NAME's record in HD's sidecar (unless no_store), to be written
   by tu_hashdir_close(), which also reports what could not be stored. 0 or
   -errno (counted as not stored). */
int tu_hashdir_put(struct tu_hashdir *hd, const char *name, const struct tu_hashrec *r);

/* ---- a hook for tests --------------------------------------------------------- */

/* Called after each buffer of file data is hashed, with the fd and the bytes
   so far. NULL (always, outside tests). Lets a test change a file while it
   is being read, deterministically. */
#ifdef TU_TEST_HOOKS
extern void (*tu_hash_read_hook)(int fd, uint64_t done);
#else
/* The shipped library has no hook (the unit tests link a variant built with
   TU_TEST_HOOKS): the call is dead code. */
static void (*const tu_hash_read_hook)(int fd, uint64_t done) = 0;
#endif

#endif
