/* SPDX-License-Identifier: Apache-2.0 */
/* data.h: moving the bytes of one file between two open fds. Private to the
 * library. The copy engine decides what is copied and where; this layer
 * only moves data (reflink, copy_file_range, sparse spans, read/write),
 * retries transient failures and pools the fallback's buffers. It never
 * opens or names anything in a tree.
 */
#ifndef TU_DATA_H
#define TU_DATA_H
#ifndef TU_INTERNAL
#error "data.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define TU_COPY_BUF	(1 << 20)	/* read/write fallback, pooled per worker */

/* ---- transient failures ------------------------------------------------- */

/* EBUSY, ETXTBSY, EAGAIN, EINTR: a FUSE or network filesystem, a busy
   device; worth waiting out. */
bool tu_is_transient(int err);
/* Sleep *DELAY_NS, then double it (up to 0.1 s). */
void tu_sleep_backoff(long *delay_ns);

/* ---- buffers ------------------------------------------------------------- */

/* Buffers of TU_COPY_BUF bytes, kept for reuse by the next file. */
struct tu_bufpool {
	pthread_mutex_t lock;
	void **bufs;
	size_t n, cap;
};

void tu_bufpool_init(struct tu_bufpool *p);
void tu_bufpool_release(struct tu_bufpool *p);
void *tu_buf_get(struct tu_bufpool *p);		/* NULL when out of memory */
void tu_buf_put(struct tu_bufpool *p, void *b);

/* ---- one run's settings ---------------------------------------------------- */

struct tu_data {
	enum tu_reflink reflink;
	double timeout;			/* transient failures, seconds */
	struct tu_stats *stats;		/* bytes counted here; may be NULL */
	struct tu_bufpool pool;
	_Atomic bool no_reflink;	/* FICLONE refused: stop asking (auto) */
	const volatile sig_atomic_t *interrupted;	/* non-zero: stop copying
							   (EINTR); may be NULL */
};

/* The data of one file going from IN to OUT, and where it failed. */
struct tu_xfer {
	struct tu_data *dc;
	int in, out;
	const char *op;		/* out: "reflink", "read", "write" or "copy" */
	bool dst;		/* out: the failure was the copy's, not the source's */
	bool timed_out;		/* out: transient failures outlasted the timeout */
	double since;		/* the first transient failure since progress */
	long delay;
};

/* Record where X failed (OP, DST) and return -ERR. */
int tu_xfer_fail(struct tu_xfer *x, const char *op, bool dst, int err);

/* ---- spans and whole files ------------------------------------------------ */

/* Share the whole file's extents (FICLONE), as the run's reflink mode says:
   1 when done, 0 when the data is to be copied, or a failure (-errno,
   --reflink=always). ST is the source's fstat. */
int tu_data_reflink(struct tu_xfer *x, const struct stat *st);

/* Whole file data of X->in (fstat ST) into the empty X->out, on this
   thread: a reflink, else the data extents only, so holes stay holes (and
   the size is set). 0 or -errno (X says where). */
int tu_data_copy(struct tu_xfer *x, const struct stat *st);

/* The data in [OFF, END) of the source, at the same offsets in the copy.
   SPARSE: only the data extents SEEK_DATA/SEEK_HOLE find, so holes stay
   holes (the caller sets the size); AT_DATA: OFF is known to be data. */
int tu_data_copy_span(struct tu_xfer *x, off_t off, off_t end, bool sparse, bool at_data);

/* Fewer blocks than the size needs: there are holes to keep. */
bool tu_data_is_sparse(const struct stat *st);

/* The first data at or after OFF in FD (of SIZE bytes); SIZE when there is
   none; OFF when the filesystem cannot say. */
off_t tu_data_next(int fd, off_t off, off_t size);

/* Tell the kernel FD will be read from start to end. */
void tu_data_advise_sequential(int fd);

/* Set X->out's size (after sparse spans). 0 or -errno. */
int tu_data_set_size(struct tu_xfer *x, off_t size);

/* ---- files whose size says nothing ---------------------------------------- */

/* Is the regular file FD (stat ST) to be read until EOF rather than to
   st_size? (/proc, sysfs, and -L to them.) */
bool tu_data_size_untrusted(int fd, const struct stat *st);
/* X->in read with read() until EOF into X->out, transient failures retried. */
int tu_data_copy_until_eof(struct tu_xfer *x);

/* ---- filesystems ------------------------------------------------------------ */

/* Is FD on a filesystem held in memory (tmpfs, ramfs)? */
bool tu_data_in_memory(int fd);

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
/* read(2) of at most LEN bytes at FD's offset, again on EINTR: the bytes
   read (0 at the end) or -errno. */
ssize_t tu_read_some(int fd, void *buf, size_t len);
/* All LEN bytes of P written at FD's offset (again on EINTR and short
   writes). 0 or -errno. */
int tu_write_all(int fd, const void *p, size_t len);
/* Ask the kernel to start reading the first LEN bytes (POSIX_FADV_WILLNEED). */
void tu_will_need(int fd, uint64_t len);

#endif
