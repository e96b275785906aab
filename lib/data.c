/* data.c: moving and sharing file data between open files.
 *
 * Everything here works on open fds the caller has checked; it never opens a
 * name, never follows a symlink, and never prints.
 */
#define TU_INTERNAL
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

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
		const struct fiemap_extent *x = &a->fm_extents[i], *y = &b->fm_extents[i];
		r = x->fe_logical == y->fe_logical && x->fe_physical == y->fe_physical &&
		    x->fe_length == y->fe_length && (x->fe_flags & FIEMAP_EXTENT_SHARED) &&
		    !((x->fe_flags | y->fe_flags) & unsure);
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

void tu_will_need(int fd, uint64_t len)
{
	(void)posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_WILLNEED);
}
