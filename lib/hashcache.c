/* SPDX-License-Identifier: Apache-2.0 */
/* hashcache.c: cached SpookyHash V2 digests of regular files: the cache of
 * one file and the records of one directory, for the tree walk (hashtree.c)
 * and as per-file calls for other modules (dedup).
 *
 * When is a record trusted? Its size and mtime (in the sidecar also ctime and
 * inode) must match the file now, and it must not be "racy" (git's racy-git
 * problem): a file written again within the same timestamp tick as the write
 * before it, after we hashed it, keeps its mtime, and its record would lie. So
 * a record counts only if the file's mtime was older than the moment hashing
 * began by more than the filesystem's timestamp granularity G:
 *
 *	trusted  <=>  hashed_at - mtime > G
 *
 * hashed_at is read from CLOCK_REALTIME_COARSE, the clock the kernel stamps
 * files with, before the first byte is read, so any later write gets an mtime
 * of at least hashed_at - G. G is 2 s on filesystems with coarse or foreign
 * clocks (FAT, exFAT, FUSE, network filesystems, HFS, ISO 9660), and 10 ms on
 * the others, a margin over their nanosecond stamps; an mtime of a whole
 * second hints at a filesystem that keeps only seconds (ext4 with 128-byte
 * inodes), so it gets 2 s too. A racy record is not trusted: the file is read
 * again, and the new record, hashed later, usually is no longer racy.
 *
 * The same rule holds for ctime in an xattr record, which cannot hold the
 * ctime its own write gives the file but holds when it was written, W: a
 * record is outdated when ctime - W > G. The sidecar holds ctime itself.
 *
 * Data is read only through an fd opened with O_NOFOLLOW after statx said
 * "regular file", and stored only if a statx after the read shows the same
 * size, mtime and ctime as before it.
 *
 * This file must never follow a symlink, never open anything but a regular
 * file, never act on a path string inside the tree, never change a file's
 * data, mtime or atime, and never print.
 */
#define TU_INTERNAL
#include "data.h"
#include "hashcache.h"
#include "hashdir.h"
#include "hashstore.h"
#include "spooky.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH_BUF	(1 << 20)	/* per worker, reused: no allocation per file */
#define META_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_NLINK | \
		   STATX_SIZE | STATX_MTIME | STATX_CTIME | STATX_INO)
/* A read that saw only the ctime move (another run's record write) is tried
   this many times more. */
#define CTIME_RETRIES	2

enum match { M_NONE, M_STALE, M_RACY, M_FRESH };

/* The best record found for a file. */
struct cand {
	enum match m;
	bool sidecar;
	struct tu_hashrec rec;
};

#ifdef TU_TEST_HOOKS
void (*tu_hash_read_hook)(int fd, uint64_t done);
#endif

/* ---- small helpers ------------------------------------------------------------ */

static int64_t ts_ns(const struct statx_timestamp *t)
{
	int64_t ns;
	if (__builtin_mul_overflow(t->tv_sec, NS_PER_S, &ns) ||
	    __builtin_add_overflow(ns, (int64_t)t->tv_nsec, &ns))
		return t->tv_sec < 0 ? INT64_MIN : INT64_MAX;
	return ns;
}

static void meta_from_statx(const struct statx *sx, struct fmeta *m)
{
	m->mode = sx->stx_mode;
	m->uid = sx->stx_uid;
	m->gid = sx->stx_gid;
	m->nlink = sx->stx_nlink;
	m->size = sx->stx_size;
	m->mtime = ts_ns(&sx->stx_mtime);
	m->ctime = ts_ns(&sx->stx_ctime);
	m->ino = sx->stx_ino;
}

int tu_hc_meta_at(int dirfd, const char *name, struct fmeta *m)
{
	struct statx sx;
	int r = tu_statx_at(dirfd, name, META_MASK, &sx);
	if (r < 0)
		return r;
	meta_from_statx(&sx, m);
	return 0;
}

static int meta_fd(int fd, struct fmeta *m)
{
	struct statx sx;
	int r = tu_statx_fd(fd, META_MASK, &sx);
	if (r < 0)
		return r;
	meta_from_statx(&sx, m);
	return 0;
}

static bool same_state(const struct fmeta *a, const struct fmeta *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime == b->mtime &&
	       a->ctime == b->ctime;
}

static int64_t now_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static enum match rec_match(const struct tu_hashrec *r, const struct fmeta *m, bool sidecar,
			    int64_t gran)
{
	if (r->size != m->size || r->mtime_ns != m->mtime)
		return M_STALE;
	if (sidecar && (r->ctime_ns != m->ctime || r->ino != m->ino))
		return M_STALE;
	/* The racy rule for ctime: an xattr cannot hold the ctime its own
	   write gives, but it holds when it was written. A ctime later than
	   that (beyond the granularity) is a change since: content rewritten
	   with size and mtime put back, a chmod, a new link. A version 1
	   record has no such time: it must be read again to be believed. */
	if (!sidecar && r->written_ns == 0)
		return M_RACY;
	if (!sidecar && m->ctime > r->written_ns &&
	    m->ctime - r->written_ns > (gran > TU_XATTR_STAMP_SLACK ? gran : TU_XATTR_STAMP_SLACK))
		return M_STALE;
	if (m->mtime % NS_PER_S == 0 && gran < GRAN_COARSE)
		gran = GRAN_COARSE;
	int64_t age;
	if (__builtin_sub_overflow(r->hashed_ns, m->mtime, &age) || age <= gran)
		return M_RACY;
	return M_FRESH;
}

static void offer(struct cand *best, const struct tu_hashrec *r, enum match m, bool sidecar)
{
	if (m <= best->m)
		return;
	best->m = m;
	best->rec = *r;
	best->sidecar = sidecar;
}

static void set_digest(struct tu_hash_info *h, const unsigned char digest[16])
{
	h->have_digest = true;
	memcpy(h->digest, digest, 16);
	tu_spooky_hex(digest, h->hex);
}

/* ---- read buffers ---------------------------------------------------------------- */

static void *buf_get(struct tu_hashcache *hc)
{
	void *b = NULL;
	pthread_mutex_lock(&hc->pool_lock);
	if (hc->npool)
		b = hc->pool[--hc->npool];
	pthread_mutex_unlock(&hc->pool_lock);
	return b ? b : malloc(HASH_BUF);
}

static void buf_put(struct tu_hashcache *hc, void *b)
{
	pthread_mutex_lock(&hc->pool_lock);
	if (hc->npool == hc->cappool) {
		size_t ncap = hc->cappool ? hc->cappool * 2 : 8;
		void **np = realloc(hc->pool, ncap * sizeof *np);
		if (np) {
			hc->pool = np;
			hc->cappool = ncap;
		}
	}
	if (hc->npool < hc->cappool) {
		hc->pool[hc->npool++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&hc->pool_lock);
	free(b);
}

/* ---- one file ------------------------------------------------------------------------------ */

/* Open NAME in DIRFD for reading its data: never a symlink, never blocking,
   and without touching atime where we may (O_NOATIME needs ownership or
   CAP_FOWNER; EPERM otherwise). */
static int open_file(struct tu_hashcache *hc, int dirfd, const char *name, const struct fmeta *m)
{
	if (hc->euid == 0 || m->uid == hc->euid) {
		int fd = tu_file_open_noatime_at(dirfd, name);
		if (fd != -EPERM)
			return fd;
	}
	return tu_file_open_at(dirfd, name, false);
}

/* Hash everything FD holds. SIZE (from statx) says where the data ends, so
   the read that would return 0 is saved; a file that grew meanwhile shows in
   the statx after the read. */
static int hash_data(struct tu_hashcache *hc, int fd, uint64_t size, unsigned char digest[16],
		     uint64_t *done)
{
	char *buf = buf_get(hc);
	if (!buf)
		return -ENOMEM;
	if (size > HASH_BUF)
		tu_data_advise_sequential(fd);
	struct tu_spooky s;
	tu_spooky_init(&s, 0, 0);
	*done = 0;
	int r = 0;
	for (;;) {
		ssize_t n = tu_read_some(fd, buf, HASH_BUF);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0)
			break;
		tu_spooky_update(&s, buf, (size_t)n);
		*done += (uint64_t)n;
		if (hc->o.stats)
			atomic_fetch_add(&hc->o.stats->bytes, (uint64_t)n);
		if (tu_hash_read_hook)
			tu_hash_read_hook(fd, *done);
		if (size > 0 && *done == size)
			break;
	}
	buf_put(hc, buf);
	COUNT(hc, bytes_read, *done);
	if (r == 0) {
		uint64_t h1, h2;
		tu_spooky_final(&s, &h1, &h2);
		tu_spooky_digest(h1, h2, digest);
	}
	return r;
}

/* Whether A and B differ in ctime alone: what another run writing its
   record (an xattr) does to a file we are reading. A write to the data
   moves the mtime too. */
static bool only_ctime_moved(const struct fmeta *a, const struct fmeta *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime == b->mtime &&
	       a->ctime != b->ctime;
}

/* Read FD (in state *PRE, updated when it is read again) and fill REC.
   -EAGAIN if it changed meanwhile. A read during which only the ctime
   moved is done again (CTIME_RETRIES), since a record written by another
   run does that; any other change fails at once. */
static int compute(struct tu_hashcache *hc, int fd, struct fmeta *pre, struct tu_hashrec *rec)
{
	for (int tries = 0;; tries++) {
		memset(rec, 0, sizeof *rec);
		/* Before the first byte: a write after this moment gets an mtime
		   of at least this (less the granularity). */
		rec->hashed_ns = now_coarse_ns();
		uint64_t done;
		int r = tries > 0 ? tu_file_rewind(fd) : 0;
		if (r < 0)
			return r;
		r = hash_data(hc, fd, pre->size, rec->digest, &done);
		if (tries == 0)
			COUNT(hc, hashed, 1);	/* files read, not reads */
		if (r < 0)
			return r;
		struct fmeta post;
		r = meta_fd(fd, &post);
		if (r < 0)
			return r;
		if (same_state(pre, &post) && done == post.size)
			break;
		if (tries == CTIME_RETRIES || !only_ctime_moved(pre, &post) || done != post.size)
			return -EAGAIN;
		*pre = post;
	}
	rec->size = pre->size;
	rec->mtime_ns = pre->mtime;
	rec->ctime_ns = pre->ctime;
	rec->ino = pre->ino;
	return 0;
}

/* Where the work on one file stands. */
struct job {
	struct tu_hashcache *hc;
	struct tu_hashdir *hd;		/* NULL: the xattr only */
	int dirfd;			/* -1 with an fd from the caller */
	const char *name;		/* in hd's directory; may be NULL then */
	int fd;				/* the caller's, or -1 */
	int myfd;			/* opened here, closed when done */
	struct tu_hashrec *defer;	/* not NULL: a record due for a sidecar
					   goes here, for tu_hashdir_put() */
	bool deferred;			/* and one did */
	struct fmeta meta;
	const char *op, *detail;	/* what failed */
};

static int job_fd(struct job *j)
{
	if (j->fd >= 0)
		return j->fd;
	if (j->myfd < 0) {
		int fd = open_file(j->hc, j->dirfd, j->name, &j->meta);
		if (fd < 0) {
			j->op = "open";
			return fd;
		}
		j->myfd = fd;
	}
	return j->myfd;
}

static bool use_xattr(const struct job *j)
{
	return j->hc->o.store != TU_STORE_FILE && !(j->hd && j->hd->no_xattr);
}

static bool use_sidecar(const struct job *j)
{
	return j->hc->o.store != TU_STORE_XATTR && ((j->hd && j->name) || j->defer);
}

static void bad_xattr(struct job *j, int r)
{
	if (!j->hd)
		return;
	tu_hc_warn(j->hd, j->name, "read cache", EBADMSG,
	     r == -EPROTO ? "user.spookyhash record of an unknown version; ignored" :
			    "malformed user.spookyhash record; ignored");
}

/* The best record for the file: fresh beats racy beats stale. */
static int lookup(struct job *j, struct cand *best)
{
	struct tu_hashcache *hc = j->hc;
	int64_t gran = j->hd ? j->hd->gran_ns : GRAN_COARSE;
	memset(best, 0, sizeof *best);
	if (use_xattr(j)) {
		struct tu_hashrec rec;
		int r = -ENOSYS;
		if (j->fd < 0 && j->myfd < 0)
			r = tu_xattr_get_at(j->dirfd, j->name, &rec);
		if (r == -ENOSYS) {
			r = job_fd(j);
			if (r < 0)
				return r;
			r = tu_xattr_get_fd(r, &rec);
		}
		if (r == 0)
			offer(best, &rec, rec_match(&rec, &j->meta, false, gran), false);
		else if (r == -EOPNOTSUPP && j->hd)
			j->hd->no_xattr = true;
		else if (r == -EPROTO || r == -EBADMSG)
			bad_xattr(j, r);
		else if (r == -EACCES && hc->o.mode == TU_HASHCACHE_SHOW) {
			j->op = "read the hash record of";
			return r;
		}
	}
	if (best->m == M_FRESH || !use_sidecar(j) || !j->hd || !j->name)
		return 0;
	struct tu_sidecar *sc = tu_hc_dir_sidecar(j->hd);
	if (!sc)
		return 0;
	/* Whoever could write the sidecar could forge its records: they are
	   believed only as hashstore says (tu_sidecar_trusted). */
	const struct tu_hashrec *rec = tu_sidecar_find(sc, j->name);
	if (rec && tu_sidecar_trusted(sc, rec, j->meta.uid))
		offer(best, rec, rec_match(rec, &j->meta, true, gran), true);
	/* Hard links in one directory: another name's record of this inode,
	   if it is valid, answers for this name too. */
	for (rec = NULL; best->m != M_FRESH && (rec = tu_sidecar_find_ino(sc, j->meta.ino, rec));)
		if (rec_match(rec, &j->meta, true, gran) == M_FRESH &&
		    tu_sidecar_trusted(sc, rec, j->meta.uid))
			offer(best, rec, M_FRESH, true);
	if (tu_sidecar_take_distrust(sc))
		tu_hc_warn(j->hd, TU_SIDECAR_NAME, "read cache", EPERM, "records not trusted: the "
		     "file is owned by neither root nor the owner of the files they describe, "
		     "or others may write it; ignored");
	return 0;
}

/* Put REC as NAME's record in HD's sidecar, written when HD is closed.
   M: the file now. False (counted as not stored) if it cannot be. */
static bool sidecar_put(struct tu_hashdir *hd, const char *name, const struct tu_hashrec *rec,
			const struct fmeta *m)
{
	struct tu_sidecar *sc = tu_hc_dir_sidecar(hd);
	if (!sc) {
		tu_hc_not_stored(hd, hd->sc_err, 1);
		return false;
	}
	if (!tu_sidecar_may_publish(sc, m->uid, m->gid, m->mode)) {
		tu_hc_not_stored_why(hd, EACCES, "the .spookyhashes file would show them to users "
			       "who may not read the files");
		return false;
	}
	if (tu_sidecar_put(sc, name, rec) < 0) {
		tu_hc_not_stored(hd, ENOMEM, 1);
		return false;
	}
	hd->sc_pending++;
	return true;
}

/* May root write an xattr record on J's file? A file with more than one
   link may have a name outside the tree (a hard link planted where
   fs.protected_hardlinks is 0): root writes on it only if nobody but root
   and the file's owner could have made the name it was found under, that
   is, the directory is root's or the file owner's and writable by its owner
   alone (no group or other write bit, which an ACL granting write also
   sets). With no directory known (dedup's deferred records), never. A
   single-link file is in the tree and nowhere else. */
static bool root_may_set_xattr(struct job *j)
{
	if (j->hc->euid != 0 || j->meta.nlink <= 1)
		return true;
	struct tu_hashdir *hd = j->hd;
	if (!hd)
		return false;
	if (!hd->dir_known) {
		struct stat st;
		if (tu_stat_fd(hd->fd, &st) < 0)
			return false;
		hd->dir_uid = st.st_uid;
		hd->dir_mode = st.st_mode;
		hd->dir_known = true;
	}
	return !(hd->dir_mode & 022) && (hd->dir_uid == 0 || hd->dir_uid == j->meta.uid);
}

/* Store REC for the file open as FD. Sets *STORED. */
static void store(struct job *j, int fd, const struct tu_hashrec *rec, bool *stored)
{
	struct tu_hashcache *hc = j->hc;
	struct tu_hashdir *hd = j->hd;
	*stored = false;
	if (hc->o.no_store)
		return;
	if (hd && hd->rdonly) {
		tu_hc_not_stored(hd, EROFS, 1);
		return;
	}
	int r = -EOPNOTSUPP;
	bool linked_out = use_xattr(j) && !root_may_set_xattr(j);
	if (linked_out)
		r = -EPERM;
	if (use_xattr(j) && !linked_out) {
		struct tu_hashrec xrec = *rec;
		r = tu_xattr_set_fd(fd, &xrec);
		if (r == 0) {
			*stored = true;
			COUNT(hc, stored, 1);
			/* A sidecar record of this name is outdated now (the
			   xattr moved ctime): drop it. */
			if (hd && hd->sc && j->name)
				tu_sidecar_del(hd->sc, j->name);
			return;
		}
		if (r == -EOPNOTSUPP && hd)
			hd->no_xattr = true;
	}
	/* Auto: where the xattr is refused, or cannot be had, the sidecar
	   takes the record. A read-only filesystem refuses both. */
	if (!use_sidecar(j) || r == -EROFS) {
		if (hd && linked_out)
			tu_hc_not_stored_why(hd, EPERM, "files with more than one link, in a "
				       "directory others may write: another name may lie outside "
				       "the tree");
		else if (hd)
			tu_hc_not_stored(hd, -r, 1);
		else
			COUNT(hc, not_stored, 1);
		return;
	}
	if (j->defer) {
		/* The caller puts it in the sidecar later (tu_hashdir_put). */
		*j->defer = *rec;
		j->deferred = true;
		return;
	}
	*stored = sidecar_put(hd, j->name, rec, &j->meta);
}

static int clear_file(struct job *j, struct tu_hash_info *out)
{
	struct tu_hashcache *hc = j->hc;
	bool cleared = false;
	/* Removing a record changes the ctime as writing one does: the same
	   rule keeps root from doing it through a planted hard link. */
	if (use_xattr(j) && !root_may_set_xattr(j)) {
		if (j->hd)
			tu_hc_warn(j->hd, j->name, "clear", EPERM, "more than one link, in a "
				   "directory others may write: its record is left alone");
	} else if (use_xattr(j)) {
		struct tu_hashrec rec;
		int r;
		if (hc->o.no_store) {
			r = j->fd >= 0 ? tu_xattr_get_fd(j->fd, &rec) :
					 tu_xattr_get_at(j->dirfd, j->name, &rec);
			if (r == -ENOSYS) {
				r = job_fd(j);
				if (r >= 0)
					r = tu_xattr_get_fd(r, &rec);
			}
			if (r == -EPROTO || r == -EBADMSG)
				r = 0;	/* ours to clear too */
		} else {
			r = j->fd >= 0 ? tu_xattr_remove_fd(j->fd) :
					 tu_xattr_remove_at(j->dirfd, j->name);
			if (r == -ENOSYS) {
				r = job_fd(j);
				if (r >= 0)
					r = tu_xattr_remove_fd(r);
			}
		}
		if (r == 0) {
			cleared = true;
		} else if (r == -EOPNOTSUPP) {
			if (j->hd)
				j->hd->no_xattr = true;
		} else if (r != -ENODATA) {
			if (!j->op)
				j->op = "clear";
			return r;
		}
	}
	if (use_sidecar(j)) {
		struct tu_sidecar *sc = tu_hc_dir_sidecar(j->hd);
		if (sc) {
			if (hc->o.no_store)
				cleared |= tu_sidecar_find(sc, j->name) != NULL;
			else
				cleared |= tu_sidecar_del(sc, j->name);
		}
	}
	out->status = cleared ? TU_HASH_CLEARED : TU_HASH_NONE;
	return 0;
}

/* Deal with one regular file as the mode says. */
static int file_do(struct job *j, struct tu_hash_info *out)
{
	struct tu_hashcache *hc = j->hc;
	enum tu_hashcache_mode mode = hc->o.mode;
	memset(out, 0, sizeof *out);
	out->size = j->meta.size;
	if (mode == TU_HASHCACHE_CLEAR)
		return clear_file(j, out);

	struct cand best;
	int r = lookup(j, &best);
	if (r < 0)
		return r;
	if (mode == TU_HASHCACHE_SHOW) {
		out->status = best.m == M_FRESH ? TU_HASH_SHOWN : TU_HASH_MISSING;
		if (best.m == M_FRESH)
			set_digest(out, best.rec.digest);
		return 0;
	}
	if (mode == TU_HASHCACHE_UPDATE && best.m == M_FRESH) {
		out->status = TU_HASH_CACHED;
		set_digest(out, best.rec.digest);
		COUNT(hc, cached, 1);
		return 0;
	}

	int fd = job_fd(j);
	if (fd < 0)
		return fd;
	struct fmeta pre = j->meta;
	if (j->fd < 0) {
		/* Opened here: make sure it is the regular file statx saw. */
		r = meta_fd(fd, &pre);
		if (r < 0) {
			j->op = "stat";
			return r;
		}
		if (!S_ISREG(pre.mode) || pre.ino != j->meta.ino) {
			j->op = "hash";
			j->detail = "replaced while being read; not stored";
			return -EAGAIN;
		}
	}
	struct tu_hashrec rec;
	r = compute(hc, fd, &pre, &rec);
	if (r == -EAGAIN) {
		j->op = "hash";
		j->detail = "changed while being read; not stored";
	} else if (r < 0) {
		j->op = "read";
	}
	if (r < 0)
		return r;
	set_digest(out, rec.digest);

	bool keep = false;	/* store the new record? */
	bool equal = memcmp(rec.digest, best.rec.digest, 16) == 0;
	if (mode == TU_HASHCACHE_UPDATE) {
		out->status = TU_HASH_HASHED;
		keep = true;
	} else if (best.m == M_NONE) {
		out->status = TU_HASH_NEW;
		keep = true;
	} else if (best.m == M_STALE) {
		out->status = TU_HASH_CHANGED;
		keep = true;
	} else if (equal) {
		/* A racy record that proved right is refreshed, so that it is
		   trusted next time. */
		out->status = TU_HASH_OK;
		keep = best.m == M_RACY;
	} else if (best.m == M_RACY) {
		out->status = TU_HASH_CHANGED;
		keep = true;
	} else {
		out->status = TU_HASH_CORRUPT;
		keep = hc->o.fix;
	}
	if (keep)
		store(j, fd, &rec, &out->stored);
	return 0;
}

static void job_init(struct job *j, struct tu_hashcache *hc, struct tu_hashdir *hd, int dirfd,
		     const char *name, int fd)
{
	memset(j, 0, sizeof *j);
	j->hc = hc;
	j->hd = hd;
	j->dirfd = dirfd;
	j->name = name;
	j->fd = fd;
	j->myfd = -1;
}

static void job_done(struct job *j)
{
	if (j->myfd >= 0)
		close(j->myfd);
	j->myfd = -1;
}

static void count_file(struct tu_hashcache *hc, const struct tu_hash_info *h)
{
	COUNT(hc, files, 1);
	COUNT(hc, status[h->status], 1);
	if (hc->o.stats)
		atomic_fetch_add(&hc->o.stats->entries, 1);
}

/* NAME in HD, known only by name: statx it, and deal with it if it is a
   regular file. PATH: what to call it in output (NULL: built). */
void tu_hc_dir_name(struct tu_hashdir *hd, const char *name, const char *path)
{
	struct tu_hashcache *hc = hd->hc;
	struct job j;
	job_init(&j, hc, hd, hd->fd, name, -1);
	int r = tu_hc_meta_at(hd->fd, name, &j.meta);
	if (r == -ENOENT)
		return;		/* gone meanwhile: nothing to say about it */
	if (r < 0) {
		tu_hc_report(hd, path, name, "stat", -r, NULL);
		return;
	}
	if (!S_ISREG(j.meta.mode)) {
		COUNT(hc, skipped, 1);
		return;
	}
	struct tu_hash_info h;
	r = file_do(&j, &h);
	job_done(&j);
	hd->files_seen++;
	if (hd->sc)
		tu_sidecar_seen(hd->sc, name);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		tu_hc_report(hd, path, name, j.op ? j.op : "hash", -r, j.detail);
		return;
	}
	count_file(hc, &h);
	if (!hc->o.file || tu_rep_stopped(&hc->rep))
		return;
	char *p = path ? NULL : tu_hc_path_of(hd, name);
	pthread_mutex_lock(&hc->out_lock);
	hc->o.file(path ? path : p ? p : name, &h, hc->o.ctx);
	pthread_mutex_unlock(&hc->out_lock);
	free(p);
}

/* A TU_TMP_PREFIX name: ours if it is a sidecar a crash left behind. Such a
   file is removed once it is old enough that no run can still be writing it. */
void tu_hc_dir_tmp_name(struct tu_hashdir *hd, const char *name)
{
	struct tu_hashcache *hc = hd->hc;
	if (hc->o.no_store || hc->o.mode == TU_HASHCACHE_SHOW || hd->rdonly)
		return;
	struct fmeta m;
	if (tu_hc_meta_at(hd->fd, name, &m) < 0 || !S_ISREG(m.mode) || m.uid != hc->euid ||
	    now_coarse_ns() - m.mtime < TU_HC_STALE_TMP_AGE)
		return;
	int fd = tu_file_open_at(hd->fd, name, false);
	if (fd < 0)
		return;
	char head[16];
	ssize_t n = tu_read_some(fd, head, sizeof head);
	struct fmeta again;
	/* Ours: it starts as a sidecar does, or it is empty and 0600, as a
	   run killed right after making it leaves it (nothing to lose). */
	bool looks_ours = (n == (ssize_t)sizeof head && memcmp(head, "spookyhashes ", 13) == 0) ||
			  (n == 0 && (m.mode & 07777) == 0600);
	bool ours = looks_ours && meta_fd(fd, &again) == 0 && again.ino == m.ino;
	close(fd);
	if (ours)
		tu_unlink_at(hd->fd, name);
}

/* ---- entry points ------------------------------------------------------------------------------- */

void tu_hashcache_opts_init(struct tu_hashcache_opts *o)
{
	memset(o, 0, sizeof *o);
}

int tu_hashcache_open(struct tu_hashcache **out, const struct tu_hashcache_opts *o)
{
	struct tu_hashcache *hc = calloc(1, sizeof *hc);
	*out = NULL;
	if (!hc)
		return -ENOMEM;
	hc->o = *o;
	hc->euid = geteuid();
	pthread_mutex_init(&hc->out_lock, NULL);
	tu_rep_init(&hc->rep, hc->o.error, hc->o.warning, hc->o.ctx, hc->o.stats, &hc->out_lock);
	pthread_mutex_init(&hc->pool_lock, NULL);
	*out = hc;
	return 0;
}

void tu_hashcache_close(struct tu_hashcache *hc)
{
	if (!hc)
		return;
	for (size_t i = 0; i < hc->npool; i++)
		free(hc->pool[i]);
	free(hc->pool);
	pthread_mutex_destroy(&hc->out_lock);
	pthread_mutex_destroy(&hc->pool_lock);
	free(hc);
}

int tu_hashdir_open(struct tu_hashcache *hc, int dirfd, const char *display,
		    struct tu_hashdir **out)
{
	*out = NULL;
	struct tu_hashdir *hd = tu_hc_dir_new(hc, dirfd, NULL);
	if (!hd)
		return -ENOMEM;
	if (display && !(hd->display = strdup(display))) {
		free(hd);
		return -ENOMEM;
	}
	*out = hd;
	return 0;
}

int tu_hashdir_close(struct tu_hashdir *hd)
{
	if (!hd)
		return 0;
	int r = tu_hc_dir_finish(hd, false);
	tu_hc_dir_free(hd);
	return r;
}

/* J, set up for the caller's open file: stat it, and refuse anything but
   a regular file (-EINVAL). */
static int fd_job_start(struct job *j)
{
	int r = meta_fd(j->fd, &j->meta);
	if (r < 0)
		return r;
	return S_ISREG(j->meta.mode) ? 0 : -EINVAL;
}

int tu_hashcache_get_fd(struct tu_hashcache *hc, struct tu_hashdir *hd, int fd,
			const char *name, struct tu_hash_info *out)
{
	struct job j;
	job_init(&j, hc, hd, hd ? hd->fd : -1, name, fd);
	int r = fd_job_start(&j);
	if (r < 0)
		return r;
	r = file_do(&j, out);
	job_done(&j);
	if (hd && name && hd->sc)
		tu_sidecar_seen(hd->sc, name);
	if (r == 0)
		count_file(hc, out);
	return r;
}

int tu_hashcache_get_fd_defer(struct tu_hashcache *hc, int fd, struct tu_hash_info *out,
			      struct tu_hashrec *pending, bool *has_pending)
{
	struct job j;
	job_init(&j, hc, NULL, -1, NULL, fd);
	j.defer = pending;
	*has_pending = false;
	int r = fd_job_start(&j);
	if (r < 0)
		return r;
	r = file_do(&j, out);
	job_done(&j);
	if (r == 0) {
		count_file(hc, out);
		*has_pending = j.deferred;
	}
	return r;
}

int tu_hashdir_put(struct tu_hashdir *hd, const char *name, const struct tu_hashrec *r)
{
	if (hd->hc->o.no_store)
		return 0;
	if (hd->rdonly) {
		tu_hc_not_stored(hd, EROFS, 1);
		return -EROFS;
	}
	/* Who may read the file decides whether its digest may go in the
	   sidecar. A name gone meanwhile gets no record (nothing to say); one
	   that is another inode now gets a record that will never match. */
	struct fmeta m;
	int e = tu_hc_meta_at(hd->fd, name, &m);
	if (e < 0) {
		COUNT(hd->hc, not_stored, 1);
		return 0;
	}
	return sidecar_put(hd, name, r, &m) ? 0 : -(hd->nostore_err ? hd->nostore_err : EIO);
}

int tu_hashcache_get_at(struct tu_hashcache *hc, struct tu_hashdir *hd, int dirfd,
			const char *name, const struct tu_hash_state *st,
			struct tu_hash_info *out)
{
	struct job j;
	job_init(&j, hc, hd, dirfd, name, -1);
	j.meta = (struct fmeta){
		.mode = S_IFREG, .uid = st->uid, .size = st->size, .mtime = st->mtime_ns,
		.ctime = st->ctime_ns, .ino = st->ino,
	};
	memset(out, 0, sizeof *out);
	out->size = st->size;
	out->status = TU_HASH_MISSING;
	struct cand best;
	int r = lookup(&j, &best);
	if (r == 0 && best.m == M_FRESH && j.myfd >= 0) {
		/* The fallback opened the name: its xattr counts only if it is
		   the file the caller saw. */
		struct fmeta now;
		if (meta_fd(j.myfd, &now) < 0 || !S_ISREG(now.mode) || now.ino != st->ino ||
		    now.size != st->size || now.mtime != st->mtime_ns)
			best.m = M_NONE;
	}
	job_done(&j);
	if (r < 0)	/* the fallback open failed, or (show) the xattr was refused */
		return j.op && strcmp(j.op, "open") == 0 ? r : -ENODATA;
	if (best.m != M_FRESH)
		return -ENODATA;
	if (hd && hd->sc)
		tu_sidecar_seen(hd->sc, name);
	out->status = TU_HASH_CACHED;
	set_digest(out, best.rec.digest);
	COUNT(hc, cached, 1);
	count_file(hc, out);
	return 0;
}

int tu_hashcache_digest_path(struct tu_hashcache *hc, const char *path,
			     struct tu_hash_info *out)
{
	memset(out, 0, sizeof *out);
	int fd = path ? tu_file_open_path(path) : 0;
	if (fd < 0)
		return fd;
	unsigned char digest[16];
	uint64_t done;
	int r = hash_data(hc, fd, 0, digest, &done);
	COUNT(hc, hashed, 1);
	if (path)
		close(fd);
	if (r < 0)
		return r;
	out->status = TU_HASH_HASHED;
	out->size = done;
	set_digest(out, digest);
	return 0;
}
