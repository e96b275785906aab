/* cptree.c: hierarchy copy, as walker callbacks.
 *
 * The walker holds the source directories; this file holds the matching
 * destination directories in its own fd cache (struct dnode), bounded like
 * the walker's: a closed one is re-opened by name from its parent, or
 * through ".." of a child on the way back up, and always checked against the
 * identity it had when made.
 *
 *  - entry() of a directory creates the destination directory (mode 0700,
 *    so we can fill it whatever the source's mode) and descends;
 *  - entry() of anything else copies it: a file is written under O_TMPFILE
 *    (or a TU_TMP_PREFIX name) and linked (renamed) into place only when
 *    its data and metadata are complete, so no partial file ever carries a
 *    final name;
 *  - leave() of a directory applies its metadata, once all of its contents
 *    are in place: its times would otherwise move, and a 0500 or immutable
 *    directory would refuse its contents.
 *
 * Link farms make the directories and link every other entry: --link=hard
 * to the source inode, --link=symbolic by a symlink whose target is the
 * source entry's path (relative from where the link sits, or absolute;
 * both from the canonical paths of the two roots, which are strings only).
 *
 * fix_symlinks: a copied symlink whose target, read lexically, lies inside
 * SOURCE is made to point at the same place inside DEST (fix_target()).
 * Nothing is resolved on disk for that, in either tree.
 *
 * Dereference: with TU_DEREF_SYMBOLIC a symlink is stat'ed through (the
 * kernel follows that one name) and copied as what it leads to; a
 * directory is walked through TU_WALK_FOLLOW, whose fd the walker holds.
 * A symlink that leads to a directory on the path from SOURCE to it is a
 * loop: reported, not copied. TU_DEREF_HARD skips the inode map below.
 *
 * With archive, a file whose source has more than one link is looked up in
 * an inode map (source dev, ino -> its first copy's path below DEST); later
 * names become hard links to that copy. Memory: one record per multiply
 * linked inode; no fd is kept for it (open_first_copy()).
 *
 * Dry run: the same callbacks take the same decisions (what -L leads to,
 * loops, hard links, link targets) and leave out every write; DEST is
 * never opened, so a dry run lists exactly what a real one would make.
 *
 * This file must never follow a symlink in either tree, never read anything
 * outside SOURCE nor write anything outside DEST, and never act on a path
 * string inside a tree where a held directory fd and one name will do. The
 * one path used, to find the first copy of a hard-link group, is resolved
 * beneath DEST's held fd with no symlinks (in pieces shorter than PATH_MAX)
 * and checked by identity.
 */
#define TU_INTERNAL
#include "meta.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define COPY_BUF	(1 << 20)	/* read/write fallback, pooled per worker */
#define COPY_CALL	((off_t)1 << 30)	/* one copy_file_range call at most */
#define PIECE		((off_t)64 << 20)	/* a large file's unit of parallel copy */
#define SPLIT_MIN	(2 * PIECE)	/* data that makes a file large */
#define PROC_FD_MAX	64

/* A destination directory, from its parent's entry() to its own leave(). */
struct dnode {
	struct dnode *parent;
	struct dnode *lru_prev, *lru_next;	/* open and unpinned */
	bool in_lru;
	int fd;				/* -1 while closed (budget) */
	int pins;
	struct tu_ident id;
	bool have_meta;
	struct tu_meta meta;		/* the source directory's, for leave() */
	int bigs;			/* its large files in flight (qlock) */
	char name[];
};

enum { LINK_BUSY = 1, LINK_DONE, LINK_FAILED };

/* The first copy of a multiply linked source inode. */
struct link_ent {
	dev_t dev;
	ino_t ino;
	int state;
	char *rel;			/* its path below DEST */
	struct tu_ident dst;		/* what that path must still be */
	unsigned long lock_flags;	/* +i/+a, set after the walk: a locked
					   inode refuses new links */
};

struct cp {
	const struct tu_cptree_opts *o;
	char *src_display;
	char *dst_display;
	size_t src_display_len;
	struct dnode *root;
	struct tu_meta_reader *mr;
	mode_t umask;
	bool is_root;

	pthread_mutex_t dlock;		/* the destination fd cache */
	struct dnode *lru_head, *lru_tail;
	int dopen, dbudget;

	pthread_mutex_t llock;		/* the inode map */
	pthread_cond_t lcond;
	struct link_ent **ltab;
	size_t lcap, lcount;

	pthread_mutex_t block;		/* the buffer pool */
	void **bufs;
	size_t nbufs, capbufs;

	pthread_mutex_t qlock;		/* large files copied in pieces */
	pthread_cond_t qcond;		/* a piece posted, a file done */
	struct big *bq;			/* files with pieces to hand out */
	int bigs, bigs_max;		/* files in flight, and at most */
	int file_threads;		/* threads on one file's pieces, at most */
	bool split;			/* more than one worker: pieces */

	pthread_mutex_t out_lock;	/* the caller's callbacks, one at a time */
	_Atomic int failed;		/* first failure, positive errno */
	_Atomic bool no_tmpfile;	/* O_TMPFILE refused here: use names */
	_Atomic bool no_reflink;	/* FICLONE refused: stop asking (auto) */
	_Atomic bool no_empty_path;	/* linkat AT_EMPTY_PATH refused */
	int dst_root_fd;

	/* Link targets (symbolic farm, fix_symlinks): strings, never opened. */
	char *src_abs;			/* SOURCE's canonical path */
	char *src_given_abs;		/* SOURCE as given, made absolute; NULL
					   when it has ".." (not lexical) */
	char *dst_abs;			/* DEST's final canonical path */
	char *rel_prefix;		/* SOURCE seen from DEST, e.g. "../s" */
};

static bool is_transient(int err)
{
	return err == EBUSY || err == ETXTBSY || err == EAGAIN || err == EINTR;
}

static void sleep_backoff(long *delay_ns)
{
	struct timespec ts = { 0, *delay_ns };
	nanosleep(&ts, NULL);
	if (*delay_ns < 100000000)
		*delay_ns *= 2;
}

/* ---- messages ------------------------------------------------------------ */

static void note_failure(struct cp *cp, int err)
{
	int expected = 0;
	atomic_compare_exchange_strong(&cp->failed, &expected, err);
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->errors, 1);
}

static void call_locked(struct cp *cp, tu_error_fn *fn, const char *path, const char *op,
			int err, const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path, .detail = detail };
	tu_call_locked(fn, cp->o->ctx, &cp->out_lock, &e);
}

/* Where an entry is, for messages only: the walker's directory and a name,
   or (for a SOURCE that is no directory) the roots themselves. */
struct where {
	struct tu_walk_dir *d;
	const char *name;
};

/* The entry's path below the roots, malloc'd ("." for the roots). */
static char *rel_of(struct cp *cp, const struct where *w)
{
	if (!w->d)
		return strdup(".");
	if (!w->name && tu_walk_dir_depth(w->d) == 0)
		return strdup(".");
	char *p = tu_walk_path(w->d, w->name);
	if (!p)
		return NULL;
	size_t skip = cp->src_display_len + 1;
	memmove(p, p + skip, strlen(p + skip) + 1);
	return p;
}

static char *join(const char *root, const char *rel)
{
	char *p;
	if (strcmp(rel, ".") == 0)
		return strdup(root);
	if (asprintf(&p, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/", rel) < 0)
		return NULL;
	return p;
}

/* A failure reading the source (SRC true) or writing the copy. */
static void report(struct cp *cp, const struct where *w, bool src, const char *op, int err,
		   const char *detail)
{
	note_failure(cp, err);
	char *rel = rel_of(cp, w);
	char *path = rel ? join(src ? cp->src_display : cp->dst_display, rel) : NULL;
	call_locked(cp, cp->o->error, path ? path : "?", op, err, detail);
	free(path);
	free(rel);
}

static void warn(struct cp *cp, const struct where *w, const char *op, int err,
		 const char *detail)
{
	if (!cp->o->warning)
		return;
	char *rel = rel_of(cp, w);
	char *path = rel ? join(cp->dst_display, rel) : NULL;
	call_locked(cp, cp->o->warning, path ? path : "?", op, err, detail);
	free(path);
	free(rel);
}

/* One entry made: counted, and passed to the caller's copied(). OLD is the
   source's target of a symlink that fix_symlinks rewrote ('r'), else NULL. */
static void item_full(struct cp *cp, const struct where *w, char type, char how,
		      const char *target, const char *old, uint64_t size)
{
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->entries, 1);
	if (!cp->o->copied)
		return;
	char *rel = rel_of(cp, w);
	char *src = rel ? join(cp->src_display, rel) : NULL;
	char *dst = rel ? join(cp->dst_display, rel) : NULL;
	if (src && dst) {
		struct tu_copy_item it = { .path = rel, .src = src, .dst = dst, .type = type,
					   .how = how, .target = target, .old_target = old,
					   .size = size };
		pthread_mutex_lock(&cp->out_lock);
		cp->o->copied(&it, cp->o->ctx);
		pthread_mutex_unlock(&cp->out_lock);
	}
	free(src);
	free(dst);
	free(rel);
}

static void item(struct cp *cp, const struct where *w, char type, char how, const char *target,
		 uint64_t size)
{
	item_full(cp, w, type, how, target, NULL, size);
}

static void item_rewritten(struct cp *cp, const struct where *w, const char *target,
			   const char *old)
{
	item_full(cp, w, 'L', 'r', target, old, 0);
}

/* Metadata that could not be applied: the owner, when we are not root, is
   a warning (cp -a keeps quiet about it; we say it once per entry);
   everything else is a failure. */
struct meta_fail_ctx {
	struct cp *cp;
	const struct where *w;
};

static void meta_fail(const char *op, int err, const char *detail, void *ctx)
{
	struct meta_fail_ctx *m = ctx;
	if (!m->cp->is_root && err == EPERM && strcmp(op, "set owner") == 0) {
		warn(m->cp, m->w, op, err, "kept ours; setuid and setgid bits dropped");
		return;
	}
	report(m->cp, m->w, false, op, err, detail);
}

/* ---- the destination fd cache (all under dlock) -------------------------- */

static void lru_remove(struct cp *cp, struct dnode *n)
{
	if (!n->in_lru)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		cp->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		cp->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
	n->in_lru = false;
}

static void lru_append(struct cp *cp, struct dnode *n)
{
	n->lru_prev = cp->lru_tail;
	n->lru_next = NULL;
	if (cp->lru_tail)
		cp->lru_tail->lru_next = n;
	else
		cp->lru_head = n;
	cp->lru_tail = n;
	n->in_lru = true;
}

static void make_room_locked(struct cp *cp)
{
	while (cp->dopen >= cp->dbudget && cp->lru_head) {
		struct dnode *v = cp->lru_head;
		lru_remove(cp, v);
		close(v->fd);
		v->fd = -1;
		cp->dopen--;
	}
}

/* Re-open N and its closed ancestors, top-down, each from its (pinned)
   parent by name, each checked against its identity. The root never
   closes. */
static int reopen_locked(struct cp *cp, struct dnode *n)
{
	while (n->fd < 0) {
		struct dnode *a = n;
		while (a->parent->fd < 0)
			a = a->parent;
		struct dnode *p = a->parent;
		p->pins++;
		lru_remove(cp, p);
		make_room_locked(cp);
		int fd = tu_dir_reopen_at(p->fd, a->name, &a->id);
		if (--p->pins == 0)
			lru_append(cp, p);
		if (fd < 0)
			return fd;
		a->fd = fd;
		cp->dopen++;
		if (a != n)
			lru_append(cp, a);
	}
	return 0;
}

static int dn_pin(struct cp *cp, struct dnode *n)
{
	pthread_mutex_lock(&cp->dlock);
	int r = reopen_locked(cp, n);
	if (r == 0) {
		n->pins++;
		lru_remove(cp, n);
		r = n->fd;
	}
	pthread_mutex_unlock(&cp->dlock);
	return r;
}

static void dn_unpin(struct cp *cp, struct dnode *n)
{
	pthread_mutex_lock(&cp->dlock);
	if (--n->pins == 0 && n->fd >= 0)
		lru_append(cp, n);
	pthread_mutex_unlock(&cp->dlock);
}

/* Open the new directory NAME in PARENT as a pinned node. */
static int dn_open_child(struct cp *cp, struct dnode *parent, const char *name,
			 struct dnode **out)
{
	size_t len = strlen(name);
	struct dnode *n = calloc(1, sizeof *n + len + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n->name, name, len + 1);
	n->parent = parent;
	n->fd = -1;
	int pfd = dn_pin(cp, parent);
	if (pfd < 0) {
		free(n);
		return pfd;
	}
	pthread_mutex_lock(&cp->dlock);
	make_room_locked(cp);
	cp->dopen++;			/* reserved for n */
	pthread_mutex_unlock(&cp->dlock);
	int fd = tu_dir_open_at(pfd, name, &n->id);
	dn_unpin(cp, parent);
	pthread_mutex_lock(&cp->dlock);
	if (fd < 0)
		cp->dopen--;
	pthread_mutex_unlock(&cp->dlock);
	if (fd < 0) {
		free(n);
		return fd;
	}
	n->fd = fd;
	n->pins = 1;
	*out = n;
	return 0;
}

/* On the way back up: if N's parent was closed, re-open it through N's
   "..", one open however deep, while N is still searchable (its own mode,
   applied next, may forbid that). */
static void dn_prepare_parent(struct cp *cp, struct dnode *n)
{
	pthread_mutex_lock(&cp->dlock);
	struct dnode *p = n->parent;
	if (p && p->fd < 0 && n->fd >= 0) {
		make_room_locked(cp);
		int fd = tu_dir_reopen_parent(n->fd, &p->id);
		if (fd >= 0) {
			p->fd = fd;
			cp->dopen++;
			if (p->pins == 0)
				lru_append(cp, p);
		}
	}
	pthread_mutex_unlock(&cp->dlock);
}

static void dn_free(struct cp *cp, struct dnode *n)
{
	pthread_mutex_lock(&cp->dlock);
	lru_remove(cp, n);
	if (n->fd >= 0 && n != cp->root) {
		close(n->fd);
		cp->dopen--;
	}
	pthread_mutex_unlock(&cp->dlock);
	if (n->have_meta)
		tu_meta_free(&n->meta);
	if (n != cp->root)
		free(n);
}

/* ---- buffers ------------------------------------------------------------- */

static void *buf_get(struct cp *cp)
{
	void *b = NULL;
	pthread_mutex_lock(&cp->block);
	if (cp->nbufs)
		b = cp->bufs[--cp->nbufs];
	pthread_mutex_unlock(&cp->block);
	return b ? b : malloc(COPY_BUF);
}

static void buf_put(struct cp *cp, void *b)
{
	pthread_mutex_lock(&cp->block);
	if (cp->nbufs == cp->capbufs) {
		size_t ncap = cp->capbufs ? cp->capbufs * 2 : 8;
		void **nb = realloc(cp->bufs, ncap * sizeof *nb);
		if (nb) {
			cp->bufs = nb;
			cp->capbufs = ncap;
		}
	}
	if (cp->nbufs < cp->capbufs) {
		cp->bufs[cp->nbufs++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&cp->block);
	free(b);
}

static struct dnode *slot_dn(struct tu_walk_dir *d);

/* ---- file data ----------------------------------------------------------- */

static void add_bytes(struct cp *cp, uint64_t n)
{
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->bytes, n);
}

/* The data of one file going from IN to OUT, and where it failed. */
struct xfer {
	struct cp *cp;
	int in, out;
	const char *op;		/* out: "reflink", "read", "write" or "copy" */
	bool dst;		/* out: the failure was the copy's, not the source's */
	bool timed_out;		/* out: transient failures outlasted --timeout */
	double since;		/* the first transient failure since progress */
	long delay;
};

static int xfer_fail(struct xfer *x, const char *op, bool dst, int err)
{
	x->op = op;
	x->dst = dst;
	return -err;
}

/* A data call failed with ERR. A transient failure (EINTR, EAGAIN, EBUSY,
   ETXTBSY: a FUSE or network filesystem, a busy device) is waited out and
   the call tried again at the same offset, until --timeout seconds pass
   with no byte copied: true means try again. */
static bool retry_transient(struct xfer *x, int err)
{
	if (!is_transient(err))
		return false;
	double now = tu_now();
	if (x->since == 0) {
		x->since = now;
		x->delay = 1000000;
	}
	if (now - x->since >= x->cp->o->timeout) {
		x->timed_out = true;
		return false;
	}
	sleep_backoff(&x->delay);
	return true;
}

static void progress(struct xfer *x, uint64_t n)
{
	x->since = 0;
	add_bytes(x->cp, n);
}

/* N bytes of BUF to X->out at OFF (OFF < 0: at its file offset), transient
   failures retried. */
static int write_all(struct xfer *x, const char *buf, size_t n, off_t off)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = off < 0 ? write(x->out, buf + done, n - done)
				    : pwrite(x->out, buf + done, n - done, off + (off_t)done);
		if (w < 0) {
			if (retry_transient(x, errno))
				continue;
			return xfer_fail(x, "write", true, errno);
		}
		done += (size_t)w;
		progress(x, (uint64_t)w);
	}
	return 0;
}

static int copy_rw(struct xfer *x, off_t off, off_t len)
{
	struct cp *cp = x->cp;
	char *buf = buf_get(cp);
	if (!buf)
		return xfer_fail(x, "copy", false, ENOMEM);
	int r = 0;
	while (len > 0) {
		size_t want = len < COPY_BUF ? (size_t)len : COPY_BUF;
		ssize_t n = pread(x->in, buf, want, off);
		if (n < 0) {
			if (retry_transient(x, errno))
				continue;
			r = xfer_fail(x, "read", false, errno);
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
	buf_put(cp, buf);
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
static int copy_range(struct xfer *x, off_t off, off_t len)
{
	off_t oin = off, oout = off;
	while (len > 0) {
		size_t want = len > COPY_CALL ? (size_t)COPY_CALL : (size_t)len;
		ssize_t n = copy_file_range(x->in, &oin, x->out, &oout, want, 0);
		if (n < 0) {
			int err = errno;
			if (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP ||
			    err == EBADF || err == ETXTBSY)
				return copy_rw(x, oin, len);
			if (retry_transient(x, err))
				continue;
			return xfer_fail(x, "copy", dst_error(err), err);
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
static int copy_span(struct xfer *x, off_t off, off_t end, bool sparse, bool at_data)
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
static bool is_sparse(const struct stat *st)
{
	return (off_t)st->st_blocks * 512 < st->st_size;
}

/* --reflink: share the whole file's extents. 1 when done, 0 when the data
   is to be copied, or a failure (--reflink=always). */
static int try_reflink(struct xfer *x, const struct stat *st)
{
	struct cp *cp = x->cp;
	const struct tu_cptree_opts *o = cp->o;
	if (o->reflink == TU_REFLINK_NEVER ||
	    (o->reflink == TU_REFLINK_AUTO && atomic_load(&cp->no_reflink)))
		return 0;
	if (ioctl(x->out, FICLONE, x->in) == 0) {
		add_bytes(cp, (uint64_t)st->st_size);
		return 1;
	}
	int err = errno;
	if (o->reflink == TU_REFLINK_ALWAYS)
		return xfer_fail(x, "reflink", true, err);
	if (err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS)
		atomic_store(&cp->no_reflink, true);
	return 0;
}

/* Whole file data of IN (whose fstat is ST) into the empty OUT, on this
   thread: a reflink, else the data extents only, so holes stay holes. */
static int copy_data(struct xfer *x, const struct stat *st)
{
	if (st->st_size == 0)
		return 0;
	int r = try_reflink(x, st);
	if (r != 0)
		return r < 0 ? r : 0;
	if (st->st_size >= PIECE)
		posix_fadvise(x->in, 0, 0, POSIX_FADV_SEQUENTIAL);
	bool sparse = is_sparse(st);
	r = copy_span(x, 0, st->st_size, sparse, false);
	if (r == 0 && sparse && ftruncate(x->out, st->st_size) < 0)
		r = xfer_fail(x, "write", true, errno);
	return r;
}

static bool same_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* ---- placing a new file -------------------------------------------------- */

/* A new, empty, unnamed (O_TMPFILE) or temporarily named file in DFD.
   TMP gets the name, or "" for O_TMPFILE. */
static int tmp_create(struct cp *cp, int dfd, char *tmp)
{
	tmp[0] = '\0';
	if (!atomic_load(&cp->no_tmpfile)) {
		int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
			return -errno;
		atomic_store(&cp->no_tmpfile, true);
	}
	for (int tries = 0; tries < 4; tries++) {
		char hex[TU_TMP_HEX + 1];
		int r = tu_random_hex(hex, TU_TMP_HEX);
		if (r < 0)
			return r;
		snprintf(tmp, TU_TMP_NAME_MAX, "%s%s", TU_TMP_PREFIX, hex);
		int fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Give the complete file FD (temporary name TMP, or unnamed) its final
   NAME in DFD, never replacing anything. */
static int tmp_place(struct cp *cp, int fd, int dfd, const char *tmp, const char *name)
{
	if (tmp[0])
		return tu_rename_noreplace(dfd, tmp, dfd, name);
	/* AT_EMPTY_PATH links the held inode with no path lookup at all, but
	   needs CAP_DAC_READ_SEARCH (ENOENT without it); /proc otherwise. */
	if (!atomic_load(&cp->no_empty_path)) {
		if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT && errno != EPERM && errno != EINVAL)
			return -errno;
		atomic_store(&cp->no_empty_path, true);
	}
	char proc[PROC_FD_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

static void tmp_discard(int dfd, const char *tmp)
{
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
}

/* ---- link targets: lexical paths ----------------------------------------- */

/* The components of PATH, split in place in the copy *BUF (freed by the
   caller): "" and "." dropped, ".." resolved lexically. An absolute PATH
   stays at "/" on "..", a relative one keeps its leading "..". Returns the
   count, or -ENOMEM. */
static int split_lexical(const char *path, char **buf, char ***out)
{
	*buf = strdup(path);
	size_t cap = 1;
	for (const char *c = path; *c; c++)
		cap += *c == '/';
	char **v = malloc(cap * sizeof *v);
	if (!*buf || !v) {
		free(v);
		return -ENOMEM;
	}
	bool abs = path[0] == '/';
	int n = 0;
	char *save = NULL;
	for (char *c = strtok_r(*buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0 && n > 0 && strcmp(v[n - 1], "..") != 0) {
			n--;
			continue;
		}
		if (strcmp(c, "..") == 0 && abs)
			continue;
		v[n++] = c;
	}
	*out = v;
	return n;
}

/* Join V[0..N) with slashes, after PREFIX (which may be ""). */
static char *join_parts(const char *prefix, char **v, int n, bool abs)
{
	size_t len = strlen(prefix) + 2;
	for (int i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *out = malloc(len);
	if (!out)
		return NULL;
	char *p = stpcpy(out, prefix);
	if (abs && n == 0 && !prefix[0])
		*p++ = '/';
	for (int i = 0; i < n; i++) {
		if (abs || p > out)
			*p++ = '/';
		p = stpcpy(p, v[i]);
	}
	*p = '\0';
	return out;
}

/* PATH with "." and ".." taken lexically and slashes squeezed; malloc'd. */
static char *normalize(const char *path)
{
	char *buf, **v;
	int n = split_lexical(path, &buf, &v);
	char *out = n < 0 ? NULL : join_parts("", v, n, path[0] == '/');
	if (n >= 0)
		free(v);
	free(buf);
	return out;
}

/* The relative path from directory FROM to TO, both normalized and
   absolute, or both relative to one place; "." when they are the same. */
static char *relative_path(const char *from, const char *to)
{
	char *fb, *tb, **fv = NULL, **tv = NULL;
	int fn = split_lexical(from, &fb, &fv);
	int tn = split_lexical(to, &tb, &tv);
	char *out = NULL;
	if (fn >= 0 && tn >= 0) {
		int c = 0;
		while (c < fn && c < tn && strcmp(fv[c], tv[c]) == 0)
			c++;
		size_t ups = (size_t)(fn - c);
		char *prefix = malloc(3 * ups + 1);
		if (prefix) {
			char *p = prefix;
			for (size_t i = 0; i < ups; i++)
				p = stpcpy(p, i ? "/.." : "..");
			*p = '\0';
			out = c == tn && ups == 0 ? strdup(".") : join_parts(prefix, tv + c, tn - c, false);
			free(prefix);
		}
	}
	if (fn >= 0)
		free(fv);
	if (tn >= 0)
		free(tv);
	free(fb);
	free(tb);
	return out;
}

/* The part of the normalized absolute path P below ROOT: "" for ROOT
   itself, NULL when P is not ROOT or below it. */
static const char *below(const char *p, const char *root)
{
	if (!root)
		return NULL;
	size_t n = strlen(root);
	if (n == 1)
		return p + 1;		/* root is "/" */
	if (strncmp(p, root, n) != 0)
		return NULL;
	if (p[n] == '\0')
		return p + n;
	return p[n] == '/' ? p + n + 1 : NULL;
}

/* Does the relative TARGET, read from the directory DIR_REL (below SOURCE,
   "." for SOURCE), ever climb above SOURCE? */
static bool climbs_out(const char *dir_rel, const char *target)
{
	int depth = 0;
	if (strcmp(dir_rel, ".") != 0) {
		depth = 1;
		for (const char *c = dir_rel; *c; c++)
			depth += *c == '/';
	}
	const char *c = target;
	while (*c) {
		size_t len = strcspn(c, "/");
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && c[0] == '.')) {
			depth++;
		}
		c += len;
		while (*c == '/')
			c++;
	}
	return false;
}

/* fix_symlinks: the target a symlink in DIR_REL (below SOURCE) with TARGET
 * must have in DEST, or NULL when it stays as it is (*ERR = 0) or on
 * failure (*ERR < 0). The rule, which the man page states:
 *  - TARGET is read lexically: "." and ".." are taken on the text, never by
 *    looking at the disk, so nothing in either tree is followed. A symlink
 *    inside SOURCE that a target passes through is copied (and fixed) by the
 *    same rule, so the new link leads through its copy to the same place.
 *  - An absolute TARGET is inside when it is SOURCE's canonical path, or
 *    SOURCE as given made absolute, or below one of them; it becomes the
 *    same path below DEST's canonical path.
 *  - A relative TARGET that never climbs above SOURCE works as it is in
 *    DEST. One that climbs out and back in ("../../s/x") is inside; it
 *    becomes the shortest relative path to the same place in DEST.
 *  - Anything else points outside and is copied as it is.
 * A trailing slash is kept.
 */
static char *fix_target(struct cp *cp, const char *dir_rel, const char *target, int *err)
{
	*err = 0;
	size_t tl = strlen(target);
	bool slash = tl > 1 && target[tl - 1] == '/';
	char *out = NULL;
	if (target[0] == '/') {
		char *n = normalize(target);
		if (!n) {
			*err = -ENOMEM;
			return NULL;
		}
		const char *in = below(n, cp->src_abs);
		if (!in)
			in = below(n, cp->src_given_abs);
		if (in && asprintf(&out, "%s%s%s%s", cp->dst_abs, in[0] ? "/" : "", in,
				   slash ? "/" : "") < 0) {
			out = NULL;
			*err = -ENOMEM;
		}
		free(n);
		return out;
	}
	if (!climbs_out(dir_rel, target))
		return NULL;
	char *full = NULL;
	if (asprintf(&full, "%s/%s/%s", cp->src_abs, dir_rel, target) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	char *n = normalize(full);
	free(full);
	const char *in = n ? below(n, cp->src_abs) : NULL;
	if (in) {
		char *r = relative_path(dir_rel, in[0] ? in : ".");
		if (r && slash && asprintf(&out, "%s/", r) < 0)
			out = NULL;
		else if (r && !slash)
			out = r, r = NULL;
		free(r);
		if (!out)
			*err = -ENOMEM;
	} else if (!n) {
		*err = -ENOMEM;
	}
	free(n);
	return out;
}

/* The canonical path of the open FD, from the kernel; malloc'd. */
static char *fd_path(int fd)
{
	char proc[PROC_FD_MAX], buf[PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, buf, sizeof buf - 1);
	if (n <= 0 || (size_t)n >= sizeof buf - 1 || buf[0] != '/')
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
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
static bool size_untrusted(int fd, const struct stat *st)
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
static int copy_until_eof(struct xfer *x)
{
	struct cp *cp = x->cp;
	char *buf = buf_get(cp);
	if (!buf)
		return xfer_fail(x, "copy", false, ENOMEM);
	int r = 0;
	for (;;) {
		ssize_t n = read(x->in, buf, COPY_BUF);
		if (n < 0) {
			if (retry_transient(x, errno))
				continue;
			r = xfer_fail(x, "read", false, errno);
			break;
		}
		if (n == 0)
			break;
		r = write_all(x, buf, (size_t)n, -1);
		if (r < 0)
			break;
	}
	buf_put(cp, buf);
	return r;
}

/* ---- copying one entry --------------------------------------------------- */

/* One non-directory to copy: source SFD/NAME as ST, to DFD/DNAME. */
struct job {
	struct cp *cp;
	struct where w;
	int sfd, dfd;
	const char *name, *dname;
	struct stat st;
	bool follow;			/* -L: NAME is a symlink, ST its target's */
	bool defer_lock;		/* hard-linked: +i/+a come after the walk */
	unsigned long lock_flags;	/* out: what was deferred */
	struct tu_ident dst;		/* out: what was made */
};

static int open_source(struct job *j)
{
	long delay = 1000000;
	double start = 0;
	for (;;) {
		int fd = openat(j->sfd, j->name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
						 (j->follow ? 0 : O_NOFOLLOW));
		if (fd >= 0)
			return fd;
		int err = errno;
		if (!is_transient(err))
			return -err;
		if (start == 0)
			start = tu_now();
		if (tu_now() - start >= j->cp->o->timeout)
			return -err;
		sleep_backoff(&delay);
	}
}

/* Data, metadata, then the name: a regular file.
 *
 * A file with at least SPLIT_MIN bytes of data, when there is more than one
 * worker, is copied in pieces of PIECE bytes of the source's offsets (holes
 * skipped when they are handed out, and kept inside each piece), at explicit
 * offsets into the one new file, by any thread that has time: the walker's
 * idle workers (cp_idle), a thread waiting for room for one more such file,
 * and the directory's own thread in done_entries(), which waits for every
 * file of its directory. The owner does not wait for it in entry(): the
 * directory's other entries are copied meanwhile. The thread that finishes
 * the last piece finishes the file: it checks the source did not change
 * (else copies it again, on that thread), applies the metadata and links it
 * into place, or, when any piece failed, reports it and throws it away. The
 * first copy of a hard-link group is waited for by its own thread, which
 * copies its pieces too, since its later names need it in place.
 *
 * Nobody waits for anything but pieces being copied, and a piece waits for
 * nothing: no deadlock. At most bigs_max such files are in flight (two fds
 * each).
 */

enum { DEFERRED = 1 };	/* copy_file(): the file is finished later */

struct big {
	struct big *next;		/* cp->bq, while pieces are left */
	struct cp *cp;
	struct job *j;			/* the owner's, or jcopy */
	struct job jcopy;
	char *name, *dname;		/* jcopy's names */
	struct dnode *dn;		/* not owned: counted in dn->bigs */
	bool owned;			/* the owner waits and finishes it */
	bool sparse;
	int in, out;
	char tmp[TU_TMP_NAME_MAX];
	struct tu_meta meta;
	double start;			/* of the first try, for --timeout */
	/* Under cp->qlock: */
	off_t next_off;			/* the next piece starts here */
	bool all_out;			/* no piece left to hand out */
	int active;			/* pieces being copied */
	int err;			/* the first failure, -errno */
	struct xfer fail;		/* ... and where it lay */
};

/* A data failure of J's file, with the path of the side that failed. */
static void report_data(struct job *j, int r, const struct xfer *x)
{
	char detail[96];
	const char *d = NULL;
	if (x->timed_out) {
		snprintf(detail, sizeof detail, "still failing after --timeout=%g s; not copied",
			 j->cp->o->timeout);
		d = detail;
	} else if (strcmp(x->op, "reflink") == 0 &&
		   (r == -EOPNOTSUPP || r == -EXDEV || r == -EINVAL)) {
		d = "--reflink=always: the filesystem cannot share extents";
	}
	report(j->cp, &j->w, !x->dst, x->op, -r, d);
}

/* Did the source FD change while it was read? 0: no; 1: it did, so the
   copy may be torn and is to be made again (J's stat renewed); -EAGAIN: it
   kept changing for --timeout seconds (reported). */
static int recheck(struct job *j, int fd, double start, long *delay)
{
	struct stat now;
	if (fstat(fd, &now) < 0 || same_state(&now, &j->st))
		return 0;
	if (tu_now() - start >= j->cp->o->timeout) {
		report(j->cp, &j->w, true, "copy", EAGAIN,
		       "the file kept changing while it was copied; not copied");
		return -EAGAIN;
	}
	j->st = now;
	sleep_backoff(delay);
	return 1;
}

/* OUT (named TMP, or unnamed) holds the data: metadata, the final name,
   then the flags. OUT stays open; on failure (reported) it is discarded. */
static int file_finish(struct job *j, int out, const char *tmp, struct tu_meta *meta)
{
	struct cp *cp = j->cp;
	const struct tu_cptree_opts *o = cp->o;
	struct meta_fail_ctx mf = { cp, &j->w };
	mode_t mode;
	int r0 = 0;
	if (o->archive) {
		tu_meta_apply_fd(out, meta, TU_META_ALL & ~TU_META_FLAGS, meta_fail, &mf);
	} else if ((r0 = tu_meta_new_mode(j->dfd, j->st.st_mode, cp->umask, &mode)) < 0 ||
		   fchmod(out, mode) < 0) {
		report(cp, &j->w, false, "set mode", r0 < 0 ? -r0 : errno, NULL);
	}
	int r = tmp_place(cp, out, j->dfd, tmp, j->dname);
	if (r < 0) {
		report(cp, &j->w, false, "create", -r, NULL);
		tmp_discard(j->dfd, tmp);
		return r;
	}
	/* Flags last: an immutable or append-only file refuses its name,
	   its metadata and any further link. */
	if (o->archive && meta->fflags) {
		if (j->defer_lock && tu_meta_flags_lock(meta->fflags))
			j->lock_flags = meta->fflags;
		else
			tu_meta_apply_fd(out, meta, TU_META_FLAGS, meta_fail, &mf);
	}
	if (j->defer_lock)	/* a hard-link group's first copy */
		tu_ident_fd(out, &j->dst);
	return 0;
}

/* Should J's file be copied in pieces? */
static bool want_pieces(const struct cp *cp, const struct job *j)
{
	return cp->split && (off_t)j->st.st_blocks * 512 >= SPLIT_MIN &&
	       (j->defer_lock || slot_dn(j->w.d));
}

static int copy_pieces(struct job *j, int fd, int out, const char *tmp, struct tu_meta *meta,
		       double start);

/* A regular file, from START (the first try, for --timeout); SPLIT: in
   pieces when it is large. FD is the source, open. Returns 0, DEFERRED (FD
   is the big file's now), or -errno (reported). */
static int copy_file_from(struct job *j, int fd, double start, bool split)
{
	struct cp *cp = j->cp;
	const struct tu_cptree_opts *o = cp->o;
	long delay = 1000000;
	for (;;) {
		struct tu_meta meta = { .st = j->st };
		if (o->archive) {
			int r = tu_meta_read_fd(cp->mr, fd, &j->st, &meta);
			if (r < 0) {
				report(cp, &j->w, true, "read metadata", -r, NULL);
				meta = (struct tu_meta){ .st = j->st };
			}
		}
		char tmp[TU_TMP_NAME_MAX];
		int out = tmp_create(cp, j->dfd, tmp);
		if (out < 0) {
			tu_meta_free(&meta);
			report(cp, &j->w, false, "create", -out, NULL);
			return out;
		}
		struct xfer x = { .cp = cp, .in = fd, .out = out };
		int r;
		if (size_untrusted(fd, &j->st)) {
			r = copy_until_eof(&x);
		} else if (split && want_pieces(cp, j)) {
			r = try_reflink(&x, &j->st);
			if (r == 0)
				return copy_pieces(j, fd, out, tmp, &meta, start);
			if (r > 0)
				r = 0;
		} else {
			r = copy_data(&x, &j->st);
		}
		if (r < 0) {
			report_data(j, r, &x);
			close(out);
			tmp_discard(j->dfd, tmp);
			tu_meta_free(&meta);
			return r;
		}
		int c = recheck(j, fd, start, &delay);
		if (c != 0) {
			close(out);
			tmp_discard(j->dfd, tmp);
			tu_meta_free(&meta);
			if (c < 0)
				return c;
			continue;
		}
		r = file_finish(j, out, tmp, &meta);
		close(out);
		tu_meta_free(&meta);
		return r;
	}
}

static int copy_file(struct job *j, int fd)
{
	return copy_file_from(j, fd, tu_now(), j->cp->split);
}

/* ---- a large file in pieces (all under qlock) ----------------------------- */

static void bq_remove_locked(struct cp *cp, struct big *b)
{
	for (struct big **p = &cp->bq; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			b->next = NULL;
			return;
		}
	}
}

static void bq_append_locked(struct cp *cp, struct big *b)
{
	struct big **p = &cp->bq;
	while (*p)
		p = &(*p)->next;
	*p = b;
}

/* Where the first piece at or after OFF starts: the next data (SPARSE),
   or OFF; the size when there is none. */
static off_t piece_start(const struct big *b, off_t off)
{
	if (off >= b->j->st.st_size)
		return b->j->st.st_size;
	if (!b->sparse)
		return off;
	off_t d = lseek(b->in, off, SEEK_DATA);
	if (d >= 0)
		return d < b->j->st.st_size ? d : b->j->st.st_size;
	return errno == ENXIO ? b->j->st.st_size : off;
}

/* The next piece to copy: of ONLY, or else of the file the fewest threads
   copy (the first of those), up to file_threads on one file: different
   files go on in parallel, where one file's writes take turns on its inode
   lock. */
static struct big *take_piece_locked(struct cp *cp, struct big *only, off_t *off, off_t *end)
{
	struct big *b = only;
	if (!b) {
		for (struct big *c = cp->bq; c; c = c->next)
			if (c->active < cp->file_threads && (!b || c->active < b->active))
				b = c;
	}
	if (!b || b->all_out)
		return NULL;
	off_t size = b->j->st.st_size;
	*off = b->next_off;
	*end = size - *off > PIECE ? *off + PIECE : size;
	b->active++;
	b->next_off = piece_start(b, *end);
	if (b->next_off >= size) {
		b->all_out = true;
		bq_remove_locked(cp, b);
	}
	return b;
}

/* Every piece of B is done: size, check, finish; or report and discard.
   Returns 0 or -errno (reported). Closes B's copy and frees its metadata. */
static int big_end(struct big *b)
{
	struct job *j = b->j;
	int r = b->err;
	if (r == 0 && b->sparse && ftruncate(b->out, j->st.st_size) < 0)
		r = xfer_fail(&b->fail, "write", true, errno);
	if (r < 0) {
		report_data(j, r, &b->fail);
		close(b->out);
		tmp_discard(j->dfd, b->tmp);
		tu_meta_free(&b->meta);
		return r;
	}
	long delay = 1000000;
	int c = recheck(j, b->in, b->start, &delay);
	if (c != 0) {
		close(b->out);
		tmp_discard(j->dfd, b->tmp);
		tu_meta_free(&b->meta);
		/* Changed: all over again, on this thread. */
		return c < 0 ? c : copy_file_from(j, b->in, b->start, false);
	}
	r = file_finish(j, b->out, b->tmp, &b->meta);
	close(b->out);
	tu_meta_free(&b->meta);
	return r;
}

/* The last piece of a file nobody waits for is done: finish it. */
static void big_complete(struct big *b)
{
	struct cp *cp = b->cp;
	struct job *j = b->j;
	int r = big_end(b);
	if (r == 0)
		item(cp, &j->w, 'f', 'c', NULL, (uint64_t)j->st.st_size);
	close(b->in);
	struct dnode *dn = b->dn;
	free(b->name);
	free(b->dname);
	free(b);
	pthread_mutex_lock(&cp->qlock);
	cp->bigs--;
	dn->bigs--;		/* then its directory may go on: touch nothing */
	pthread_cond_broadcast(&cp->qcond);
	pthread_mutex_unlock(&cp->qlock);
}

static void run_piece(struct cp *cp, struct big *b, off_t off, off_t end)
{
	struct xfer x = { .cp = cp, .in = b->in, .out = b->out };
	int r = copy_span(&x, off, end, b->sparse, b->sparse);
	pthread_mutex_lock(&cp->qlock);
	if (r < 0 && b->err == 0) {
		b->err = r;
		b->fail = x;
		if (!b->all_out) {
			b->all_out = true;	/* the file failed: no more */
			bq_remove_locked(cp, b);
		}
	}
	bool done = --b->active == 0 && b->all_out;
	bool owned = b->owned;	/* an owned B may be gone once unlocked */
	if (done && owned)
		pthread_cond_broadcast(&cp->qcond);
	pthread_mutex_unlock(&cp->qlock);
	if (done && !owned)
		big_complete(b);
}

enum until { UNTIL_FILE, UNTIL_ROOM, UNTIL_DIR };

static bool until_met_locked(struct cp *cp, enum until u, void *what)
{
	switch (u) {
	case UNTIL_FILE: {
		struct big *b = what;
		return b->all_out && b->active == 0;
	}
	case UNTIL_ROOM:
		return cp->bigs < cp->bigs_max;
	default:
		return ((struct dnode *)what)->bigs == 0;
	}
}

/* Copy pieces (of WHAT's only, for UNTIL_FILE; of any file otherwise)
   until the condition holds; sleep while there is none to take. */
static void help_until_locked(struct cp *cp, enum until u, void *what)
{
	while (!until_met_locked(cp, u, what)) {
		off_t off, end;
		struct big *b = take_piece_locked(cp, u == UNTIL_FILE ? what : NULL, &off, &end);
		if (!b) {
			pthread_cond_wait(&cp->qcond, &cp->qlock);
			continue;
		}
		pthread_mutex_unlock(&cp->qlock);
		run_piece(cp, b, off, end);
		pthread_mutex_lock(&cp->qlock);
	}
}

/* The walker has a worker with nothing to do. */
static bool cp_idle(void *ctx)
{
	struct cp *cp = ctx;
	off_t off, end;
	pthread_mutex_lock(&cp->qlock);
	struct big *b = take_piece_locked(cp, NULL, &off, &end);
	pthread_mutex_unlock(&cp->qlock);
	if (!b)
		return false;
	run_piece(cp, b, off, end);
	return true;
}

/* Hand J's file (source FD, empty copy OUT named TMP or unnamed, source
   metadata META, all now the big file's) over to be copied in pieces. */
static int copy_pieces(struct job *j, int fd, int out, const char *tmp, struct tu_meta *meta,
		       double start)
{
	struct cp *cp = j->cp;
	struct big local, *b = NULL;
	if (!j->defer_lock) {
		b = calloc(1, sizeof *b);
		if (b) {
			b->jcopy = *j;
			b->name = strdup(j->name);
			b->dname = strdup(j->dname);
			if (!b->name || !b->dname) {
				free(b->name);
				free(b->dname);
				free(b);
				b = NULL;
			}
		}
	}
	if (b) {
		b->j = &b->jcopy;
		b->jcopy.name = b->jcopy.w.name = b->name;
		b->jcopy.dname = b->dname;
		b->dn = slot_dn(j->w.d);
	} else {		/* waited for here: a hard-link group's first */
		memset(&local, 0, sizeof local);
		b = &local;
		b->j = j;
		b->owned = true;
	}
	b->cp = cp;
	b->in = fd;
	b->out = out;
	memcpy(b->tmp, tmp, TU_TMP_NAME_MAX);
	b->meta = *meta;
	b->start = start;
	b->sparse = is_sparse(&j->st);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	b->next_off = piece_start(b, 0);

	pthread_mutex_lock(&cp->qlock);
	if (!b->owned) {
		help_until_locked(cp, UNTIL_ROOM, NULL);
		cp->bigs++;
		b->dn->bigs++;
	}
	if (b->next_off < j->st.st_size)
		bq_append_locked(cp, b);
	else
		b->all_out = true;	/* no data (any more) */
	bool none = b->all_out;
	pthread_cond_broadcast(&cp->qcond);
	if (b->owned) {
		help_until_locked(cp, UNTIL_FILE, b);
		pthread_mutex_unlock(&cp->qlock);
		return big_end(b);
	}
	pthread_mutex_unlock(&cp->qlock);
	if (none) {
		big_complete(b);
		return DEFERRED;
	}
	tu_walk_wake(j->w.d);
	return DEFERRED;
}

static int read_link(int dirfd, const char *name, size_t hint, char **out)
{
	size_t cap = hint ? hint + 1 : 256;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		ssize_t n = readlinkat(dirfd, name, buf, cap);
		if (n < 0) {
			int err = errno;
			free(buf);
			return -err;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			*out = buf;
			return 0;
		}
		free(buf);
		cap *= 2;
	}
}

static int copy_symlink(struct job *j)
{
	struct cp *cp = j->cp;
	char *target = NULL;
	int r = read_link(j->sfd, j->name, (size_t)j->st.st_size, &target);
	if (r < 0) {
		report(cp, &j->w, true, "read link", -r, NULL);
		return r;
	}
	char *fixed = NULL;
	if (cp->o->fix_symlinks) {
		struct where dw = { j->w.d, NULL };
		char *dir_rel = rel_of(cp, &dw);
		int err = dir_rel ? 0 : -ENOMEM;
		if (dir_rel)
			fixed = fix_target(cp, dir_rel, target, &err);
		free(dir_rel);
		if (err < 0) {
			report(cp, &j->w, false, "rewrite symlink", -err, NULL);
			free(target);
			return err;
		}
	}
	if (!cp->o->dry_run && symlinkat(fixed ? fixed : target, j->dfd, j->dname) < 0) {
		r = -errno;
		report(cp, &j->w, false, "create symlink", -r, NULL);
		free(fixed);
		free(target);
		return r;
	}
	if (cp->o->archive && !cp->o->dry_run) {
		struct tu_meta meta;
		r = tu_meta_read_at(cp->mr, j->sfd, j->name, &j->st, &meta);
		if (r < 0) {
			report(cp, &j->w, true, "read metadata", -r, NULL);
		} else {
			struct meta_fail_ctx mf = { cp, &j->w };
			tu_meta_apply_at(j->dfd, j->dname, &meta,
					 TU_META_OWNER | TU_META_XATTR | TU_META_TIMES, meta_fail, &mf);
			tu_meta_free(&meta);
		}
	}
	if (!cp->o->dry_run)
		tu_ident_at(j->dfd, j->dname, &j->dst);
	if (fixed)
		item_rewritten(cp, &j->w, fixed, target);
	else
		item(cp, &j->w, 'L', 'c', target, 0);
	free(fixed);
	free(target);
	return 0;
}

/* FIFOs, sockets and devices: made with mknod, never opened. */
static int copy_special(struct job *j)
{
	struct cp *cp = j->cp;
	bool dev = S_ISCHR(j->st.st_mode) || S_ISBLK(j->st.st_mode);
	if (cp->o->dry_run) {
		item(cp, &j->w, dev ? 'D' : 'S', 'c', NULL, 0);
		return 0;
	}
	mode_t perm = cp->o->archive ? 0600 : j->st.st_mode & 0777;
	if (mknodat(j->dfd, j->dname, (j->st.st_mode & S_IFMT) | perm, j->st.st_rdev) < 0) {
		int r = -errno;
		report(cp, &j->w, false, "create", -r, NULL);
		return r;
	}
	if (cp->o->archive) {
		/* Reached through a symlink (-L), only what stat says is
		   kept: xattrs and ACLs would be read from the link. */
		struct tu_meta meta = { .st = j->st };
		int r = j->follow ? 0 : tu_meta_read_at(cp->mr, j->sfd, j->name, &j->st, &meta);
		if (r < 0) {
			report(cp, &j->w, true, "read metadata", -r, NULL);
		} else {
			struct meta_fail_ctx mf = { cp, &j->w };
			tu_meta_apply_at(j->dfd, j->dname, &meta, TU_META_ALL & ~TU_META_FLAGS,
					 meta_fail, &mf);
			tu_meta_free(&meta);
		}
	}
	tu_ident_at(j->dfd, j->dname, &j->dst);
	item(cp, &j->w, dev ? 'D' : 'S', 'c', NULL, 0);
	return 0;
}

/* The item type of a non-directory of MODE, as -i shows it. */
static char item_type(mode_t mode)
{
	if (S_ISREG(mode))
		return 'f';
	if (S_ISLNK(mode))
		return 'L';
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return 'D';
	return 'S';
}

/* Copy by type; FD is the source open as a regular file, or -1 (always
   with dry_run, which lists the entry and writes nothing). */
static int copy_by_type(struct job *j, int fd)
{
	if (S_ISREG(j->st.st_mode)) {
		int r = j->cp->o->dry_run ? 0 : copy_file(j, fd);
		if (r == 0)
			item(j->cp, &j->w, 'f', 'c', NULL, (uint64_t)j->st.st_size);
		return r;
	}
	if (S_ISLNK(j->st.st_mode))
		return copy_symlink(j);
	if (S_ISDIR(j->st.st_mode)) {
		report(j->cp, &j->w, true, "copy", EAGAIN, "became a directory while copied");
		return -EAGAIN;
	}
	return copy_special(j);
}

/* ---- hard links ---------------------------------------------------------- */

static size_t link_slot(const struct cp *cp, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29)) & (cp->lcap - 1);
}

static struct link_ent *link_find_locked(struct cp *cp, dev_t dev, ino_t ino)
{
	if (!cp->lcap)
		return NULL;
	for (size_t i = link_slot(cp, dev, ino);; i = (i + 1) & (cp->lcap - 1)) {
		struct link_ent *e = cp->ltab[i];
		if (!e)
			return NULL;
		if (e->ino == ino && e->dev == dev)
			return e;
	}
}

static int link_insert_locked(struct cp *cp, struct link_ent *e)
{
	if ((cp->lcount + 1) * 2 > cp->lcap) {
		size_t ncap = cp->lcap ? cp->lcap * 2 : 256;
		struct link_ent **nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return -ENOMEM;
		struct link_ent **old = cp->ltab;
		size_t ocap = cp->lcap;
		cp->ltab = nt;
		cp->lcap = ncap;
		for (size_t i = 0; i < ocap; i++) {
			if (!old[i])
				continue;
			size_t k = link_slot(cp, old[i]->dev, old[i]->ino);
			while (nt[k])
				k = (k + 1) & (ncap - 1);
			nt[k] = old[i];
		}
		free(old);
	}
	size_t k = link_slot(cp, e->dev, e->ino);
	while (cp->ltab[k])
		k = (k + 1) & (cp->lcap - 1);
	cp->ltab[k] = e;
	cp->lcount++;
	return 0;
}

/* The first copy at REL below DEST, opened with FLAGS: resolved beneath
   DEST's held fd with no symlinks and no "..", in pieces shorter than
   PATH_MAX, each beneath the directory the one before reached. So a first
   copy deeper than PATH_MAX is found too, while no fd is kept between
   calls: two at most are open here, however deep, and none per inode. */
static int open_first_copy(struct cp *cp, const char *rel, int flags)
{
	int cur = cp->dst_root_fd;
	const char *p = rel;
	while (strlen(p) >= PATH_MAX) {
		/* The longest run of whole names that fits in one lookup. */
		const char *cut = p + PATH_MAX - 1;
		while (cut > p && *cut != '/')
			cut--;
		char *piece = cut > p ? strndup(p, (size_t)(cut - p)) : NULL;
		int fd = !piece ? (cut > p ? -ENOMEM : -ENAMETOOLONG)
				: tu_open_beneath(cur, piece, O_PATH | O_DIRECTORY | O_CLOEXEC, false);
		free(piece);
		if (cur != cp->dst_root_fd)
			close(cur);
		if (fd < 0)
			return fd;
		cur = fd;
		p = cut + 1;
	}
	int fd = tu_open_beneath(cur, p, flags, false);
	if (cur != cp->dst_root_fd)
		close(cur);
	return fd;
}

/* Link DFD/DNAME to the first copy at REL below DEST, which must still be
   the inode we made (DST). */
static int link_to_first(struct cp *cp, const char *rel, const struct tu_ident *dst, int dfd,
			 const char *dname)
{
	int fd = open_first_copy(cp, rel, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fd;
	struct tu_ident id;
	int r = tu_ident_fd(fd, &id);
	if (r == 0 && !tu_ident_same(&id, dst))
		r = -ESTALE;
	if (r == 0) {
		char proc[PROC_FD_MAX];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, dfd, dname, AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}

/* A non-directory whose source has other links: the first name seen is
   copied, the others become links to that copy. */
static int copy_linked(struct job *j, int fd)
{
	struct cp *cp = j->cp;
	pthread_mutex_lock(&cp->llock);
	struct link_ent *e;
	for (;;) {
		e = link_find_locked(cp, j->st.st_dev, j->st.st_ino);
		if (!e || e->state != LINK_BUSY)
			break;
		pthread_cond_wait(&cp->lcond, &cp->llock);
	}
	if (e && e->state == LINK_DONE) {
		char *rel = strdup(e->rel);
		struct tu_ident dst = e->dst;
		pthread_mutex_unlock(&cp->llock);
		if (!rel)
			return -ENOMEM;
		int r = cp->o->dry_run ? 0 : link_to_first(cp, rel, &dst, j->dfd, j->dname);
		if (r == 0) {
			item(cp, &j->w, item_type(j->st.st_mode), 'h', rel, 0);
			free(rel);
			return 0;
		}
		free(rel);
		/* The first copy is gone or was replaced (not by us): copy
		   this name on its own and say so. */
		warn(cp, &j->w, "hard link", -r, "copied as a separate file");
		return copy_by_type(j, fd);
	}
	if (!e) {
		e = calloc(1, sizeof *e);
		if (e) {
			e->dev = j->st.st_dev;
			e->ino = j->st.st_ino;
		}
		if (!e || link_insert_locked(cp, e) < 0) {
			free(e);
			pthread_mutex_unlock(&cp->llock);
			return copy_by_type(j, fd);
		}
	}
	e->state = LINK_BUSY;
	pthread_mutex_unlock(&cp->llock);

	j->defer_lock = true;
	int r = copy_by_type(j, fd);
	char *rel = r == 0 ? rel_of(cp, &j->w) : NULL;

	pthread_mutex_lock(&cp->llock);
	if (rel) {
		free(e->rel);
		e->rel = rel;
		e->dst = j->dst;
		e->lock_flags = j->lock_flags;
		e->state = LINK_DONE;
	} else {
		e->state = LINK_FAILED;
	}
	pthread_cond_broadcast(&cp->lcond);
	pthread_mutex_unlock(&cp->llock);
	return r;
}

/* After the walk: the +i/+a flags of hard-linked files, which had to wait
   until every link was made. */
static void apply_deferred_flags(struct cp *cp)
{
	for (size_t i = 0; i < cp->lcap; i++) {
		struct link_ent *e = cp->ltab[i];
		if (!e || e->state != LINK_DONE || !e->lock_flags)
			continue;
		struct where w = { NULL, NULL };
		int fd = open_first_copy(cp, e->rel, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		struct tu_ident id;
		if (fd >= 0 && (tu_ident_fd(fd, &id) < 0 || !tu_ident_same(&id, &e->dst))) {
			close(fd);
			fd = -ESTALE;
		}
		if (fd < 0) {
			note_failure(cp, -fd);
			char *path = join(cp->dst_display, e->rel);
			call_locked(cp, cp->o->error, path ? path : "?", "set flags", -fd, NULL);
			free(path);
			continue;
		}
		struct tu_meta m = { .fflags = e->lock_flags };
		struct meta_fail_ctx mf = { cp, &w };
		tu_meta_apply_fd(fd, &m, TU_META_FLAGS, meta_fail, &mf);
		close(fd);
	}
}

static void links_free(struct cp *cp)
{
	for (size_t i = 0; i < cp->lcap; i++) {
		if (cp->ltab[i]) {
			free(cp->ltab[i]->rel);
			free(cp->ltab[i]);
		}
	}
	free(cp->ltab);
}

/* ---- one non-directory --------------------------------------------------- */

/* Open J's source, a regular file by J->st, and take the open file's stat
   into J->st. It must still be a regular file; with SAME_INODE (a file
   reached through a followed symlink) also the very inode stat'ed. A failure
   is reported; -errno. */
static int open_stated(struct job *j, bool same_inode)
{
	struct cp *cp = j->cp;
	int fd = open_source(j);
	if (fd < 0) {
		report(cp, &j->w, true, "open", -fd, NULL);
		return fd;
	}
	struct stat st2;
	if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) ||
	    (same_inode && (st2.st_dev != j->st.st_dev || st2.st_ino != j->st.st_ino))) {
		close(fd);
		report(cp, &j->w, true, "open", EAGAIN,
		       same_inode ? "changed while copied" : "changed type while copied");
		return -EAGAIN;
	}
	j->st = st2;
	return fd;
}

/* Are hard links kept for this entry? With archive, unless dereferenced. */
static bool keep_links(const struct cp *cp, const struct stat *st)
{
	return cp->o->archive && st->st_nlink > 1 && !S_ISDIR(st->st_mode) &&
	       !(cp->o->dereference & TU_DEREF_HARD);
}

static int copy_nondir(struct cp *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		       const char *dname, unsigned char dtype)
{
	struct job j = { .cp = cp, .w = { d, name }, .sfd = sfd, .dfd = dfd, .name = name,
			 .dname = dname };
	int fd = -1;
	bool dry = cp->o->dry_run;
	/* A regular file is opened first and asked what it is (one call
	   fewer); anything else is only looked at, never opened. A dry run
	   opens nothing: it only needs what stat says. */
	if (dtype == DT_REG && !dry) {
		fd = open_source(&j);
		if (fd < 0 && fd != -ELOOP && fd != -ENXIO && fd != -EWOULDBLOCK) {
			report(cp, &j.w, true, "open", -fd, NULL);
			return fd;
		}
		if (fd >= 0) {
			if (fstat(fd, &j.st) < 0) {
				int r = -errno;
				close(fd);
				report(cp, &j.w, true, "stat", -r, NULL);
				return r;
			}
			if (!S_ISREG(j.st.st_mode)) {
				close(fd);
				fd = -1;
			}
		}
	}
	if (fd < 0) {
		if (fstatat(sfd, name, &j.st, AT_SYMLINK_NOFOLLOW) < 0) {
			int r = -errno;
			report(cp, &j.w, true, "stat", -r, NULL);
			return r;
		}
		if (S_ISREG(j.st.st_mode) && !dry) {
			fd = open_stated(&j, false);
			if (fd < 0)
				return fd;
		}
	}
	int r = keep_links(cp, &j.st) ? copy_linked(&j, fd) : copy_by_type(&j, fd);
	if (fd >= 0 && r != DEFERRED)
		close(fd);	/* a deferred file's, from now on */
	return r;
}

/* -L: the non-directory the symlink NAME leads to, whose stat is ST. Only a
   regular file is opened, and it must be the file stat'ed. */
static int copy_followed(struct cp *cp, struct tu_walk_dir *d, int sfd, int dfd,
			 const char *name, const struct stat *st)
{
	struct job j = { .cp = cp, .w = { d, name }, .sfd = sfd, .dfd = dfd, .name = name,
			 .dname = name, .st = *st, .follow = true };
	int fd = -1;
	if (S_ISREG(st->st_mode) && !cp->o->dry_run) {
		fd = open_stated(&j, true);
		if (fd < 0)
			return fd;
	}
	int r = keep_links(cp, &j.st) ? copy_linked(&j, fd) : copy_by_type(&j, fd);
	if (fd >= 0 && r != DEFERRED)
		close(fd);	/* a deferred file's, from now on */
	return r;
}

/* ---- link farms ---------------------------------------------------------- */

/* --link=hard: the source entry itself gets a second name in DEST. DTYPE
   only says what it is in the listing (a symlink is "hL", as rsync says). */
static void farm_hard(struct cp *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		      unsigned char dtype)
{
	struct where w = { d, name };
	if (!cp->o->dry_run && linkat(sfd, name, dfd, name, 0) < 0) {
		report(cp, &w, false, "link", errno, NULL);
		return;
	}
	mode_t mode = DTTOIF(dtype);
	struct stat st;
	if (dtype == DT_UNKNOWN && cp->o->copied &&
	    fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		mode = st.st_mode;
	item(cp, &w, item_type(mode), 'l', NULL, 0);
}

/* --link=symbolic: a symlink to the source entry, like cp -rs. Relative:
   up to DEST's level from where the link sits, then across to SOURCE. */
static void farm_symbolic(struct cp *cp, struct tu_walk_dir *d, int dfd, const char *name)
{
	struct where w = { d, name };
	char *rel = rel_of(cp, &w);
	char *target = NULL;
	if (rel && cp->o->absolute_links) {
		if (asprintf(&target, "%s/%s", cp->src_abs, rel) < 0)
			target = NULL;
	} else if (rel) {
		int ups = tu_walk_dir_depth(d);
		size_t len = 3 * (size_t)ups + strlen(cp->rel_prefix) + strlen(rel) + 2;
		target = malloc(len);
		if (target) {
			char *p = target;
			for (int i = 0; i < ups; i++)
				p = stpcpy(p, "../");
			sprintf(p, "%s/%s", cp->rel_prefix, rel);
		}
	}
	free(rel);
	if (!target) {
		report(cp, &w, false, "create symlink", ENOMEM, NULL);
		return;
	}
	if (!cp->o->dry_run && symlinkat(target, dfd, name) < 0)
		report(cp, &w, false, "create symlink", errno, NULL);
	else
		item(cp, &w, 'L', 'l', target, 0);
	free(target);
}

/* ---- -L: symlinks followed ------------------------------------------------ */

/* Is (DEV, INO) the directory D or one above it? Then following a link to
   it would copy the tree into itself for ever. */
static bool on_path(struct tu_walk_dir *d, dev_t dev, ino_t ino)
{
	for (; d; d = tu_walk_dir_parent(d)) {
		const struct tu_ident *id = tu_walk_dir_ident(d);
		if (id->dev == dev && id->ino == ino)
			return true;
	}
	return false;
}

/* E in D may be a symlink to dereference. Returns TU_WALK_FOLLOW for a
   directory to walk (made in DEST), TU_WALK_NEXT when E was dealt with
   here, or -1 when E is no symlink and is copied as usual. */
static int deref_entry(struct cp *cp, struct tu_walk_dir *d, const struct tu_dirent *e,
		       int sfd, int dfd)
{
	struct where w = { d, e->name };
	struct stat st;
	if (e->type == DT_UNKNOWN) {
		if (fstatat(sfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
			return -1;
	} else if (e->type != DT_LNK) {
		return -1;
	}
	/* The kernel follows this one name (and what its target passes
	   through); nothing of it is opened here unless it is a file. */
	if (fstatat(sfd, e->name, &st, 0) < 0) {
		report(cp, &w, true, "stat", errno, NULL);
		return TU_WALK_NEXT;
	}
	if (!S_ISDIR(st.st_mode)) {
		copy_followed(cp, d, sfd, dfd, e->name, &st);
		return TU_WALK_NEXT;
	}
	if (on_path(d, st.st_dev, st.st_ino)) {
		report(cp, &w, true, "copy", ELOOP, "a symlink loop, not followed");
		return TU_WALK_NEXT;
	}
	if (!cp->o->dry_run && mkdirat(dfd, e->name, 0700) < 0) {
		report(cp, &w, false, "create directory", errno, NULL);
		return TU_WALK_NEXT;
	}
	item(cp, &w, 'd', 'c', NULL, 0);
	return TU_WALK_FOLLOW;
}

/* ---- walker callbacks ---------------------------------------------------- */

static struct dnode *slot_dn(struct tu_walk_dir *d)
{
	return d ? *tu_walk_dir_slot(d) : NULL;
}

/* The destination directory stays pinned from enter() to done_entries(),
   so entry() uses its fd without taking the cache's lock per entry. */
static int cp_enter(struct tu_walk_dir *d, void *ctx)
{
	struct cp *cp = ctx;
	if (cp->o->dry_run)
		return TU_WALK_NEXT;
	struct dnode *n;
	struct where w = { d, NULL };
	if (tu_walk_dir_depth(d) == 0) {
		n = cp->root;
		if (dn_pin(cp, n) < 0)
			return TU_WALK_SKIP;	/* never: the root is never closed */
	} else {
		struct dnode *p = slot_dn(tu_walk_dir_parent(d));
		if (!p)
			return TU_WALK_SKIP;
		int r = dn_open_child(cp, p, tu_walk_dir_name(d), &n);
		if (r < 0) {
			report(cp, &w, false, "open directory", -r, NULL);
			return TU_WALK_SKIP;
		}
	}
	struct stat st;
	int sfd = tu_walk_dir_fd(d);
	if (fstat(sfd, &st) == 0) {
		if (cp->o->archive) {
			int r = tu_meta_read_fd(cp->mr, sfd, &st, &n->meta);
			if (r < 0)
				report(cp, &w, true, "read metadata", -r, NULL);
			n->have_meta = r == 0;
		}
		if (!n->have_meta) {
			n->meta = (struct tu_meta){ .st = st };
			n->have_meta = true;
		}
	} else {
		report(cp, &w, true, "stat", errno, NULL);
	}
	*tu_walk_dir_slot(d) = n;
	return TU_WALK_NEXT;
}

/* After the last entry: the directory's large files are finished (copying
   pieces of any meanwhile) before its fd may close and leave() may set its
   metadata. */
static void cp_done_entries(struct tu_walk_dir *d, void *ctx)
{
	struct cp *cp = ctx;
	struct dnode *n = slot_dn(d);
	if (!n)
		return;
	if (cp->split) {
		pthread_mutex_lock(&cp->qlock);
		help_until_locked(cp, UNTIL_DIR, n);
		pthread_mutex_unlock(&cp->qlock);
	}
	dn_unpin(cp, n);
}

/* A dry run takes every decision below, as a real run would (symlinks
   followed or not, loops, hard links, link targets), and leaves out only
   the writes: DEST is never opened, and DFD is -1. */
static int cp_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct cp *cp = ctx;
	struct where w = { d, e->name };
	bool dry = cp->o->dry_run;
	int dfd = -1;
	if (!dry) {
		struct dnode *n = slot_dn(d);
		if (!n)
			return TU_WALK_NEXT;
		dfd = n->fd;		/* pinned by cp_enter */
	}
	int sfd = tu_walk_dir_fd(d);
	if (e->is_dir && (cp->o->dereference & TU_DEREF_SYMBOLIC) &&
	    on_path(d, tu_walk_dir_ident(d)->dev, e->ino)) {
		/* Below a followed link, a real directory can lead back up
		   too (link -> a/b, then its "up" -> .., then b): a loop. */
		report(cp, &w, true, "copy", ELOOP, "a symlink loop, not followed");
		return TU_WALK_NEXT;
	}
	if (e->is_dir) {
		/* 0700 until leave(): we must fill it whatever its mode. */
		if (!dry && mkdirat(dfd, e->name, 0700) < 0) {
			report(cp, &w, false, "create directory", errno, NULL);
			return TU_WALK_NEXT;
		}
		item(cp, &w, 'd', 'c', NULL, 0);
		return TU_WALK_DESCEND;
	}
	if (cp->o->link == TU_CPLINK_HARD) {
		farm_hard(cp, d, sfd, dfd, e->name, e->type);
		return TU_WALK_NEXT;
	}
	if (cp->o->link == TU_CPLINK_SYMBOLIC) {
		farm_symbolic(cp, d, dfd, e->name);
		return TU_WALK_NEXT;
	}
	if (cp->o->dereference & TU_DEREF_SYMBOLIC) {
		int r = deref_entry(cp, d, e, sfd, dfd);
		if (r >= 0)
			return r;
	}
	copy_nondir(cp, d, sfd, dfd, e->name, e->name, e->type);
	return TU_WALK_NEXT;
}

/* A directory's metadata, once all of its contents are in place. */
static void finish_dir(struct cp *cp, struct tu_walk_dir *d, struct dnode *n)
{
	struct where w = { d, NULL };
	int fd = dn_pin(cp, n);
	if (fd < 0) {
		report(cp, &w, false, "reopen directory", -fd, NULL);
		return;
	}
	struct meta_fail_ctx mf = { cp, &w };
	mode_t mode;
	int r = 0;
	/* The directory's own fd serves for its parent's: it inherited the
	   parent's default ACL as its own, and its setgid bit. */
	if (cp->o->archive)
		tu_meta_apply_fd(fd, &n->meta, TU_META_ALL, meta_fail, &mf);
	else if ((r = tu_meta_new_mode(fd, n->meta.st.st_mode, cp->umask, &mode)) < 0 ||
		 fchmod(fd, mode) < 0)
		report(cp, &w, false, "set mode", r < 0 ? -r : errno, NULL);
	dn_unpin(cp, n);
}

static int cp_leave(struct tu_walk_dir *d, void *ctx)
{
	struct cp *cp = ctx;
	struct dnode *n = slot_dn(d);
	if (!n)
		return TU_WALK_NEXT;
	*tu_walk_dir_slot(d) = NULL;
	if (!tu_walk_dir_aborted(d)) {
		dn_prepare_parent(cp, n);
		if (n->have_meta)
			finish_dir(cp, d, n);
	}
	dn_free(cp, n);
	return TU_WALK_NEXT;
}

static int cp_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d;
	struct cp *cp = ctx;
	/* -x: a mount point stays an empty directory, as with cp -x. */
	if (e->err == EXDEV && cp->o->one_file_system)
		return TU_CONTINUE;
	note_failure(cp, e->err);
	call_locked(cp, cp->o->error, e->path, e->op, e->err, e->detail);
	return TU_CONTINUE;
}

/* ---- the whole copy ------------------------------------------------------ */

void tu_cptree_opts_init(struct tu_cptree_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = TU_CPTREE_TIMEOUT;
}

static char *display_of(const char *arg)
{
	char *s = strdup(arg);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static void refuse(struct cp *cp, const char *path, const char *op, int err, const char *detail)
{
	call_locked(cp, cp->o->error, path, op, err, detail);
}

/* Is the directory FD, or any directory above it, the one SID names? */
static int is_inside(int fd, const struct tu_ident *sid)
{
	int cur = dup(fd);
	if (cur < 0)
		return -errno;
	for (int depth = 0; depth < 65536; depth++) {
		struct tu_ident id, up;
		int r = tu_ident_fd(cur, &id);
		if (r < 0) {
			close(cur);
			return r;
		}
		if (tu_ident_same(&id, sid)) {
			close(cur);
			return 1;
		}
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int err = errno;
		close(cur);
		/* A directory we may not search ends the climb: SOURCE, which
		   we could reach, cannot lie above it on this path. */
		if (next < 0)
			return err == EACCES ? 0 : -err;
		r = tu_ident_fd(next, &up);
		if (r < 0 || tu_ident_same(&up, &id)) {
			close(next);
			return r < 0 ? r : 0;
		}
		cur = next;
	}
	close(cur);
	return 0;
}

static int dir_is_empty(int fd)
{
	DIR *dir = fdopendir(dup(fd));
	if (!dir)
		return -errno;
	int r = 1;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 0;
			break;
		}
	}
	closedir(dir);
	return r;
}

static void budgets(const struct tu_cptree_opts *o, int *walk_budget, int *dest_budget)
{
	struct rlimit rl;
	long cur = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cur = (long)rl.rlim_cur;
	long jobs = o->jobs > 0 ? o->jobs : sysconf(_SC_NPROCESSORS_ONLN);
	/* A third each for source and destination directories; the rest
	   for files being copied (two or three per worker, and two per large
	   file in flight: as many as workers) and the caller. */
	long each = (cur - 16 - 5 * jobs) / 3;
	if (each > 4096)
		each = 4096;
	*walk_budget = each < 8 ? 8 : (int)each;
	*dest_budget = each < 4 ? 4 : (int)each;
}

/* Remove the hidden tree of a failed --atomic copy. */
static void remove_hidden(struct cp *cp, int pfd, const char *name)
{
	char path[PROC_FD_MAX + TU_TMP_NAME_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d/%s", pfd, name);
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = cp->o->jobs;
	tu_rmtree(path, &ro);
}

struct start {
	char *sbuf, *dbuf;
	int spfd, dpfd, sfd;
	const char *slast, *dlast;
	struct tu_ident sid;
	bool dest_exists;
};

/* Every check before anything is written: SOURCE readable, DEST absent or
   an empty directory, not SOURCE itself, not inside it. */
static int preflight(struct cp *cp, const char *source, const char *dest, struct start *s)
{
	size_t sl = strlen(source), dl = strlen(dest);
	if (sl == 0 || dl == 0) {
		refuse(cp, sl ? dest : source, "copy", EINVAL, "refusing an empty name");
		return -EINVAL;
	}
	s->sbuf = malloc(sl + 2);
	s->dbuf = malloc(dl + 2);
	if (!s->sbuf || !s->dbuf)
		return -ENOMEM;
	int r = tu_open_parent(source, s->sbuf, sl + 2, &s->slast);
	if (r < 0) {
		refuse(cp, cp->src_display, "open", -r, NULL);
		return r;
	}
	s->spfd = r;
	/* A SOURCE symlink written with a trailing slash means its target,
	   as everywhere, and -L follows it as cp -L does; otherwise SOURCE
	   is never followed. */
	bool follow = source[sl - 1] == '/' || (cp->o->dereference & TU_DEREF_SYMBOLIC);
	int fd = openat(s->spfd, s->slast,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		r = -errno;
		if (r == -ENOTDIR || r == -ELOOP) {
			refuse(cp, cp->src_display, "copy", ENOTDIR,
			       "SOURCE must be a directory (a symlink to one needs a trailing '/')");
			return -ENOTDIR;
		}
		refuse(cp, cp->src_display, "open", -r, NULL);
		return r;
	}
	s->sfd = fd;
	r = tu_ident_fd(fd, &s->sid);
	if (r < 0) {
		refuse(cp, cp->src_display, "stat", -r, NULL);
		return r;
	}

	r = tu_open_parent(dest, s->dbuf, dl + 2, &s->dlast);
	if (r < 0) {
		refuse(cp, cp->dst_display, "create", -r, NULL);
		return r;
	}
	s->dpfd = r;
	if (strcmp(s->dlast, "/") == 0 || strcmp(s->dlast, "..") == 0 ||
	    (strcmp(s->dlast, ".") == 0 && cp->o->atomic)) {
		refuse(cp, cp->dst_display, "copy", EINVAL, "refusing this DEST");
		return -EINVAL;
	}
	struct tu_ident did;
	r = tu_ident_at(s->dpfd, s->dlast, &did);
	if (r == 0 && tu_ident_same(&did, &s->sid)) {
		refuse(cp, cp->dst_display, "copy", EINVAL, "SOURCE and DEST are the same");
		return -EINVAL;
	}
	int in = is_inside(s->dpfd, &s->sid);
	if (in > 0) {
		refuse(cp, cp->dst_display, "copy", EINVAL,
		       "cannot copy a directory into itself; nothing written");
		return -EINVAL;
	}
	if (in < 0) {
		refuse(cp, cp->dst_display, "check", -in, NULL);
		return in;
	}
	if (r == 0) {
		s->dest_exists = true;
		if (!S_ISDIR(did.mode)) {
			refuse(cp, cp->dst_display, "copy", EEXIST, "DEST exists and is not a directory");
			return -EEXIST;
		}
		struct tu_ident id2;
		int dfd = tu_dir_open_at(s->dpfd, s->dlast, &id2);
		if (dfd < 0) {
			refuse(cp, cp->dst_display, "open", -dfd, NULL);
			return dfd;
		}
		r = dir_is_empty(dfd);
		close(dfd);
		if (r == 0) {
			refuse(cp, cp->dst_display, "copy", ENOTEMPTY,
			       "DEST exists and is not empty; nothing written");
			return -ENOTEMPTY;
		}
		if (r < 0) {
			refuse(cp, cp->dst_display, "read directory", -r, NULL);
			return r;
		}
	} else if (r != -ENOENT) {
		refuse(cp, cp->dst_display, "stat", -r, NULL);
		return r;
	}
	return 0;
}

/* The strings link targets are made from (symbolic farm, fix_symlinks):
   canonical paths from the kernel for the fds we hold, so the targets do
   not depend on how the operands were spelled. */
static int link_paths_init(struct cp *cp, const char *source, struct start *s)
{
	cp->src_abs = fd_path(s->sfd);
	char *dparent = fd_path(s->dpfd);
	char *joined = NULL;
	if (dparent && asprintf(&joined, "%s/%s", dparent, s->dlast) < 0)
		joined = NULL;
	free(dparent);
	cp->dst_abs = joined ? normalize(joined) : NULL;
	free(joined);
	if (!cp->src_abs || !cp->dst_abs)
		return -ENAMETOOLONG;
	cp->rel_prefix = relative_path(cp->dst_abs, cp->src_abs);
	if (!cp->rel_prefix)
		return -ENOMEM;
	/* SOURCE as spelled, for absolute links written that way; only when
	   it has no "..", which the text alone cannot resolve. */
	bool dots = strcmp(source, "..") == 0 || strncmp(source, "../", 3) == 0 ||
		    strstr(source, "/../") || (strlen(source) >= 3 &&
					       strcmp(source + strlen(source) - 3, "/..") == 0);
	if (!dots) {
		char cwd[PATH_MAX], *given = NULL;
		if (source[0] == '/')
			given = strdup(source);
		else if (getcwd(cwd, sizeof cwd) && asprintf(&given, "%s/%s", cwd, source) < 0)
			given = NULL;
		cp->src_given_abs = given ? normalize(given) : NULL;
		free(given);
	}
	return 0;
}

/* ---- counting SOURCE first, for an ETA ------------------------------------- */

struct count {
	_Atomic uint64_t entries, bytes;
};

static int count_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct count *c = ctx;
	atomic_fetch_add(&c->entries, 1);
	if (e->is_dir)
		return TU_WALK_DESCEND;
	struct stat st;
	if ((e->type == DT_REG || e->type == DT_UNKNOWN) &&
	    fstatat(tu_walk_dir_fd(d), e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		atomic_fetch_add(&c->bytes, (uint64_t)st.st_size);
	return TU_WALK_NEXT;
}

static int count_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d, (void)e, (void)ctx;
	return TU_CONTINUE;	/* the copy reports it */
}

static void count_tree(struct cp *cp, struct start *s, const struct tu_walk_opts *wo)
{
	struct count c = { 1, 0 };	/* SOURCE itself */
	struct tu_walk_ops ops = { .entry = count_entry, .error = count_error };
	tu_walk(s->sfd, cp->src_display, wo, &ops, &c);
	lseek(s->sfd, 0, SEEK_SET);	/* the copy reads SOURCE again */
	atomic_store(&cp->o->total->bytes, atomic_load(&c.bytes));
	atomic_store(&cp->o->total->entries, atomic_load(&c.entries));
}

/* Is FD on a filesystem held in memory (tmpfs, ramfs)? */
static bool in_memory(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 &&
	       (sf.f_type == (typeof(sf.f_type))TMPFS_MAGIC ||
		sf.f_type == (typeof(sf.f_type))RAMFS_MAGIC);
}

static int run(struct cp *cp, const char *source, struct start *s)
{
	const struct tu_cptree_opts *o = cp->o;
	struct tu_walk_opts wo = { .jobs = o->jobs, .one_file_system = o->one_file_system };
	budgets(o, &wo.fd_budget, &cp->dbudget);
	struct tu_walk_ops ops = { .enter = cp_enter, .entry = cp_entry, .leave = cp_leave,
				   .error = cp_walk_error, .done_entries = cp_done_entries };
	long jobs = o->jobs > 0 ? o->jobs : sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs > 1 && !o->dry_run) {
		/* Large files in pieces, by idle workers too. */
		cp->split = true;
		cp->bigs_max = (int)jobs;
		ops.idle = cp_idle;
	}
	struct where root = { NULL, NULL };
	/* Before a dry run too: it lists the targets a real run would write. */
	if (o->link == TU_CPLINK_SYMBOLIC || o->fix_symlinks) {
		int r = link_paths_init(cp, source, s);
		if (r < 0) {
			refuse(cp, cp->dst_display, "find the paths of SOURCE and DEST", -r, NULL);
			return r;
		}
	}
	if (o->dry_run) {
		item(cp, &root, 'd', 'c', NULL, 0);
		int r = tu_walk(s->sfd, cp->src_display, &wo, &ops, cp);
		if (r < 0 && r != -ECANCELED)
			report(cp, &root, true, "walk", -r, NULL);
		return atomic_load(&cp->failed) ? -EIO : 0;
	}

	if (o->total)
		count_tree(cp, s, &wo);

	char hidden[TU_TMP_NAME_MAX] = "";
	const char *name = s->dlast;
	if (o->atomic) {
		char hex[TU_TMP_HEX + 1];
		int r = tu_random_hex(hex, TU_TMP_HEX);
		if (r < 0)
			return r;
		snprintf(hidden, sizeof hidden, "%s%s", TU_TMP_PREFIX, hex);
		name = hidden;
	}
	if (!s->dest_exists || o->atomic) {
		if (mkdirat(s->dpfd, name, 0700) < 0) {
			int r = -errno;
			refuse(cp, cp->dst_display, "create directory", -r, NULL);
			return r;
		}
	}
	struct dnode *rn = calloc(1, sizeof *rn + strlen(name) + 1);
	if (!rn)
		return -ENOMEM;
	strcpy(rn->name, name);
	rn->fd = tu_dir_open_at(s->dpfd, name, &rn->id);
	if (rn->fd < 0) {
		int r = rn->fd;
		free(rn);
		refuse(cp, cp->dst_display, "open directory", -r, NULL);
		return r;
	}
	rn->pins = 2;		/* never evicted; closed here at the end */
	/* Tmpfs to tmpfs, a second thread on one file only waits for its
	   inode lock: there is no disk or network latency to overlap (one
	   1 GiB file: 0.44 s alone, 0.49 s with two threads, 0.56 s with
	   eight). Elsewhere, reads from disk and network writes overlap. */
	cp->file_threads = in_memory(s->sfd) && in_memory(rn->fd) ? 1 : INT_MAX;
	cp->root = rn;
	cp->dst_root_fd = rn->fd;
	item(cp, &root, 'd', 'c', NULL, 0);

	int r = tu_walk(s->sfd, cp->src_display, &wo, &ops, cp);
	if (r < 0 && r != -ECANCELED)
		report(cp, &root, true, "walk", -r, NULL);
	apply_deferred_flags(cp);
	close(rn->fd);
	free(rn);
	cp->root = NULL;

	bool ok = atomic_load(&cp->failed) == 0 && r == 0;
	if (o->atomic) {
		if (ok) {
			/* An empty DEST that exists is replaced in the same
			   step; otherwise nothing may be replaced. */
			int rr = s->dest_exists ? (renameat(s->dpfd, hidden, s->dpfd, s->dlast) < 0
							   ? -errno : 0)
						: tu_rename_noreplace(s->dpfd, hidden, s->dpfd, s->dlast);
			if (rr < 0) {
				note_failure(cp, -rr);
				refuse(cp, cp->dst_display, "rename into place", -rr, NULL);
				ok = false;
			}
		}
		if (!ok)
			remove_hidden(cp, s->dpfd, hidden);
	}
	return ok ? 0 : -EIO;
}

int tu_cptree(const char *source, const char *dest, const struct tu_cptree_opts *o)
{
	struct cp cp = { .o = o, .dst_root_fd = -1 };
	struct start s = { .spfd = -1, .dpfd = -1, .sfd = -1 };
	pthread_mutex_init(&cp.dlock, NULL);
	pthread_mutex_init(&cp.llock, NULL);
	pthread_cond_init(&cp.lcond, NULL);
	pthread_mutex_init(&cp.block, NULL);
	pthread_mutex_init(&cp.out_lock, NULL);
	pthread_mutex_init(&cp.qlock, NULL);
	pthread_cond_init(&cp.qcond, NULL);
	cp.umask = umask(0);
	umask(cp.umask);
	cp.is_root = geteuid() == 0;
	cp.src_display = display_of(source);
	cp.dst_display = display_of(dest);
	int r;
	if (!cp.src_display || !cp.dst_display) {
		r = -ENOMEM;
		goto out;
	}
	cp.src_display_len = strlen(cp.src_display);
	r = tu_meta_reader_new(&cp.mr);
	if (r < 0)
		goto out;
	r = preflight(&cp, source, dest, &s);
	if (r == 0)
		r = run(&cp, source, &s);
out:
	if (s.sfd >= 0)
		close(s.sfd);
	if (s.spfd >= 0)
		close(s.spfd);
	if (s.dpfd >= 0)
		close(s.dpfd);
	free(s.sbuf);
	free(s.dbuf);
	links_free(&cp);
	for (size_t i = 0; i < cp.nbufs; i++)
		free(cp.bufs[i]);
	free(cp.bufs);
	tu_meta_reader_free(cp.mr);
	free(cp.src_abs);
	free(cp.src_given_abs);
	free(cp.dst_abs);
	free(cp.rel_prefix);
	free(cp.src_display);
	free(cp.dst_display);
	pthread_mutex_destroy(&cp.dlock);
	pthread_mutex_destroy(&cp.llock);
	pthread_cond_destroy(&cp.lcond);
	pthread_mutex_destroy(&cp.block);
	pthread_mutex_destroy(&cp.out_lock);
	pthread_mutex_destroy(&cp.qlock);
	pthread_cond_destroy(&cp.qcond);
	return r;
}
