/* SPDX-License-Identifier: Apache-2.0 */
/* data.c: moving the bytes of one file: reflink (FICLONE), copy_file_range,
 * sparse spans (SEEK_DATA/SEEK_HOLE), the read/write fallback, the retry of
 * transient failures, and the pool of buffers that fallback uses.
 *
 * Everything here works on two open fds and offsets. This file must never
 * open, name or look up anything in a tree, never decide what is copied
 * (the copy engine does), and never print.
 *
 * Sections: transient failures; buffers; spans and whole files; files
 * whose size says nothing; filesystems; dedupe range (FIDEDUPERANGE) and the
 * reads dedup compares and asks for ahead.
 */
#define TU_INTERNAL
#include "data.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define COPY_CALL	((off_t)1 << 30)	/* one copy_file_range call at most */
#define SEQUENTIAL_MIN	((off_t)64 << 20)	/* read ahead for files this big */

/* ---- transient failures ------------------------------------------------- */

bool tu_is_transient(int err)
{
	return err == EBUSY || err == ETXTBSY || err == EAGAIN || err == EINTR;
}

void tu_sleep_backoff(long *delay_ns)
{
	struct timespec ts = { 0, *delay_ns };
	nanosleep(&ts, NULL);
	if (*delay_ns < 100000000)
		*delay_ns *= 2;
}

/* ---- buffers ------------------------------------------------------------- */

void tu_bufpool_init(struct tu_bufpool *p)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
}

void tu_bufpool_release(struct tu_bufpool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->bufs[i]);
	free(p->bufs);
	pthread_mutex_destroy(&p->lock);
}

void *tu_buf_get(struct tu_bufpool *p)
{
	void *b = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->n)
		b = p->bufs[--p->n];
	pthread_mutex_unlock(&p->lock);
	return b ? b : malloc(TU_COPY_BUF);
}

void tu_buf_put(struct tu_bufpool *p, void *b)
{
	pthread_mutex_lock(&p->lock);
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 8;
		void **nb = realloc(p->bufs, ncap * sizeof *nb);
		if (nb) {
			p->bufs = nb;
			p->cap = ncap;
		}
	}
	if (p->n < p->cap) {
		p->bufs[p->n++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	free(b);
}

/* ---- spans and whole files ------------------------------------------------ */

static void add_bytes(struct tu_data *dc, uint64_t n)
{
	if (dc->stats)
		atomic_fetch_add(&dc->stats->bytes, n);
}

int tu_xfer_fail(struct tu_xfer *x, const char *op, bool dst, int err)
{
	x->op = op;
	x->dst = dst;
	return -err;
}

/* A data call failed with ERR. A transient failure (EINTR, EAGAIN, EBUSY,
   ETXTBSY: a FUSE or network filesystem, a busy device) is waited out and
   the call tried again at the same offset, until --timeout seconds pass
   with no byte copied: true means try again. */
/* The caller asked us to stop (a signal): the data calls end the file. */
static bool interrupted(const struct tu_xfer *x)
{
	return x->dc->interrupted && *x->dc->interrupted;
}

static bool retry_transient(struct tu_xfer *x, int err)
{
	if (!tu_is_transient(err) || interrupted(x))
		return false;
	double now = tu_now();
	if (x->since == 0) {
		x->since = now;
		x->delay = 1000000;
	}
	if (now - x->since >= x->dc->timeout) {
		x->timed_out = true;
		return false;
	}
	tu_sleep_backoff(&x->delay);
	return true;
}

static void progress(struct tu_xfer *x, uint64_t n)
{
	x->since = 0;
	add_bytes(x->dc, n);
}

/* N bytes of BUF to X->out at OFF (OFF < 0: at its file offset), transient
   failures retried. */
static int write_all(struct tu_xfer *x, const char *buf, size_t n, off_t off)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = off < 0 ? write(x->out, buf + done, n - done)
				    : pwrite(x->out, buf + done, n - done, off + (off_t)done);
		if (w < 0) {
			if (retry_transient(x, errno))
				continue;
			return tu_xfer_fail(x, "write", true, errno);
		}
		done += (size_t)w;
		progress(x, (uint64_t)w);
	}
	return 0;
}

static int copy_rw(struct tu_xfer *x, off_t off, off_t len)
{
	char *buf = tu_buf_get(&x->dc->pool);
	if (!buf)
		return tu_xfer_fail(x, "copy", false, ENOMEM);
	int r = 0;
	while (len > 0) {
		if (interrupted(x)) {
			r = tu_xfer_fail(x, "copy", true, EINTR);
			break;
		}
		size_t want = len < TU_COPY_BUF ? (size_t)len : TU_COPY_BUF;
		ssize_t n = pread(x->in, buf, want, off);
		if (n < 0) {
			if (retry_transient(x, errno))
				continue;
			r = tu_xfer_fail(x, "read", false, errno);
			break;
		}
		if (n == 0)
			break;		/* shrank: the change check sees it */
		r = write_all(x, buf, (size_t)n, off);
		if (r < 0)
			break;
		off += n;
		len -= n;
	}
	tu_buf_put(&x->dc->pool, buf);
	return r;
}

/* Failures of copy_file_range that are the copy's own, not the source's. */
static bool dst_error(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EROFS ||
	       err == EOPNOTSUPP || err == EXDEV;
}

/* Copy LEN bytes at OFF: copy_file_range (in-kernel, and shared extents
   where the filesystem offers them), else read/write. */
static int copy_range(struct tu_xfer *x, off_t off, off_t len)
{
	off_t oin = off, oout = off;
	while (len > 0) {
		if (interrupted(x))
			return tu_xfer_fail(x, "copy", true, EINTR);
		size_t want = len > COPY_CALL ? (size_t)COPY_CALL : (size_t)len;
		ssize_t n = copy_file_range(x->in, &oin, x->out, &oout, want, 0);
		if (n < 0) {
			int err = errno;
			if (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP ||
			    err == EBADF || err == ETXTBSY)
				return copy_rw(x, oin, len);
			if (retry_transient(x, err))
				continue;
			return tu_xfer_fail(x, "copy", dst_error(err), err);
		}
		if (n == 0)
			return 0;	/* shrank: the change check sees it */
		progress(x, (uint64_t)n);
		len -= n;
	}
	return 0;
}

/* The data in [OFF, END) of the source, at the same offsets in the copy.
   SPARSE: only the data extents SEEK_DATA/SEEK_HOLE find, so holes stay
   holes (the caller sets the size); AT_DATA: OFF is known to be data. */
int tu_data_copy_span(struct tu_xfer *x, off_t off, off_t end, bool sparse, bool at_data)
{
	if (!sparse)
		return copy_range(x, off, end - off);
	while (off < end) {
		off_t data = at_data ? off : lseek(x->in, off, SEEK_DATA);
		at_data = false;
		if (data < 0) {
			if (errno == ENXIO)
				return 0;		/* a hole to the end */
			return copy_range(x, off, end - off);
		}
		if (data >= end)
			return 0;
		off_t hole = lseek(x->in, data, SEEK_HOLE);
		if (hole <= data || hole > end)
			hole = end;	/* (<= data: AT_DATA was wrong after all) */
		int r = copy_range(x, data, hole - data);
		if (r < 0)
			return r;
		off = hole;
	}
	return 0;
}

/* Fewer blocks than the size needs: there are holes to keep. */
bool tu_data_is_sparse(const struct stat *st)
{
	return (off_t)st->st_blocks * 512 < st->st_size;
}

/* --reflink: share the whole file's extents. 1 when done, 0 when the data
   is to be copied, or a failure (--reflink=always). */
int tu_data_reflink(struct tu_xfer *x, const struct stat *st)
{
	struct tu_data *dc = x->dc;
	if (dc->reflink == TU_REFLINK_NEVER ||
	    (dc->reflink == TU_REFLINK_AUTO && atomic_load(&dc->no_reflink)))
		return 0;
	if (ioctl(x->out, FICLONE, x->in) == 0) {
		add_bytes(dc, (uint64_t)st->st_size);
		return 1;
	}
	int err = errno;
	if (dc->reflink == TU_REFLINK_ALWAYS)
		return tu_xfer_fail(x, "reflink", true, err);
	if (err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS)
		atomic_store(&dc->no_reflink, true);
	return 0;
}

/* Whole file data of IN (whose fstat is ST) into the empty OUT, on this
   thread: a reflink, else the data extents only, so holes stay holes. */
int tu_data_copy(struct tu_xfer *x, const struct stat *st)
{
	if (st->st_size == 0)
		return 0;
	int r = tu_data_reflink(x, st);
	if (r != 0)
		return r < 0 ? r : 0;
	if (st->st_size >= SEQUENTIAL_MIN)
		posix_fadvise(x->in, 0, 0, POSIX_FADV_SEQUENTIAL);
	bool sparse = tu_data_is_sparse(st);
	r = tu_data_copy_span(x, 0, st->st_size, sparse, false);
	if (r == 0 && sparse && ftruncate(x->out, st->st_size) < 0)
		r = tu_xfer_fail(x, "write", true, errno);
	return r;
}

/* ---- files whose size says nothing ---------------------------------------- */

/* Filesystems whose files make their content when read: their st_size is 0
   (proc), or a page whatever the content (sysfs), or anything. */
static bool is_pseudo_fs(unsigned long type)
{
	switch (type) {
	case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case DEBUGFS_MAGIC: case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC: case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/* Is the regular file FD (stat ST) to be read until EOF rather than to
   st_size? Always when st_size is 0: an empty file costs one read(), and a
   file that shows no size but has content (/proc, and -L to one) is not
   copied empty. With a size but no blocks (sysfs, or a file that is all
   hole) the filesystem decides, one fstatfs for those files only. */
bool tu_data_size_untrusted(int fd, const struct stat *st)
{
	if (st->st_size == 0)
		return true;
	if (st->st_blocks != 0)
		return false;
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && is_pseudo_fs((unsigned long)sf.f_type);
}

/* X->in read with read() until EOF, whatever its size said, into X->out,
   with the same retry of transient failures as the other data paths. The
   change check after it still applies: a file that really grew from 0
   shows a new size there, and is copied again. */
int tu_data_copy_until_eof(struct tu_xfer *x)
{
	char *buf = tu_buf_get(&x->dc->pool);
	if (!buf)
		return tu_xfer_fail(x, "copy", false, ENOMEM);
	int r = 0;
	for (;;) {
		ssize_t n = read(x->in, buf, TU_COPY_BUF);
		if (n < 0) {
			if (retry_transient(x, errno))
				continue;
			r = tu_xfer_fail(x, "read", false, errno);
			break;
		}
		if (n == 0)
			break;
		r = write_all(x, buf, (size_t)n, -1);
		if (r < 0)
			break;
	}
	tu_buf_put(&x->dc->pool, buf);
	return r;
}

/* ---- filesystems ------------------------------------------------------------ */

/* Is FD on a filesystem held in memory (tmpfs, ramfs)? */
bool tu_data_in_memory(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 &&
	       (sf.f_type == (typeof(sf.f_type))TMPFS_MAGIC ||
		sf.f_type == (typeof(sf.f_type))RAMFS_MAGIC);
}

off_t tu_data_next(int fd, off_t off, off_t size)
{
	if (off >= size)
		return size;
	off_t d = lseek(fd, off, SEEK_DATA);
	if (d >= 0)
		return d < size ? d : size;
	return errno == ENXIO ? size : off;
}

void tu_data_advise_sequential(int fd)
{
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

int tu_data_set_size(struct tu_xfer *x, off_t size)
{
	if (ftruncate(x->out, size) < 0)
		return tu_xfer_fail(x, "write", true, errno);
	return 0;
}

/* ---- dedupe range ------------------------------------------------------------ */

#define DEDUPE_CHUNK	(16 * 1024 * 1024)	/* btrfs takes at most this per call */

int tu_dedupe_range(int srcfd, int dstfd, uint64_t size, bool probe, uint64_t *shared)
{
	struct {
		struct file_dedupe_range r;
		struct file_dedupe_range_info info;
	} req;
	*shared = 0;
	if (probe) {
		memset(&req, 0, sizeof req);
		req.r.dest_count = 1;
		req.info.dest_fd = dstfd;
		if (ioctl(srcfd, FIDEDUPERANGE, &req) < 0)
			return -errno;
		return req.info.status < 0 ? req.info.status : 0;
	}
	for (uint64_t off = 0; off < size;) {
		uint64_t len = size - off < DEDUPE_CHUNK ? size - off : DEDUPE_CHUNK;
		memset(&req, 0, sizeof req);
		req.r.src_offset = off;
		req.r.src_length = len;
		req.r.dest_count = 1;
		req.info.dest_fd = dstfd;
		req.info.dest_offset = off;
		if (ioctl(srcfd, FIDEDUPERANGE, &req) < 0)
			return -errno;
		if (req.info.status == FILE_DEDUPE_RANGE_DIFFERS)
			return -EBADE;
		if (req.info.status < 0)
			return req.info.status;
		if (req.info.bytes_deduped == 0)
			return -EAGAIN;
		*shared += req.info.bytes_deduped;
		off += req.info.bytes_deduped;
	}
	return 0;
}

#define FIEMAP_MAX	64	/* extents compared at most; more: "not known" */

/* The extents of FD, up to FIEMAP_MAX, into *OUT (malloc'd). Count, or
   -errno; -E2BIG where there are more. */
static int extents_of(int fd, struct fiemap **out)
{
	size_t len = sizeof **out + FIEMAP_MAX * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, len);
	if (!fm)
		return -ENOMEM;
	fm->fm_length = FIEMAP_MAX_OFFSET;
	fm->fm_extent_count = FIEMAP_MAX;
	if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
		int err = errno;
		free(fm);
		return -err;
	}
	unsigned n = fm->fm_mapped_extents;
	if (n == FIEMAP_MAX && !(fm->fm_extents[n - 1].fe_flags & FIEMAP_EXTENT_LAST)) {
		free(fm);
		return -E2BIG;
	}
	*out = fm;
	return (int)n;
}

int tu_extents_shared(int fd1, int fd2)
{
	struct fiemap *a = NULL, *b = NULL;
	int na = extents_of(fd1, &a);
	int nb = na > 0 ? extents_of(fd2, &b) : na;
	int r = nb < 0 ? nb : na == nb;
	const unsigned unsure = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
				FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_NOT_ALIGNED |
				FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_DATA_TAIL;
	for (int i = 0; r == 1 && i < na; i++) {
		/* a and b are set whenever na = nb > 0 (clang-tidy cannot see it). */
		// NOLINTBEGIN(clang-analyzer-core.NullDereference)
		const struct fiemap_extent *x = &a->fm_extents[i], *y = &b->fm_extents[i];
		r = x->fe_logical == y->fe_logical && x->fe_physical == y->fe_physical &&
		    x->fe_length == y->fe_length && (x->fe_flags & FIEMAP_EXTENT_SHARED) &&
		    !((x->fe_flags | y->fe_flags) & unsure);
		// NOLINTEND(clang-analyzer-core.NullDereference)
	}
	free(a);
	free(b);
	return r;
}

/* ---- reads that dedup compares and asks for ahead -------------------------------- */

int tu_pread_full(int fd, char *buf, size_t len, uint64_t off, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = pread(fd, buf + *got, len - *got, (off_t)(off + *got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

ssize_t tu_pread_nowait(int fd, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	ssize_t n = preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
	return n < 0 ? -errno : n;
}

ssize_t tu_read_some(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

int tu_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len > 0) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

void tu_will_need(int fd, uint64_t len)
{
	(void)posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_WILLNEED);
}
