/* SPDX-License-Identifier: Apache-2.0 */
/* dedup_compare.c: stages 3 to 6 of dedup (see dedup.c) for one size group,
 * in the worker threads: the candidates (one per inode) are split by ever
 * dearer keys (metadata, then hash records or the first 4 KiB, then the
 * whole-file hash, then the xattrs), with the data each level will read
 * asked for ahead; each run still equal goes to dd_final_group
 * (dedup_link.c). Also the byte and xattr comparisons it uses.
 *
 * It must never change a file (only the hash cache stores records), never
 * read a file not re-checked to be the inode the walk saw, and never keep
 * more files open than its share of the fd budget.
 */
#define TU_INTERNAL
#include "dedup.h"
#include "data.h"
#include "dedup_pipeline.h"
#include "hashstore.h"
#include "meta.h"
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
#include <sys/sysmacros.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/xattr.h>

enum level { L_META, L_HASH, L_FULL, L_XATTR, L_FINAL };

void dd_cand_close(struct worker *w, struct cand *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		w->nopen--;
	}
}

/* The file opened for reading through its first name, checked to be the
   inode the walk saw (and, once compared, unchanged since). */
int dd_cand_fd(struct worker *w, struct cand *c)
{
	struct dd *dd = w->dd;
	if (c->fd >= 0)
		return c->fd;
	if (c->dead)
		return -ESTALE;
	const struct dfile *f = c->f;
	/* "rel/name" in the worker's buffer: no allocation per file. */
	size_t dl = strlen(f->dir->rel), nl = strlen(f->name) + 1;
	if (dl + 1 + nl > w->pathcap) {
		size_t cap = (dl + 1 + nl) * 2;
		char *p = realloc(w->path, cap);
		if (!p)
			return -ENOMEM;
		w->path = p;
		w->pathcap = cap;
	}
	char *rel = w->path;
	memcpy(rel, f->dir->rel, dl);
	if (dl)
		rel[dl++] = '/';
	memcpy(rel + dl, f->name, nl);
	int flags = O_RDONLY | O_NONBLOCK;
	int fd = -EPERM;
	if (dd->euid == 0 || f->uid == dd->euid)
		fd = tu_open_beneath(dd->root_fds[f->dir->root], rel, flags | O_NOATIME,
				     dd->o->one_file_system);
	if (fd == -EPERM)
		fd = tu_open_beneath(dd->root_fds[f->dir->root], rel, flags,
				     dd->o->one_file_system);
	if (fd < 0) {
		c->dead = true;
		if (fd != -ENOENT)
			dd_report(dd, f, "open", -fd, NULL);
		return fd;
	}
	struct fstate now;
	int r = dd_state_fd(fd, &now);
	if (r == 0 && (!S_ISREG(now.mode) || now.dev != f->dev || now.ino != f->ino ||
		       now.size != f->size || now.mtime != f->mtime ||
		       (c->opened && !dd_same_file_state(&now, &c->st))))
		r = -ESTALE;
	if (r < 0) {
		close(fd);
		c->dead = true;
		if (r == -ESTALE) {
			COUNT(dd, changed, 1);
			dd_warn(dd, f, "deduplicate", EAGAIN, "changed during the run; left alone");
		} else {
			dd_report(dd, f, "stat", -r, NULL);
		}
		return r;
	}
	if (!c->opened)
		c->st = now;
	c->opened = true;
	c->fd = fd;
	w->nopen++;
	return fd;
}

/* SpookyHash V2 of the first PREFIX_LEN bytes: for a file no longer than
   that, its full digest, as the hash cache would record it. */
/* C's key from its first LEN bytes, read into buf1. */
static void set_prefix_key(struct worker *w, struct cand *c, size_t len)
{
	COUNT(w->dd, prefixes, 1);
	if (w->dd->o->stats)
		atomic_fetch_add(&w->dd->o->stats->bytes, len);
	uint64_t h1 = 0, h2 = 0;	/* in: the seeds */
	tu_spooky_hash128(w->buf1, len, &h1, &h2);
	tu_spooky_digest(h1, h2, c->pkey);
	if (c->f->size <= PREFIX_LEN) {
		memcpy(c->digest, c->pkey, 16);
		c->have_digest = true;
	}
	c->keyed = true;
}

static int key_prefix(struct worker *w, struct cand *c)
{
	if (c->keyed) {
		/* Read before (dd_read_ahead), maybe before an earlier level
		   used c->key. */
		memcpy(c->key, c->pkey, 16);
		return 0;
	}
	int fd = dd_cand_fd(w, c);
	if (fd < 0)
		return fd;
	size_t want = c->f->size < PREFIX_LEN ? (size_t)c->f->size : PREFIX_LEN, got;
	w->buf1_of = NULL;
	int r = tu_pread_full(fd, w->buf1, want, 0, &got);
	if (r < 0) {
		dd_report(w->dd, c->f, "read", -r, NULL);
		return r;
	}
	if (got != want)
		return -ESTALE;
	set_prefix_key(w, c, got);
	memcpy(c->key, c->pkey, 16);
	return 0;
}

/* The full digest through the hash cache (which stores the record). */
static int key_full(struct worker *w, struct cand *c)
{
	struct dd *dd = w->dd;
	if (c->have_digest) {
		memcpy(c->key, c->digest, 16);
		return 0;
	}
	int fd = dd_cand_fd(w, c);
	if (fd < 0)
		return fd;
	struct tu_hash_info h;
	struct pending_rec p = { .f = c->f };
	bool has_pending;
	int r = tu_hashcache_get_fd_defer(dd->hc, fd, &h, &p.rec, &has_pending);
	if (r == -EAGAIN) {
		COUNT(dd, changed, 1);
		dd_warn(dd, c->f, "deduplicate", EAGAIN, "changed while being read; left alone");
		return -ESTALE;
	}
	if (r < 0) {
		dd_report(dd, c->f, "hash", -r, NULL);
		return r;
	}
	if (!h.have_digest)
		return -ENODATA;
	if (has_pending) {
		pthread_mutex_lock(&dd->lock);
		if (dd_push((void **)&dd->pending, &dd->npending, &dd->cappending,
			 sizeof *dd->pending))
			dd->pending[dd->npending++] = p;
		pthread_mutex_unlock(&dd->lock);
	}
	if (h.status == TU_HASH_CACHED || h.status == TU_HASH_SHOWN) {
		COUNT(dd, cached, 1);
	} else {
		COUNT(dd, hashed, 1);
		if (dd->o->stats)
			atomic_fetch_add(&dd->o->stats->bytes, h.size);
	}
	if (h.stored) {
		/* Storing the record moved ctime, and only ctime: take the new
		   one as the state compared. */
		struct fstate now;
		r = dd_state_fd(fd, &now);
		if (r < 0 || now.size != c->st.size || now.mtime != c->st.mtime)
			return -ESTALE;
		c->st = now;
	}
	memcpy(c->digest, h.digest, 16);
	memcpy(c->key, h.digest, 16);
	c->have_digest = true;
	return 0;
}

static int key_xattr(struct worker *w, struct cand *c)
{
	int fd = dd_cand_fd(w, c);
	if (fd < 0)
		return fd;
	char *blob;
	size_t len;
	int r = tu_xattr_blob(fd, TU_XATTR_NAME, &blob, &len);
	if (r < 0) {
		dd_report(w->dd, c->f, "read the extended attributes of", -r, NULL);
		return r;
	}
	uint64_t h1 = 0, h2 = 0;	/* in: the seeds */
	tu_spooky_hash128(blob ? blob : "", len, &h1, &h2);
	tu_spooky_digest(h1, h2, c->key);
	free(blob);
	/* Read after c->st was taken: a later change moves ctime, which
	   confirm() checks after comparing. */
	c->no_xattrs = len == 0;
	return 0;
}

static void key_meta(const struct dd *dd, struct cand *c)
{
	dd_meta_key(dd, c->f, c->key);
}

bool dd_meta_equal(const struct dd *dd, const struct cand *a, const struct cand *b)
{
	const struct tu_dedup_opts *o = dd->o;
	if (dd_reflinking(dd))
		return true;
	if (!o->ignore_owner && (a->st.uid != b->st.uid || a->st.gid != b->st.gid))
		return false;
	if (!o->ignore_mode && a->st.mode != b->st.mode)
		return false;
	if (!o->ignore_time && a->st.mtime != b->st.mtime)
		return false;
	return true;
}

/* Are the contents of A and B the same, byte for byte? 1, 0, or -errno. */
int dd_bytes_equal(struct worker *w, struct cand *a, struct cand *b)
{
	int fa = dd_cand_fd(w, a), fb = dd_cand_fd(w, b);
	if (fa < 0 || fb < 0)
		return fa < 0 ? fa : fb;
	COUNT(w->dd, compared, 1);
	uint64_t off = 0, size = a->st.size;
	/* A (the kept file) is compared with every other of its group: where
	   it fits in buf1, it is read once, whole, for all of them. A change
	   to it since is caught by its ctime, checked after the comparisons. */
	bool whole = size <= KEEP_BUF;
	if (whole && w->buf1_of != a->f) {
		size_t ga;
		w->buf1_of = NULL;
		int r = tu_pread_full(fa, w->buf1, (size_t)size, 0, &ga);
		if (r < 0)
			return r;
		if (w->dd->o->stats)
			atomic_fetch_add(&w->dd->o->stats->bytes, ga);
		if (ga != size)
			return -ESTALE;
		w->buf1_of = a->f;
	}
	while (off < size) {
		size_t want = size - off < CMP_BUF ? (size_t)(size - off) : CMP_BUF, ga = 0, gb;
		int r = 0;
		if (!whole)
			r = tu_pread_full(fa, w->buf1, want, off, &ga);
		if (r == 0 && !whole && ga != want)
			return -ESTALE;
		if (r == 0)
			r = tu_pread_full(fb, w->buf2, want, off, &gb);
		if (r < 0)
			return r;
		/* gb is set: tu_pread_full sets it whenever it returns 0. */
		// NOLINTBEGIN(clang-analyzer-core.UndefinedBinaryOperatorResult)
		if (w->dd->o->stats)
			atomic_fetch_add(&w->dd->o->stats->bytes, ga + gb);
		if (gb != want)
			return -ESTALE;
		// NOLINTEND(clang-analyzer-core.UndefinedBinaryOperatorResult)
		if (memcmp(whole ? w->buf1 + off : w->buf1, w->buf2, want) != 0)
			return 0;
		off += want;
	}
	return 1;
}

int dd_xattrs_equal(struct worker *w, struct cand *a, struct cand *b)
{
	/* Both had none (but ours) when keyed, and confirm() checks after
	   this that neither has changed (ctime) since: equal, nothing to
	   read again. */
	if (a->no_xattrs && b->no_xattrs)
		return 1;
	char *ba, *bb;
	size_t la, lb;
	int fa = dd_cand_fd(w, a), fb = dd_cand_fd(w, b);
	if (fa < 0 || fb < 0)
		return fa < 0 ? fa : fb;
	int r = tu_xattr_blob(fa, TU_XATTR_NAME, &ba, &la);
	if (r < 0)
		return r;
	r = tu_xattr_blob(fb, TU_XATTR_NAME, &bb, &lb);
	if (r < 0) {
		free(ba);
		return r;
	}
	bool eq = la == lb && (la == 0 || memcmp(ba, bb, la) == 0);
	free(ba);
	free(bb);
	return eq;
}

/* Still as it was when compared? (Opened again if it was closed.) */
bool dd_unchanged(struct worker *w, struct cand *c)
{
	struct fstate now;
	return dd_cand_fd(w, c) >= 0 && dd_state_fd(c->fd, &now) == 0 && dd_same_file_state(&now, &c->st);
}

static int cmp_key(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->dead != b->dead)
		return a->dead ? 1 : -1;
	return memcmp(a->key, b->key, 16);
}

/* C is about to be read (its first PREFIX_LEN bytes, or WHOLE): with a
   cold cache the device should have many reads to work on at once, not
   one per worker. A prefix the cache holds is read at once, without
   waiting (RWF_NOWAIT); otherwise the kernel is asked to start reading
   (POSIX_FADV_WILLNEED). Where reads never wait (tmpfs refuses RWF_NOWAIT
   as having nothing to wait for), this is not tried again on that
   filesystem. */
void dd_read_ahead(struct worker *w, struct cand *c, bool whole)
{
	if ((w->ra_off && w->ra_dev == c->f->dev) || (!whole && c->keyed))
		return;
	int fd = dd_cand_fd(w, c);
	if (fd < 0)
		return;		/* reported; C is out of the running */
	/* WHOLE: one byte tells whether the cache has the start (then,
	   most likely, the rest) and whether reads here can wait at all. */
	char byte;
	size_t want = whole ? 1 : c->f->size < PREFIX_LEN ? (size_t)c->f->size : PREFIX_LEN;
	if (!whole)
		w->buf1_of = NULL;
	ssize_t n = tu_pread_nowait(fd, whole ? &byte : w->buf1, want);
	if (n >= 0 && (size_t)n == want) {
		if (!whole)
			set_prefix_key(w, c, want);
		return;
	}
	if (n == -EOPNOTSUPP) {
		w->ra_off = true;
		w->ra_dev = c->f->dev;
		return;
	}
	uint64_t len = whole ? (c->f->size < READ_AHEAD_MAX ? c->f->size : READ_AHEAD_MAX) :
			       PREFIX_LEN;
	tu_will_need(fd, len);
}

static int level_key(struct worker *w, struct cand *c, enum level lv)
{
	switch (lv) {
	case L_META:
		key_meta(w->dd, c);
		return 0;
	case L_HASH:
		return key_prefix(w, c);
	case L_FULL:
		return key_full(w, c);
	case L_XATTR:
		if (!dd_reflinking(w->dd))
			return key_xattr(w, c);
		memset(c->key, 0, 16);	/* each file keeps its own xattrs */
		return 0;
	case L_FINAL:
		break;
	}
	return 0;
}

/* Split V[0..N) by LV's key and go on with each run of two or more. */
static void refine(struct worker *w, struct cand *v, size_t n, enum level lv)
{
	if (lv == L_FINAL) {
		dd_final_group(w, v, n);
		return;
	}
	enum level next = lv + 1;
	bool use_digest = false;	/* the key is the full digest of all */
	if (lv == L_HASH) {
		/* Cached hashes (read by name, see dd_lookup_records) answer
		   first. Where every candidate has one, they decide and
		   nothing is opened; where some have, only the others are
		   read, whole (and their records stored); where none has,
		   the first block is compared first. */
		size_t live = 0, cached = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].dead)
				continue;
			live++;
			if (v[i].f->cached && !v[i].have_digest) {
				memcpy(v[i].digest, v[i].f->digest, 16);
				v[i].have_digest = true;
			}
			if (v[i].have_digest) {
				memcpy(v[i].key, v[i].digest, 16);
				cached++;
			}
		}
		COUNT(w->dd, cached, cached);
		use_digest = cached > 0;
		if (use_digest || v[0].f->size <= PREFIX_LEN)
			next = L_XATTR;
	}
	size_t ahead = 0;	/* v[..ahead) asked for ahead */
	for (size_t i = 0; i < n; i++) {
		/* What this level reads is asked for ahead: first bytes, or
		   whole files (L_FULL, or L_HASH where records decide for
		   some). */
		if (ahead <= i)
			ahead = i + 1;	/* I is read now; those before it are done */
		if (lv == L_HASH || lv == L_FULL)
			for (; ahead < n && ahead < i + READ_AHEAD && w->nopen < w->max_open; ahead++)
				if (!v[ahead].dead && !v[ahead].have_digest)
					dd_read_ahead(w, &v[ahead], use_digest || lv == L_FULL);
		if (v[i].dead || (use_digest && v[i].have_digest))
			continue;
		int r = use_digest && v[i].f->size > PREFIX_LEN ? key_full(w, &v[i]) :
								  level_key(w, &v[i], lv);
		if (r < 0) {
			v[i].dead = true;
			dd_cand_close(w, &v[i]);
		}
		/* A large group is not held open: files are opened again
		   (and checked to be unchanged) when needed. */
		if (w->nopen > w->max_open)
			dd_cand_close(w, &v[i]);
	}
	qsort(v, n, sizeof *v, cmp_key);
	for (size_t i = 0; i < n && !v[i].dead;) {
		size_t j = i + 1;
		while (j < n && !v[j].dead && memcmp(v[i].key, v[j].key, 16) == 0)
			j++;
		if (j - i >= 2)
			refine(w, v + i, j - i, next);
		/* Runs are disjoint: these are done with. */
		for (size_t k = i; k < j; k++)
			dd_cand_close(w, &v[k]);
		i = j;
	}
}

/* A size group's candidates: one per inode, its names after it. */
struct gwork {
	struct cand *v;
	size_t n;
};

static bool group_cands(struct worker *w, size_t g, struct gwork *gw)
{
	struct dd *dd = w->dd;
	size_t start = dd->groups[g][0], end = dd->groups[g][1], n = 0;
	for (size_t i = start; i < end; i++)
		if (i == start || dd->files[i].ino != dd->files[i - 1].ino)
			n++;
	/* n >= 1: a group has files (start < end). */
	// NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI)
	struct cand *v = calloc(n, sizeof *v);
	if (!v) {
		dd_report(dd, &dd->files[start], "deduplicate", ENOMEM, NULL);
		return false;
	}
	size_t k = 0;
	for (size_t i = start; i < end; i++) {
		if (i > start && dd->files[i].ino == dd->files[i - 1].ino) {
			v[k - 1].nnames++;
			continue;
		}
		v[k++] = (struct cand){ .f = &dd->files[i], .nnames = 1, .fd = -1 };
	}
	*gw = (struct gwork){ v, n };
	return true;
}

/* Before a batch of groups is worked on, the data each will read first
   is asked for (dd_read_ahead): with a cold cache the device then has the
   reads of several groups at once, where most groups hold two or three
   files. Only for files that will be read: paired with another by size
   and metadata, and with no hash record; whole files where some of the
   group have records (refine() then hashes the others whole), else the
   first bytes. Up to half the worker's open files. */
static void batch_read_ahead(struct worker *w, struct gwork *gw, size_t ng)
{
	size_t budget = w->max_open / 2;
	for (size_t k = 0; k < ng && w->nopen < budget; k++) {
		bool any_cached = false;
		for (size_t i = 0; i < gw[k].n; i++)
			any_cached |= gw[k].v[i].f->paired && gw[k].v[i].f->cached;
		for (size_t i = 0; i < gw[k].n && w->nopen < budget; i++) {
			struct cand *c = &gw[k].v[i];
			if (c->f->paired && !c->f->cached && !c->dead)
				dd_read_ahead(w, c, any_cached);
		}
	}
}

static void do_group(struct worker *w, struct gwork *gw)
{
	w->buf1_of = NULL;
	refine(w, gw->v, gw->n, L_META);
	for (size_t i = 0; i < gw->n; i++)
		dd_cand_close(w, &gw->v[i]);
	free(gw->v);
	gw->v = NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct dd *dd = w->dd;
	for (;;) {
		/* A few groups at a time (see batch_read_ahead). */
		if (tu_rep_stopped(&dd->rep))
			break;
		size_t g0 = atomic_fetch_add(&dd->next_group, GROUP_BATCH);
		if (g0 >= dd->ngroups)
			break;
		size_t ng = dd->ngroups - g0 < GROUP_BATCH ? dd->ngroups - g0 : GROUP_BATCH;
		struct gwork gw[GROUP_BATCH];
		size_t have = 0;
		for (size_t k = 0; k < ng; k++)
			if (group_cands(w, g0 + k, &gw[have]))
				have++;
		batch_read_ahead(w, gw, have);
		for (size_t k = 0; k < have; k++)
			do_group(w, &gw[k]);
	}
	return NULL;
}

int dd_run_workers(struct dd *dd)
{
	int jobs = dd->o->jobs > 0 ? dd->o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	if ((size_t)jobs > dd->ngroups)
		jobs = dd->ngroups ? (int)dd->ngroups : 1;
	struct worker *ws = calloc((size_t)jobs, sizeof *ws);
	pthread_t *th = calloc((size_t)jobs, sizeof *th);
	int r = 0;
	if (!ws || !th)
		r = -ENOMEM;
	/* Each worker keeps a share of the fds left over: besides its
	   candidates it holds a directory and the kept file at a time. */
	size_t max_open = MAX_OPEN;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		size_t spare = rl.rlim_cur > 16 + dd->ndirs ? rl.rlim_cur - 16 - dd->ndirs : 0;
		size_t share = spare / (size_t)jobs / 2;
		if (share < max_open)
			max_open = share;
		if (max_open < 2)
			max_open = 2;
	}
	if (r == 0)
		dd_lookup_records(dd, jobs);
	int started = 0;
	for (int i = 0; r == 0 && i < jobs; i++) {
		ws[i].dd = dd;
		ws[i].max_open = max_open;
		ws[i].buf1 = malloc(KEEP_BUF);
		ws[i].buf2 = malloc(CMP_BUF);
		if (!ws[i].buf1 || !ws[i].buf2) {
			r = -ENOMEM;
			break;
		}
		/* The calling thread is worker 0. */
		if (i > 0 && pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0)
			break;
		started = i + 1;
	}
	if (started > 0)
		worker_main(&ws[0]);
	for (int i = 1; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; ws && i < jobs; i++) {
		free(ws[i].buf1);
		free(ws[i].buf2);
		free(ws[i].path);
	}
	free(ws);
	free(th);
	return r;
}
