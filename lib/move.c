/* SPDX-License-Identifier: Apache-2.0 */
/* move.c: mvtree's algorithm. A rename within one filesystem; across
 * filesystems a copy by tu_cptree into a hidden name beside DEST, a check of
 * every entry against SOURCE, a sync, a marker, the rename into place, and
 * only then the removal of SOURCE by the rmtree engine.
 *
 * The states a crash can leave, and what the next run does in each, are
 * documented in mvtree(1) ("CRASH SAFETY") and follow from this order:
 *
 *	1. hidden copy being built (.tu-mv-KEY beside DEST), no marker:
 *	   SOURCE is whole; the next run removes the hidden copy, starts again
 *	2. marker .tu-mv-KEY.ok written and synced (the copy is verified and
 *	   synced), hidden copy not yet renamed: the next run renames it
 *	3. DEST in place, marker present: the next run removes what is left of
 *	   SOURCE, then the marker
 *
 * KEY is SOURCE's (dev, ino) in hex, so the next run of the same command
 * finds its own names; the marker records SOURCE's and the copy's identity,
 * so a DEST that is not our copy is never taken for one.
 *
 * This file must never remove or change anything of SOURCE before its copy
 * is in place under DEST and synced; never replace or merge into an existing
 * DEST; and it holds neither a copier nor a remover of its own: tu_cptree
 * copies, the rmtree engine removes.
 */
#define TU_INTERNAL
#include "walk.h"
#include "move.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MV_PREFIX TU_TMP_PREFIX "mv-"
#define MV_MARK_SUFFIX ".ok"
#define MV_MARK_MAGIC "tu-mvtree-marker 1"
/* The one entry of the hidden directory that carries a non-directory
   SOURCE (tu_cptree copies directories only; see stage_nondir()). */
#define MV_ENTRY "e"

/* Every SOURCE entry found equal to its copy, by (dev, ino), with the ctime,
   mtime and size it had then: the removal takes nothing else. Open
   addressing; grows by doubling; about 48 bytes an entry. */
struct vkey {
	uint64_t dev, ino;	/* ino 0: free slot */
	int64_t ctime, mtime;
	uint64_t size;
	mode_t mode;
	uid_t uid;
	bool taken;		/* a name of it was let go */
};

struct vset {
	pthread_mutex_t lock;
	struct vkey *keys;
	size_t cap, count;
};

/* Where a path from tu_cptree or tu_rmtree starts, and what to show instead. */
struct mapping {
	char from[192];
	const char *to;
};

struct mv {
	const struct tu_mvtree_opts *o;
	const char *src_disp, *dst_disp;
	char *sbuf, *dbuf;
	int spfd, dpfd;
	const char *slast, *dlast;
	struct tu_ident sid;		/* SOURCE as we found it */
	bool src_is_dir;
	char hid[sizeof MV_PREFIX + 32];		/* the hidden copy, in dpfd */
	char mark[sizeof MV_PREFIX + 32 + sizeof MV_MARK_SUFFIX];	/* in dpfd */
	struct mapping map[4];
	int nmap;
	pthread_mutex_t lock;		/* one callback at a time */
	bool enospc;			/* a copy failure said ENOSPC */
	long copy_errors;
	long kept;			/* SOURCE entries kept: changed */
	int64_t t0;			/* the copy began after this */
	bool removing;			/* the first SOURCE entry went */
	struct vset set;		/* what was verified */
	char *swhere, *dwhere;		/* SOURCE's and DEST's directories, as
					   given ("" or ending in '/') */
};

/* What the marker records. */
struct marker {
	bool dir;
	uint64_t sdev, sino;	/* SOURCE */
	uint64_t cdev, cino;	/* the copy (non-directory: its entry) */
	int64_t t0;		/* the copy began after this (ns, realtime) */
};

#ifdef TU_TEST_HOOKS
void (*tu_move_hook)(enum tu_move_point p);
#endif

static void hook(enum tu_move_point p)
{
	if (tu_move_hook)
		tu_move_hook(p);
}

void tu_mvtree_opts_init(struct tu_mvtree_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = TU_CPTREE_TIMEOUT;
}

/* ---- messages ------------------------------------------------------------ */

static int say(struct mv *m, tu_error_fn *fn, const char *path, const char *op, int err,
	       const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path, .detail = detail };
	return tu_call_locked(fn, m->o->ctx, &m->lock, &e);
}

static int fail(struct mv *m, const char *path, const char *op, int err, const char *detail)
{
	return say(m, m->o->error, path, op, err, detail);
}

static void add_map(struct mv *m, const char *from, const char *to)
{
	if (m->nmap < (int)(sizeof m->map / sizeof m->map[0])) {
		snprintf(m->map[m->nmap].from, sizeof m->map[0].from, "%s", from);
		m->map[m->nmap++].to = to;
	}
}

/* PATH as the user should see it: the /proc/self/fd names we hand to
   tu_cptree and tu_rmtree replaced by SOURCE and DEST as given. Longest
   prefix first (the non-directory entry before its hidden directory).
   malloc'd, or NULL. */
static char *shown(const struct mv *m, const char *path)
{
	for (int i = 0; i < m->nmap; i++) {
		size_t n = strlen(m->map[i].from);
		if (strncmp(path, m->map[i].from, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
			char *s;
			if (asprintf(&s, "%s%s", m->map[i].to, path + n) < 0)
				return NULL;
			return s;
		}
	}
	return strdup(path);
}

/* Forward a report from tu_cptree or tu_rmtree (already under their lock). */
static int forward(struct mv *m, tu_error_fn *fn, const struct tu_err *e)
{
	if (!fn)
		return TU_CONTINUE;
	char *p = shown(m, e->path);
	struct tu_err f = *e;
	f.path = p ? p : e->path;
	int r = fn(&f, m->o->ctx);
	free(p);
	return r;
}

static int copy_error(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	m->copy_errors++;
	if (e->err == ENOSPC || e->err == EDQUOT)
		m->enospc = true;
	return forward(m, m->o->error, e);
}

static int copy_warning(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	return forward(m, m->o->warning, e);
}

static void copy_item(const struct tu_copy_item *it, void *ctx)
{
	struct mv *m = ctx;
	struct tu_copy_item c = *it;
	const char *path = it->path;
	if (!m->src_is_dir) {
		/* The hidden directory that carries the entry is ours, not the
		   user's: only the entry is shown, as DEST itself. */
		if (strcmp(path, MV_ENTRY) != 0)
			return;
		path = ".";
	}
	char *s = shown(m, it->src), *d = shown(m, it->dst);
	c.path = path;
	c.src = s ? s : it->src;
	c.dst = d ? d : it->dst;
	m->o->copied(&c, m->o->ctx);
	free(s);
	free(d);
}

static int remove_error(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	return forward(m, m->o->error, e);
}

static void remove_entry(const char *path, bool is_dir, void *ctx)
{
	struct mv *m = ctx;
	if (!m->removing) {
		m->removing = true;
		hook(TU_MOVE_REMOVING);
	}
	if (!m->o->removed)
		return;
	char *p = shown(m, path);
	m->o->removed(p ? p : path, is_dir, m->o->ctx);
	free(p);
}

/* ---- small system pieces ------------------------------------------------- */

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The moment after which any change to SOURCE counts as made after its
   copy began. Returned only once the kernel's coarse clock, which stamps
   ctime, has passed it: a change made from then on carries a later ctime,
   and one made before carries an earlier or equal one. */
static int64_t copy_clock(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	int64_t t0 = ts_ns(t);
	for (;;) {
		struct timespec c;
		clock_gettime(CLOCK_REALTIME_COARSE, &c);
		if (ts_ns(c) > t0)
			return t0;
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
}

/* Did this entry change after the copy began? Directories are left out: the
   removal of their entries moves their ctime, and what is in them is checked
   entry by entry (an entry added later is itself new, and keeps its
   directory). */
static bool changed_since(const struct stat *st, int64_t t0)
{
	return !S_ISDIR(st->st_mode) && ts_ns(st->st_ctim) > t0;
}

/* "/proc/self/fd/FD/NAME": how tu_cptree and tu_rmtree, which take paths,
   reach NAME in a directory we hold, whatever happens to the path the user
   gave. */
static void proc_path(char *out, size_t len, int fd, const char *name)
{
	snprintf(out, len, "/proc/self/fd/%d/%s", fd, name);
}

static int fsync_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* ---- the marker ------------------------------------------------------------ */

static int marker_write(struct mv *m, const struct marker *k)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf,
			 MV_MARK_MAGIC "\nkind %s\nsource %" PRIu64 " %" PRIu64
			 "\ncopy %" PRIu64 " %" PRIu64 "\nt0 %" PRId64 "\nend\n",
			 k->dir ? "dir" : "entry", k->sdev, k->sino, k->cdev, k->cino, k->t0);
	int fd = openat(m->dpfd, m->mark, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (write(fd, buf, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		r = fsync_dir(m->dpfd);
	if (r < 0)
		unlinkat(m->dpfd, m->mark, 0);
	return r;
}

/* Read the marker NAME in DIRFD. 0, -ENOENT, or -EINVAL when it is not a
   whole marker of ours (a crash while it was written: it was then never
   acted on, since the rename comes after its fsync). */
static int marker_read(int dirfd, const char *name, struct marker *k)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	char buf[512];
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)sizeof buf &&
	    (st.st_uid == geteuid() || st.st_uid == 0))
		n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	char kind[16];
	memset(k, 0, sizeof *k);
	if (sscanf(buf, MV_MARK_MAGIC "\nkind %15s\nsource %" SCNu64 " %" SCNu64 "\ncopy %" SCNu64
		   " %" SCNu64 "\nt0 %" SCNd64 "\nend\n",
		   kind, &k->sdev, &k->sino, &k->cdev, &k->cino, &k->t0) != 6 ||
	    !strstr(buf, "\nend\n"))
		return -EINVAL;
	k->dir = strcmp(kind, "dir") == 0;
	return 0;
}

static void marker_remove(struct mv *m)
{
	if (unlinkat(m->dpfd, m->mark, 0) == 0)
		fsync_dir(m->dpfd);
}

/* With SOURCE gone, the marker that names DEST's identity as its copy, if
   any: a run that removed all of SOURCE but was stopped before the marker. */
static int marker_find(struct mv *m, const struct tu_ident *dest, struct marker *k)
{
	int fd = openat(m->dpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	int r = -ENOENT;
	struct dirent *de;
	size_t pl = strlen(MV_PREFIX), sl = strlen(MV_MARK_SUFFIX);
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);
		if (n != pl + 32 + sl || strncmp(de->d_name, MV_PREFIX, pl) != 0 ||
		    strcmp(de->d_name + pl + 32, MV_MARK_SUFFIX) != 0)
			continue;
		struct marker c;
		if (marker_read(m->dpfd, de->d_name, &c) == 0 && c.cdev == (uint64_t)dest->dev &&
		    c.cino == (uint64_t)dest->ino) {
			*k = c;
			snprintf(m->mark, sizeof m->mark, "%s", de->d_name);
			snprintf(m->hid, sizeof m->hid, "%.*s", (int)(pl + 32), de->d_name);
			r = 0;
			break;
		}
	}
	closedir(dir);
	return r;
}

/* ---- what was verified ------------------------------------------------------- */

static size_t vset_slot(const struct vset *v, uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ dev * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h ^ (h >> 31)) & (v->cap - 1);
}

static struct vkey *vset_find_locked(struct vset *v, uint64_t dev, uint64_t ino)
{
	if (!v->cap)
		return NULL;
	for (size_t i = vset_slot(v, dev, ino);; i = (i + 1) & (v->cap - 1)) {
		struct vkey *k = &v->keys[i];
		if (k->ino == 0)
			return NULL;
		if (k->ino == ino && k->dev == dev)
			return k;
	}
}

static int vset_add(struct vset *v, const struct stat *st)
{
	pthread_mutex_lock(&v->lock);
	if ((v->count + 1) * 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct vkey *keys = calloc(cap, sizeof *keys);
		if (!keys) {
			pthread_mutex_unlock(&v->lock);
			return -ENOMEM;
		}
		struct vset n = { .keys = keys, .cap = cap };
		for (size_t i = 0; i < v->cap; i++) {
			struct vkey *k = &v->keys[i];
			if (k->ino)
				for (size_t s = vset_slot(&n, k->dev, k->ino);; s = (s + 1) & (cap - 1))
					if (keys[s].ino == 0) {
						keys[s] = *k;
						break;
					}
		}
		free(v->keys);
		v->keys = keys;
		v->cap = cap;
	}
	uint64_t dev = st->st_dev, ino = st->st_ino ? st->st_ino : 1;
	struct vkey *k = vset_find_locked(v, dev, ino);
	if (!k) {
		size_t i = vset_slot(v, dev, ino);
		while (v->keys[i].ino)
			i = (i + 1) & (v->cap - 1);
		k = &v->keys[i];
		v->count++;
	}
	*k = (struct vkey){ dev, ino, ts_ns(st->st_ctim), ts_ns(st->st_mtim),
			    (uint64_t)st->st_size, st->st_mode, st->st_uid, false };
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/* ---- removing, through the rmtree engine ------------------------------------ */

static void kept_report(struct mv *m, const struct tu_rmtree_entry *e, const char *why)
{
	m->kept++;
	struct tu_err f = { .op = "remove", .err = EBUSY, .path = e->path, .detail = why };
	if (m->o->error)
		m->o->error(&f, m->o->ctx);
}

/* The rmtree engine asks before each SOURCE entry goes (a directory before
   anything in it): only what was verified equal to its copy, and unchanged
   since (its ctime as then), may go. Two exceptions, where our own removal
   or a neighbour moves the ctime: a directory goes on to be emptied (each of
   its entries is asked in turn, and it goes only once empty) when its mode
   and owner are as verified, whatever happened to its entries; and a
   further name of an inode we let a name of go, if its mtime and size are
   as verified. */
static bool source_may_remove(const struct tu_rmtree_entry *e, void *ctx)
{
	struct mv *m = ctx;
	int64_t ctime = e->ctime_sec * 1000000000 + e->ctime_nsec;
	int64_t mtime = e->mtime_sec * 1000000000 + e->mtime_nsec;
	pthread_mutex_lock(&m->set.lock);
	struct vkey *k = vset_find_locked(&m->set, e->dev, e->ino ? e->ino : 1);
	bool ok = k && (k->ctime == ctime ||
			(e->is_dir && k->mode == e->mode && k->uid == e->uid) ||
			(!e->is_dir && k->taken && k->mtime == mtime && k->size == e->size));
	if (ok)
		k->taken = true;
	pthread_mutex_unlock(&m->set.lock);
	if (!ok)
		kept_report(m, e, k || ctime > m->t0 ? "changed after it was copied; kept in SOURCE" :
				   "not in the copy (it appeared during the move); kept in SOURCE");
	return ok;
}

/* Remove NAME in DIRFD with the rmtree engine, only if it is still EXPECT:
   never into another mount; with CHECKED, only the entries verified (see
   source_may_remove). 0 when it is gone, 1 when some of it stays (reported:
   kept, or could not be removed), -errno. */
static int remove_tree(struct mv *m, int dirfd, const char *name, const struct tu_ident *expect,
		       const char *display, bool checked)
{
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = m->o->jobs;
	ro.timeout = m->o->timeout;
	ro.force = true;	/* already gone: a rerun after a crash */
	ro.expect_id = true;
	ro.expect_dev = expect->dev;
	ro.expect_ino = expect->ino;
	ro.display = display;
	ro.may_remove = checked ? source_may_remove : NULL;
	ro.error = m->o->error;
	ro.removed = checked ? m->o->removed : NULL;
	ro.ctx = checked ? (void *)m : m->o->ctx;
	if (checked) {
		ro.error = remove_error;
		ro.removed = remove_entry;
	}
	int r = tu_rmtree_at(dirfd, name, &ro);
	if (r == -ENOENT)
		return 0;
	return r == 0 ? 0 : r == TU_RMTREE_KEPT || r == -ENOTEMPTY ? 1 : r;
}

/* Remove one of our hidden directories (a copy, a stage) in DIRFD, if it is
   still the one we saw. */
static int remove_ours(struct mv *m, int dirfd, const char *name, const char *where)
{
	struct tu_ident id;
	int r = tu_ident_at(dirfd, name, &id);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *disp = NULL;
	if (asprintf(&disp, "%s%s", where, name) < 0)
		return -ENOMEM;
	r = remove_tree(m, dirfd, name, &id, disp, false);
	free(disp);
	return r;
}

/* ---- verifying the copy ----------------------------------------------------- */

struct vdir {
	int dfd;		/* the copy's directory, or -1 once let go
				   (under verify.fdlock) */
	int pending;		/* subdirectories not yet entered (fdlock) */
	struct tu_ident did;	/* its identity when first opened */
	struct tu_hashdir *hd;	/* SOURCE's records, with verify */
};

struct verify {
	struct mv *m;
	int root_dfd;
	struct tu_hashcache *shc, *dhc;
	pthread_mutex_t fdlock;	/* the dfd and pending of every vdir */
	long held;
	long budget;
	_Atomic long bad;
	bool owners;		/* compare owners (we are root) */
	bool strict;		/* a difference fails the move (else: the entry
				   is kept in SOURCE, when finishing a move) */
};

static void mismatch(struct verify *v, struct tu_walk_dir *d, const char *name, int err,
		     const char *what)
{
	atomic_fetch_add(&v->bad, 1);
	char *p = tu_walk_path(d, name);
	char *s = p ? shown(v->m, p) : NULL;
	char *w = NULL;
	if (!v->strict && asprintf(&w, "%s; kept in SOURCE", what) < 0)
		w = NULL;
	say(v->m, v->m->o->error, s ? s : "?", v->strict ? "verify the copy of" : "remove", err,
	    w ? w : what);
	free(w);
	free(s);
	free(p);
}

/* XFS shows root its own on-disk form of POSIX ACLs as trusted.SGI_ACL_*
   beside system.posix_acl_*; the ACL itself is compared through the
   latter. */
static bool fs_private_xattr(const char *name)
{
	return strncmp(name, "trusted.SGI_ACL_", 16) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The extended attributes of NAME in DIRFD (symlinks too, not followed),
   names sorted, as one blob of "name\0" "length" "value". */
static int xattr_blob(int dirfd, const char *name, char **out, size_t *outlen)
{
	char path[PATH_MAX + 64];
	if (snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dirfd, name) >= (int)sizeof path)
		return -ENAMETOOLONG;
	*out = NULL;
	*outlen = 0;
	ssize_t n = llistxattr(path, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (n == 0)
		return 0;
	char *list = malloc((size_t)n);
	if (!list)
		return -ENOMEM;
	n = llistxattr(path, list, (size_t)n);
	if (n < 0) {
		free(list);
		return -errno;
	}
	const char *names[512];
	size_t k = 0;
	for (char *p = list; p < list + n && k < 512; p += strlen(p) + 1)
		if (!fs_private_xattr(p))
			names[k++] = p;
	qsort(names, k, sizeof names[0], cmp_names);
	int r = 0;
	size_t cap = 0, len = 0;
	char *blob = NULL;
	for (size_t i = 0; i < k && r == 0; i++) {
		ssize_t vl = lgetxattr(path, names[i], NULL, 0);
		if (vl < 0) {
			r = -errno;
			break;
		}
		size_t nl = strlen(names[i]) + 1;
		size_t need = len + nl + sizeof(size_t) + (size_t)vl;
		if (need > cap) {
			cap = need * 2;
			char *nb = realloc(blob, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			blob = nb;
		}
		memcpy(blob + len, names[i], nl);
		len += nl;
		vl = lgetxattr(path, names[i], blob + len + sizeof(size_t), (size_t)vl);
		if (vl < 0) {
			r = -errno;
			break;
		}
		size_t v = (size_t)vl;
		memcpy(blob + len, &v, sizeof v);
		len += sizeof v + v;
	}
	free(list);
	if (r < 0) {
		free(blob);
		return r;
	}
	*out = blob;
	*outlen = len;
	return 0;
}

static int open_file(int dirfd, const char *name)
{
	int fl = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd = openat(dirfd, name, fl | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, fl);
	return fd;
}

/* Content of the regular file NAME, SOURCE side (records reused) against
   the copy (always read). */
static bool compare_content(struct verify *v, struct tu_walk_dir *d, struct vdir *vd,
			    int sfd, int dfd, const char *name, const struct stat *ss,
			    const struct stat *ds)
{
	bool same = false;
	int a = open_file(sfd, name);
	int b = open_file(dfd, name);
	struct stat sa, sb;
	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0 || sa.st_ino != ss->st_ino ||
	    sb.st_ino != ds->st_ino) {
		mismatch(v, d, name, a < 0 || b < 0 ? errno : ESTALE, "could not read it to compare");
	} else {
		struct tu_hash_info h1, h2;
		int r = tu_hashcache_get_fd(v->shc, vd->hd, a, name, &h1);
		int q = r == 0 ? tu_hashcache_get_fd(v->dhc, NULL, b, name, &h2) : 0;
		if (r < 0 || q < 0)
			mismatch(v, d, name, -(r < 0 ? r : q),
				 r == -EAGAIN ? "changed while it was read" : "could not hash it");
		else if (!h1.have_digest || !h2.have_digest || memcmp(h1.digest, h2.digest, 16))
			mismatch(v, d, name, EIO, "content differs");
		else
			same = true;
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return same;
}

/* One entry of SOURCE against its copy: type, size, mode, owner, times,
   device number, symlink target, extended attributes (ACLs included). */
static void compare_entry(struct verify *v, struct tu_walk_dir *d, struct vdir *vd, int sfd,
			  int dfd, const char *name)
{
	struct stat ss, ds;
	if (fstatat(sfd, name, &ss, AT_SYMLINK_NOFOLLOW) < 0) {
		mismatch(v, d, name, errno, "SOURCE entry vanished");
		return;
	}
	if (fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) < 0) {
		mismatch(v, d, name, errno, "missing in the copy");
		return;
	}
	const char *what = NULL;
	mode_t type = ss.st_mode & S_IFMT;
	bool later = ts_ns(ss.st_ctim) > v->m->t0;
	if (later && type != S_IFDIR)
		return;	/* changed since the copy began: kept in SOURCE, reported then */
	/* A directory's ctime and mtime move when entries come and go (ours
	   too, when a rerun finishes a removal): then only its type, mode and
	   owner are compared, and each entry in it is checked on its own. */
	bool loose = type == S_IFDIR && (later || !v->strict);
	if (type != (ds.st_mode & S_IFMT))
		what = "type differs in the copy";
	else if (type != S_IFLNK && (ss.st_mode & 07777) != (ds.st_mode & 07777))
		what = "mode differs in the copy";
	else if (v->owners && (ss.st_uid != ds.st_uid || ss.st_gid != ds.st_gid))
		what = "owner differs in the copy";
	else if (type != S_IFDIR && ss.st_size != ds.st_size)
		what = "size differs in the copy";
	else if (!loose && ts_ns(ss.st_mtim) != ts_ns(ds.st_mtim))
		what = "modification time differs in the copy";
	else if ((type == S_IFCHR || type == S_IFBLK) && ss.st_rdev != ds.st_rdev)
		what = "device number differs in the copy";
	if (!what && type == S_IFLNK) {
		char a[PATH_MAX], b[PATH_MAX];
		ssize_t na = readlinkat(sfd, name, a, sizeof a);
		ssize_t nb = readlinkat(dfd, name, b, sizeof b);
		if (na < 0 || na != nb || memcmp(a, b, (size_t)na) != 0)
			what = "symlink target differs in the copy";
	}
	if (!what && !loose) {
		char *xa, *xb;
		size_t la, lb;
		int r = xattr_blob(sfd, name, &xa, &la);
		int q = r == 0 ? xattr_blob(dfd, name, &xb, &lb) : -1;
		if (r < 0 || q < 0 || la != lb || (la && memcmp(xa, xb, la) != 0))
			what = "extended attributes or ACLs differ in the copy";
		if (r == 0)
			free(xa);
		if (q == 0)
			free(xb);
	}
	if (what) {
		mismatch(v, d, name, EIO, what);
		return;
	}
	if (type == S_IFREG && v->m->o->verify && !compare_content(v, d, vd, sfd, dfd, name, &ss, &ds))
		return;
	if (vset_add(&v->m->set, &ss) < 0)
		mismatch(v, d, name, ENOMEM, "cannot remember it");
}

/* A directory of the copy the child D needs: its parent's, re-opened from
   the nearest ancestor still held when it was let go. */
static int parent_dfd(struct tu_walk_dir *d, bool *temp)
{
	struct tu_walk_dir *p = tu_walk_dir_parent(d);
	struct vdir *pv = *tu_walk_dir_slot(p);
	*temp = false;
	if (pv->dfd >= 0)
		return pv->dfd;
	/* Climb to a held one, then down again by name, each checked. */
	struct tu_walk_dir *chain[4096];
	int n = 0;
	struct tu_walk_dir *a = p;
	while (((struct vdir *)*tu_walk_dir_slot(a))->dfd < 0) {
		if (n == 4096)
			return -ENAMETOOLONG;
		chain[n++] = a;
		a = tu_walk_dir_parent(a);
	}
	int fd = ((struct vdir *)*tu_walk_dir_slot(a))->dfd;
	bool own = false;
	while (n > 0) {
		struct tu_walk_dir *c = chain[--n];
		struct vdir *cv = *tu_walk_dir_slot(c);
		int next = tu_dir_reopen_at(fd, tu_walk_dir_name(c), &cv->did);
		if (own)
			close(fd);
		if (next < 0)
			return next;
		fd = next;
		own = true;
	}
	*temp = true;
	return fd;
}

static int v_enter(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = calloc(1, sizeof *vd);
	if (!vd)
		return TU_WALK_STOP;
	*tu_walk_dir_slot(d) = vd;
	vd->dfd = -1;
	if (tu_walk_dir_depth(d) == 0) {
		vd->dfd = dup(v->root_dfd);
		if (vd->dfd >= 0)
			tu_ident_fd(vd->dfd, &vd->did);
	} else {
		/* A directory's copy is let go as soon as its last
		   subdirectory has opened its own from it, so a deep chain
		   holds a few fds, not one per level. */
		pthread_mutex_lock(&v->fdlock);
		bool temp;
		int pfd = parent_dfd(d, &temp);
		vd->dfd = pfd < 0 ? pfd : tu_dir_open_at(pfd, tu_walk_dir_name(d), &vd->did);
		if (temp)
			close(pfd);
		struct tu_walk_dir *p = tu_walk_dir_parent(d);
		struct vdir *pv = *tu_walk_dir_slot(p);
		if (--pv->pending == 0 && tu_walk_dir_depth(p) > 0 && pv->dfd >= 0) {
			close(pv->dfd);
			pv->dfd = -1;
			v->held--;
		}
		pthread_mutex_unlock(&v->fdlock);
	}
	if (vd->dfd < 0) {
		mismatch(v, tu_walk_dir_parent(d) ? tu_walk_dir_parent(d) : d,
			 tu_walk_dir_parent(d) ? tu_walk_dir_name(d) : NULL, -vd->dfd,
			 "could not open the copy of this directory");
		return TU_WALK_SKIP;
	}
	pthread_mutex_lock(&v->fdlock);
	v->held++;
	pthread_mutex_unlock(&v->fdlock);
	if (v->m->o->verify)
		tu_hashdir_open(v->shc, tu_walk_dir_fd(d), NULL, &vd->hd);
	return TU_WALK_NEXT;
}

static int v_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	compare_entry(v, d, vd, tu_walk_dir_fd(d), vd->dfd, e->name);
	if (e->is_dir)
		vd->pending++;	/* before any child is entered: no lock needed */
	return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

/* Let the copy's directory go once its entries are done if no subdirectory
   needs it, or if too many are held: a child then re-opens it (checked). */
static void v_done(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	pthread_mutex_lock(&v->fdlock);
	if (tu_walk_dir_depth(d) > 0 && vd->dfd >= 0 && (vd->pending == 0 || v->held > v->budget)) {
		close(vd->dfd);
		vd->dfd = -1;
		v->held--;
	}
	pthread_mutex_unlock(&v->fdlock);
}

static int v_leave(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	if (!vd)
		return TU_WALK_NEXT;
	if (vd->hd)
		tu_hashdir_close(vd->hd);
	pthread_mutex_lock(&v->fdlock);
	if (vd->dfd >= 0) {
		close(vd->dfd);
		v->held--;
	}
	pthread_mutex_unlock(&v->fdlock);
	free(vd);
	*tu_walk_dir_slot(d) = NULL;
	return TU_WALK_NEXT;
}

static int v_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct verify *v = ctx;
	(void)d;
	if (v->m->o->one_file_system && tu_walk_err_skipped_mount(e))
		return TU_CONTINUE;
	atomic_fetch_add(&v->bad, 1);
	return forward(v->m, v->m->o->error, e);
}

static int hash_error(const struct tu_err *e, void *ctx)
{
	(void)e, (void)ctx;
	return TU_CONTINUE;	/* the comparison reports the file */
}

/* Compare the tree held by SFD (SOURCE, or the stage of a non-directory)
   with its copy held by DFD. Returns the number of differences (reported),
   or -errno. */
static long verify_copy(struct mv *m, int sfd, int dfd, const char *disp, bool strict)
{
	/* The copy's directories held at most: a quarter of what the fd
	   limit leaves (the walker takes its own share of SOURCE's). */
	struct rlimit rl;
	long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
		   (long)rl.rlim_cur : 1024;
	long budget = (lim - 32) / 4;
	struct verify v = { .m = m, .root_dfd = dfd, .owners = geteuid() == 0,
			    .budget = budget < 4 ? 4 : budget > 256 ? 256 : budget,
			    .strict = strict, .fdlock = PTHREAD_MUTEX_INITIALIZER };
	struct tu_hashcache_opts ho;
	if (m->o->verify) {
		tu_hashcache_opts_init(&ho);
		ho.no_store = true;
		ho.jobs = m->o->jobs;
		ho.error = hash_error;
		int r = tu_hashcache_open(&v.shc, &ho);
		if (r == 0) {
			ho.mode = TU_HASHCACHE_CHECK;
			ho.store = TU_STORE_XATTR;
			r = tu_hashcache_open(&v.dhc, &ho);
		}
		if (r < 0) {
			tu_hashcache_close(v.shc);
			return r;
		}
	}
	/* SOURCE's own directory against the copy's. */
	struct stat ss, ds;
	if (fstat(sfd, &ss) < 0 || fstat(dfd, &ds) < 0)
		atomic_fetch_add(&v.bad, 1);
	else if ((ss.st_mode & 07777) != (ds.st_mode & 07777) ||
		 (strict && ts_ns(ss.st_ctim) <= m->t0 && ts_ns(ss.st_mtim) != ts_ns(ds.st_mtim)) ||
		 (v.owners && (ss.st_uid != ds.st_uid || ss.st_gid != ds.st_gid))) {
		atomic_fetch_add(&v.bad, 1);
		fail(m, disp, strict ? "verify the copy of" : "remove", EIO,
		     strict ? "mode, owner or time differs in the copy" :
			      "mode, owner or time differs from DEST; kept in SOURCE");
	} else if (vset_add(&m->set, &ss) < 0) {
		atomic_fetch_add(&v.bad, 1);
	}
	struct tu_walk_opts wo = { .jobs = m->o->jobs, .one_file_system = m->o->one_file_system };
	struct tu_walk_ops ops = { .enter = v_enter, .entry = v_entry, .leave = v_leave,
				   .done_entries = v_done, .error = v_error };
	char root[128];
	snprintf(root, sizeof root, "%s", m->map[m->nmap - 1].from);
	int r = tu_walk(sfd, root, &wo, &ops, &v);
	tu_hashcache_close(v.shc);
	tu_hashcache_close(v.dhc);
	if (r < 0 && r != -ECANCELED)
		return r;
	return strict ? atomic_load(&v.bad) + (r == -ECANCELED) : 0;
}

/* ---- room ------------------------------------------------------------------- */

struct room {
	_Atomic uint64_t bytes;
};

static int room_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct room *c = ctx;
	struct stat st;
	if (fstatat(tu_walk_dir_fd(d), e->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		atomic_fetch_add(&c->bytes, (uint64_t)st.st_blocks * 512);
	return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

static int room_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d, (void)e, (void)ctx;
	return TU_CONTINUE;	/* an estimate: what cannot be read is left out */
}

static void human(char *out, size_t len, uint64_t n)
{
	const char *u[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double x = (double)n;
	int i = 0;
	while (x >= 1024 && i < 4) {
		x /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, len, "%" PRIu64 " bytes", n);
	else
		snprintf(out, len, "%.1f %s", x, u[i]);
}

/* The copy ran out of room: say how much it needs and how much there was. */
static void report_room(struct mv *m, int sfd, uint64_t free_before)
{
	struct room c = { 0 };
	struct tu_walk_opts wo = { .jobs = m->o->jobs, .one_file_system = m->o->one_file_system };
	struct tu_walk_ops ops = { .entry = room_entry, .error = room_error };
	struct stat st;
	if (fstat(sfd, &st) == 0)
		c.bytes = (uint64_t)st.st_blocks * 512;
	tu_walk(sfd, "", &wo, &ops, &c);
	char need[32], have[32], detail[256];
	human(need, sizeof need, atomic_load(&c.bytes));
	human(have, sizeof have, free_before);
	snprintf(detail, sizeof detail,
		 "not enough room: the copy needs about %s, DEST's filesystem had %s free; "
		 "the partial copy was removed and SOURCE is untouched", need, have);
	fail(m, m->dst_disp, "move", ENOSPC, detail);
}

/* ---- across filesystems ------------------------------------------------------ */

/* A non-directory SOURCE travels in a directory of its own, since tu_cptree
   copies directories: a hard link to it, MV_ENTRY in .tu-mv-KEY beside it
   (on SOURCE's filesystem, so no data moves and SOURCE keeps its name). */
static int stage_nondir(struct mv *m, int *stage_fd)
{
	if (mkdirat(m->spfd, m->hid, 0700) < 0 && errno != EEXIST)
		return -errno;
	struct tu_ident id;
	int fd = tu_dir_open_at(m->spfd, m->hid, &id);
	if (fd < 0)
		return fd;
	if (id.uid != geteuid() || (id.mode & 077)) {
		close(fd);
		return -EPERM;
	}
	struct tu_ident e;
	if (tu_ident_at(fd, MV_ENTRY, &e) == 0 && !tu_ident_same(&e, &m->sid))
		unlinkat(fd, MV_ENTRY, 0);	/* a link to another inode: a stale stage */
	if (linkat(m->spfd, m->slast, fd, MV_ENTRY, 0) < 0 && errno != EEXIST) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (tu_ident_at(fd, MV_ENTRY, &e) < 0 || !tu_ident_same(&e, &m->sid)) {
		unlinkat(fd, MV_ENTRY, 0);	/* SOURCE was replaced meanwhile */
		close(fd);
		return -ESTALE;
	}
	*stage_fd = fd;
	return 0;
}

/* Remove the hidden copy this run made: the directory we verified (EXPECT)
   when we got that far, never whatever else holds the name by now. */
static void remove_copy(struct mv *m, const struct tu_ident *expect)
{
	if (!expect) {
		remove_ours(m, m->dpfd, m->hid, m->dwhere);
		return;
	}
	char *disp = NULL;
	if (asprintf(&disp, "%s%s", m->dwhere, m->hid) >= 0) {
		remove_tree(m, m->dpfd, m->hid, expect, disp, false);
		free(disp);
	}
}

/* Remove a hidden copy left by an interrupted run (no marker: it was never
   complete), through the rmtree engine. */
static int remove_hidden(struct mv *m)
{
	struct tu_ident id;
	int r = tu_ident_at(m->dpfd, m->hid, &id);
	if (r == -ENOENT)
		return 0;
	/* Ours is a directory owned by us (still being made) or, once the
	   copy engine gave it SOURCE's metadata at the end, by SOURCE's
	   owner. Anything else under our name was put there by someone
	   else: never removed. */
	if (r == 0 && (!S_ISDIR(id.mode) || (id.uid != geteuid() && id.uid != m->sid.uid)))
		return -EPERM;
	r = remove_ours(m, m->dpfd, m->hid, m->dwhere);
	return r == 0 ? 0 : r < 0 ? r : -ENOTEMPTY;
}

/* SOURCE's removal, the last step. For a non-directory: SOURCE's name is
   renamed into the stage first (never unlinked by name: the name might be
   someone else's file by then), then the stage goes. */
static int remove_source(struct mv *m, const struct marker *k, bool have_src)
{
	int r = 0;
	if (!k->dir) {
		int sfd = tu_dir_open_at(m->spfd, m->hid, &(struct tu_ident){ 0 });
		if (have_src && sfd >= 0) {
			struct stat st;
			if (fstatat(m->spfd, m->slast, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    changed_since(&st, k->t0)) {
				fail(m, m->src_disp, "remove", EBUSY,
				     "changed after it was copied; kept in SOURCE");
				m->kept++;
				close(sfd);
				return 1;
			}
			if (renameat2(m->spfd, m->slast, sfd, "s", RENAME_NOREPLACE) == 0) {
				struct tu_ident id;
				if (tu_ident_at(sfd, "s", &id) < 0 || id.dev != (dev_t)k->sdev ||
				    id.ino != (ino_t)k->sino) {
					/* Not ours after all: put it back. */
					renameat2(sfd, "s", m->spfd, m->slast, RENAME_NOREPLACE);
					fail(m, m->src_disp, "remove", ESTALE,
					     "SOURCE was replaced during the move; left alone");
					close(sfd);
					return 1;
				}
				if (m->o->removed)
					m->o->removed(m->src_disp, false, m->o->ctx);
			} else {
				r = -errno;
				fail(m, m->src_disp, "remove", -r, "SOURCE could not be removed");
				close(sfd);
				return 1;
			}
		}
		if (sfd >= 0)
			close(sfd);
		r = remove_ours(m, m->spfd, m->hid, m->swhere);
		if (r != 0)
			fail(m, m->src_disp, "remove", r < 0 ? -r : ENOTEMPTY,
			     "the staging directory beside SOURCE could not be removed");
		return r == 0 ? 0 : 1;
	}
	if (!have_src)
		return 0;
	r = remove_tree(m, m->spfd, m->slast, &m->sid, m->src_disp, true);
	if (r > 0 && m->kept == 0) {
		fail(m, m->src_disp, "remove", ENOTEMPTY,
		     "SOURCE could not be removed completely; DEST is the complete copy");
	} else if (r < 0) {
		fail(m, m->src_disp, "remove", -r,
		     "SOURCE could not be removed; DEST is the complete copy");
		r = 1;
	}
	return r;
}

/* DEST is in place: remove SOURCE, then the marker (kept while any of SOURCE
   is left, so a later run can finish). */
static int finish(struct mv *m, const struct marker *k, bool have_src)
{
	int r = remove_source(m, k, have_src);
	if (!k->dir)
		unlinkat(m->dpfd, m->hid, AT_REMOVEDIR);	/* empty now; ENOENT is fine */
	if (r == 0) {
		hook(TU_MOVE_SOURCE_REMOVED);
		marker_remove(m);
	}
	return r == 0 ? 0 : TU_MVTREE_INCOMPLETE;
}

/* The copy identity the marker will record: the hidden directory, or for a
   non-directory the entry in it. */
static int copy_ident(struct mv *m, int hfd, struct tu_ident *id)
{
	return m->src_is_dir ? tu_ident_fd(hfd, id) : tu_ident_at(hfd, MV_ENTRY, id);
}

/* Put the verified hidden copy in place: for a directory the hidden
   directory itself, for a non-directory its entry. Never replaces. */
static int place(struct mv *m, const struct marker *k)
{
	int r;
	struct tu_ident id;
	if (k->dir) {
		r = tu_ident_at(m->dpfd, m->hid, &id);
		if (r == 0 && (id.dev != (dev_t)k->cdev || id.ino != (ino_t)k->cino))
			r = -ESTALE;	/* not the copy the marker names */
		if (r == 0)
			r = tu_rename_noreplace(m->dpfd, m->hid, m->dpfd, m->dlast);
	} else {
		int hfd = tu_dir_open_at(m->dpfd, m->hid, &(struct tu_ident){ 0 });
		if (hfd < 0)
			return hfd;
		r = tu_ident_at(hfd, MV_ENTRY, &id);
		if (r == 0 && (id.dev != (dev_t)k->cdev || id.ino != (ino_t)k->cino))
			r = -ESTALE;
		if (r == 0)
			r = tu_rename_noreplace(hfd, MV_ENTRY, m->dpfd, m->dlast);
		close(hfd);
	}
	if (r < 0)
		return r;
	if (tu_ident_at(m->dpfd, m->dlast, &id) < 0 || id.dev != (dev_t)k->cdev ||
	    id.ino != (ino_t)k->cino)
		return -ESTALE;	/* what was renamed is not our copy */
	return fsync_dir(m->dpfd);
}

static int copy_across(struct mv *m)
{
	const struct tu_mvtree_opts *o = m->o;
	int stage = -1, sfd = -1, hfd = -1, ret;
	char spath[128], dpath[128], mapped[160];

	if (m->src_is_dir) {
		struct tu_ident id;
		sfd = tu_dir_open_at(m->spfd, m->slast, &id);
		if (sfd >= 0 && !tu_ident_same(&id, &m->sid)) {
			close(sfd);
			sfd = -ESTALE;	/* SOURCE was replaced since we looked */
		}
		if (sfd < 0) {
			fail(m, m->src_disp, "open", -sfd, NULL);
			return sfd;
		}
		proc_path(spath, sizeof spath, m->spfd, m->slast);
	} else if (!o->dry_run) {
		int r = stage_nondir(m, &stage);
		if (r < 0) {
			fail(m, m->src_disp, "move", -r,
			     "cannot stage it for the copy: a hard link beside it");
			return r;
		}
		sfd = stage;
		proc_path(spath, sizeof spath, m->spfd, m->hid);
	}
	proc_path(dpath, sizeof dpath, m->dpfd, m->hid);
	if (!m->src_is_dir) {
		snprintf(mapped, sizeof mapped, "%s/" MV_ENTRY, spath);
		add_map(m, mapped, m->src_disp);
		snprintf(mapped, sizeof mapped, "%s/" MV_ENTRY, dpath);
		add_map(m, mapped, m->dst_disp);
	}
	add_map(m, dpath, m->dst_disp);
	add_map(m, spath, m->src_disp);	/* last: verify_copy walks under it */

	if (o->dry_run && !m->src_is_dir) {
		if (o->copied) {
			char type = S_ISLNK(m->sid.mode) ? 'L' : S_ISREG(m->sid.mode) ? 'f' :
				    S_ISCHR(m->sid.mode) || S_ISBLK(m->sid.mode) ? 'D' : 'S';
			struct tu_copy_item it = { .path = ".", .src = m->src_disp,
						   .dst = m->dst_disp, .type = type, .how = 'c' };
			o->copied(&it, o->ctx);
		}
		if (o->moved)
			o->moved(m->src_disp, m->dst_disp, TU_MOVE_COPIED, o->ctx);
		return 0;
	}

	struct statvfs sv;
	uint64_t free_before = fstatvfs(m->dpfd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
	int64_t t0 = o->dry_run ? 0 : copy_clock();
	m->t0 = t0;

	struct tu_cptree_opts co;
	tu_cptree_opts_init(&co);
	co.archive = true;
	co.dry_run = o->dry_run;
	co.one_file_system = o->one_file_system;
	co.reflink = o->reflink;
	co.timeout = o->timeout;
	co.jobs = o->jobs;
	co.error = copy_error;
	co.warning = copy_warning;
	co.copied = o->copied ? copy_item : NULL;
	co.stats = o->stats;
	co.total = o->total;
	co.ctx = m;
	int r = tu_cptree(spath, dpath, &co);
	if (o->dry_run) {
		ret = r == 0 ? 0 : r == -EIO ? TU_MVTREE_INCOMPLETE : r;
		if (ret == 0 && o->moved)
			o->moved(m->src_disp, m->dst_disp, TU_MOVE_COPIED, o->ctx);
		goto out;
	}
	if (r < 0 && r != -EIO) {
		ret = r;	/* refused before anything was written (reported) */
		goto out;
	}
	bool ok = r == 0 && m->copy_errors == 0;
	struct marker k = { .dir = m->src_is_dir, .sdev = m->sid.dev, .sino = m->sid.ino, .t0 = t0 };
	struct tu_ident hident = { 0 };	/* the copy we verify, once opened */
	if (ok) {
		hook(TU_MOVE_COPIED_HIDDEN);
		hfd = tu_dir_open_at(m->dpfd, m->hid, &hident);
		if (hfd < 0) {
			fail(m, m->dst_disp, "open the copy", -hfd, NULL);
			ok = false;
		}
	}
	if (ok) {
		long bad = verify_copy(m, sfd, hfd, m->dst_disp, true);
		if (bad != 0) {
			if (bad < 0)
				fail(m, m->dst_disp, "verify the copy", (int)-bad, NULL);
			ok = false;
		}
	}
	if (ok && syncfs(hfd) < 0) {
		fail(m, m->dst_disp, "sync the copy", errno, NULL);
		ok = false;
	}
	struct tu_ident cid;
	if (ok && copy_ident(m, hfd, &cid) < 0)
		ok = false;
	if (ok) {
		k.cdev = cid.dev;
		k.cino = cid.ino;
		r = marker_write(m, &k);
		if (r < 0) {
			fail(m, m->dst_disp, "write the marker of the move", -r, NULL);
			ok = false;
		}
	}
	if (!ok) {
		if (m->enospc)
			report_room(m, sfd, free_before);
		remove_copy(m, hfd >= 0 ? &hident : NULL);
		if (stage >= 0)
			remove_ours(m, m->spfd, m->hid, m->swhere);
		ret = TU_MVTREE_INCOMPLETE;
		goto out;
	}
	hook(TU_MOVE_MARKED);
	r = place(m, &k);
	if (r < 0) {
		fail(m, m->dst_disp, "rename into place", -r,
		     r == -EEXIST ? "DEST appeared during the move; the copy was removed" : NULL);
		marker_remove(m);
		remove_copy(m, hfd >= 0 ? &hident : NULL);
		if (stage >= 0)
			remove_ours(m, m->spfd, m->hid, m->swhere);
		ret = TU_MVTREE_INCOMPLETE;
		goto out;
	}
	hook(TU_MOVE_PLACED);
	if (stage >= 0) {
		close(stage);
		stage = -1;
		sfd = -1;
	}
	ret = finish(m, &k, true);
	if (o->moved && ret == 0)
		o->moved(m->src_disp, m->dst_disp, TU_MOVE_COPIED, o->ctx);
out:
	if (hfd >= 0)
		close(hfd);
	if (sfd >= 0 && sfd != stage)
		close(sfd);
	if (stage >= 0)
		close(stage);
	return ret;
}

/* ---- the whole move ----------------------------------------------------------- */

enum { NOT_OURS = INT_MIN };

static bool bad_last(const char *last)
{
	return strcmp(last, "/") == 0 || strcmp(last, ".") == 0 || strcmp(last, "..") == 0;
}

/* What an earlier run of this move left, when it got as far as the marker:
   finish it. Returns NOT_OURS when there was nothing of ours to finish,
   else what the move returns. */
static int resume(struct mv *m, bool have_src, bool have_dest, const struct tu_ident *did)
{
	struct marker k;
	int r;
	if (have_src)
		r = marker_read(m->dpfd, m->mark, &k);
	else
		r = have_dest ? marker_find(m, did, &k) : -ENOENT;
	if (r == -EINVAL && have_src) {
		/* Torn by a crash before its fsync: never acted on. */
		unlinkat(m->dpfd, m->mark, 0);
		return NOT_OURS;
	}
	if (r < 0)
		return NOT_OURS;
	if (have_src && (k.sdev != (uint64_t)m->sid.dev || k.sino != (uint64_t)m->sid.ino))
		return NOT_OURS;
	m->src_is_dir = k.dir;
	char spath[128];
	proc_path(spath, sizeof spath, m->spfd, k.dir ? m->slast : m->hid);
	add_map(m, spath, m->src_disp);
	if (m->o->dry_run) {
		if (m->o->moved)
			m->o->moved(m->src_disp, m->dst_disp, TU_MOVE_FINISHED, m->o->ctx);
		return 0;
	}
	if (have_dest) {
		if (did->dev != (dev_t)k.cdev || did->ino != (ino_t)k.cino)
			return NOT_OURS;	/* DEST is not our copy */
	} else {
		r = place(m, &k);
		if (r < 0) {
			/* The marker names no copy that is still there: stale. */
			marker_remove(m);
			return NOT_OURS;
		}
	}
	if (k.dir && have_src) {
		/* What is left of SOURCE goes only where it still equals DEST. */
		m->t0 = k.t0;
		int sfd = tu_dir_open_at(m->spfd, m->slast, &(struct tu_ident){ 0 });
		struct tu_ident cid;
		int dfd = tu_dir_open_at(m->dpfd, m->dlast, &cid);
		if (sfd >= 0 && dfd >= 0 && cid.dev == (dev_t)k.cdev && cid.ino == (ino_t)k.cino)
			verify_copy(m, sfd, dfd, m->src_disp, false);
		if (sfd >= 0)
			close(sfd);
		if (dfd >= 0)
			close(dfd);
	}
	r = finish(m, &k, have_src);
	if (m->o->moved && r == 0)
		m->o->moved(m->src_disp, m->dst_disp, TU_MOVE_FINISHED, m->o->ctx);
	return r;
}

/* The directory part of PATH as given, ending in '/', or "". */
static char *where_of(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	return strndup(path, n);
}

static int move_one(struct mv *m)
{
	const struct tu_mvtree_opts *o = m->o;
	size_t sl = strlen(m->src_disp), dl = strlen(m->dst_disp);
	if (sl == 0 || dl == 0) {
		fail(m, sl ? m->dst_disp : m->src_disp, "move", EINVAL, "refusing an empty name");
		return -EINVAL;
	}
	m->sbuf = malloc(sl + 2);
	m->dbuf = malloc(dl + 2);
	m->swhere = where_of(m->src_disp);
	m->dwhere = where_of(m->dst_disp);
	if (!m->sbuf || !m->dbuf || !m->swhere || !m->dwhere)
		return -ENOMEM;
	int r = tu_open_parent(m->src_disp, m->sbuf, sl + 2, &m->slast);
	if (r >= 0)
		m->spfd = r;
	if (r >= 0 && bad_last(m->slast)) {
		fail(m, m->src_disp, "move", EINVAL, "refusing to move '/', '.' or '..'");
		return -EINVAL;
	}
	int d = tu_open_parent(m->dst_disp, m->dbuf, dl + 2, &m->dlast);
	if (d < 0) {
		fail(m, m->dst_disp, "open the directory of", -d, NULL);
		return d;
	}
	m->dpfd = d;
	if (bad_last(m->dlast)) {
		fail(m, m->dst_disp, "move", EINVAL, "refusing '/', '.' or '..' as DEST");
		return -EINVAL;
	}
	bool have_src = false;
	if (r >= 0) {
		r = tu_ident_at(m->spfd, m->slast, &m->sid);
		have_src = r == 0;
	}
	/* SOURCE written with a trailing '/' names a directory. A symlink or
	   a file so written is refused (ENOTDIR, as mv(1) says), never
	   followed: a link is moved by its name without the '/'. */
	if (have_src && m->src_disp[sl - 1] == '/' && !S_ISDIR(m->sid.mode)) {
		fail(m, m->src_disp, "move", ENOTDIR,
		     S_ISLNK(m->sid.mode) ? "a symlink written with a trailing '/'; without "
					    "the '/' the link itself is moved" : NULL);
		return -ENOTDIR;
	}
	struct tu_ident did;
	int dr = tu_ident_at(m->dpfd, m->dlast, &did);
	if (dr < 0 && dr != -ENOENT) {
		fail(m, m->dst_disp, "stat", -dr, NULL);
		return dr;
	}
	bool have_dest = dr == 0;
	if (have_src) {
		snprintf(m->hid, sizeof m->hid, MV_PREFIX "%016" PRIx64 "%016" PRIx64,
			 (uint64_t)m->sid.dev, (uint64_t)m->sid.ino);
		snprintf(m->mark, sizeof m->mark, "%s" MV_MARK_SUFFIX, m->hid);
	}
	/* An earlier run that got as far as its marker is finished first. */
	if (!o->exchange && (have_src || have_dest)) {
		int f = resume(m, have_src, have_dest, &did);
		if (f != NOT_OURS)
			return f;
	}
	if (!have_src) {
		fail(m, m->src_disp, "stat", r == -ENOENT || m->spfd < 0 ? ENOENT : -r, NULL);
		return r < 0 ? r : -ENOENT;
	}
	m->src_is_dir = S_ISDIR(m->sid.mode);
	if (have_dest && tu_ident_same(&did, &m->sid)) {
		fail(m, m->dst_disp, "move", EINVAL, "SOURCE and DEST are the same");
		return -EINVAL;
	}
	if (m->src_is_dir) {
		int in = tu_dir_is_below(m->dpfd, &m->sid);
		if (in != 0) {
			fail(m, m->dst_disp, "move", in > 0 ? EINVAL : -in,
			     in > 0 ? "cannot move a directory into itself or below it" : NULL);
			return in > 0 ? -EINVAL : in;
		}
	}
	if (m->sid.mount_root) {
		fail(m, m->src_disp, "move", EBUSY, "SOURCE is a mount point; nothing moved");
		return -EBUSY;
	}
	if (o->exchange && !have_dest) {
		fail(m, m->dst_disp, "exchange with", ENOENT, "--exchange needs an existing DEST");
		return -ENOENT;
	}
	if (!o->exchange && have_dest) {
		fail(m, m->dst_disp, "move", EEXIST,
		     "DEST exists; mvtree never replaces or merges into it; nothing moved");
		return -EEXIST;
	}

	struct tu_ident dpid;
	r = tu_ident_fd(m->dpfd, &dpid);
	if (r < 0) {
		fail(m, m->dst_disp, "stat the directory of", -r, NULL);
		return r;
	}
	bool same_fs = dpid.dev == m->sid.dev && dpid.mnt_id == m->sid.mnt_id;
	if (o->dry_run && (same_fs || o->exchange)) {
		if (o->exchange && !same_fs) {
			fail(m, m->dst_disp, "exchange with", EXDEV,
			     "SOURCE and DEST are on different filesystems");
			return -EXDEV;
		}
		if (o->moved)
			o->moved(m->src_disp, m->dst_disp,
				 o->exchange ? TU_MOVE_EXCHANGED : TU_MOVE_RENAMED, o->ctx);
		return 0;
	}
	if (!o->dry_run) {
		/* The one call that moves within a filesystem; EXDEV sends us
		   the long way. */
		int fl = o->exchange ? RENAME_EXCHANGE : RENAME_NOREPLACE;
		if (renameat2(m->spfd, m->slast, m->dpfd, m->dlast, fl) == 0) {
			fsync_dir(m->dpfd);
			if (!o->exchange && m->spfd != m->dpfd)
				fsync_dir(m->spfd);
			if (o->moved)
				o->moved(m->src_disp, m->dst_disp,
					 o->exchange ? TU_MOVE_EXCHANGED : TU_MOVE_RENAMED, o->ctx);
			return 0;
		}
		r = -errno;
		if (r == -EINVAL && !o->exchange) {
			/* No RENAME_NOREPLACE on this filesystem. */
			r = tu_rename_noreplace(m->spfd, m->slast, m->dpfd, m->dlast);
			if (r == 0) {
				if (o->moved)
					o->moved(m->src_disp, m->dst_disp, TU_MOVE_RENAMED, o->ctx);
				return 0;
			}
		}
		if (r != -EXDEV || o->exchange) {
			fail(m, m->dst_disp, o->exchange ? "exchange with" : "move", -r,
			     r == -EXDEV ? "SOURCE and DEST are on different filesystems" : NULL);
			return r;
		}
	}
	/* Across filesystems. A hidden copy without a marker never finished:
	   it is removed and made again. */
	if (!o->dry_run) {
		r = remove_hidden(m);
		if (r < 0) {
			char *where = NULL;
			if (asprintf(&where, "%s%s", m->dwhere, m->hid) < 0)
				where = NULL;
			fail(m, where ? where : m->dst_disp, "remove", -r,
			     r == -EPERM ? "it has our hidden name but is not ours; nothing moved" :
					   "an unfinished copy of an earlier run; nothing moved");
			free(where);
			return r;
		}
	}
	return copy_across(m);
}

int tu_mvtree(const char *source, const char *dest, const struct tu_mvtree_opts *o)
{
	struct mv m = { .o = o, .src_disp = source, .dst_disp = dest, .spfd = -1, .dpfd = -1 };
	pthread_mutex_init(&m.lock, NULL);
	pthread_mutex_init(&m.set.lock, NULL);
	int r = move_one(&m);
	if (m.spfd >= 0)
		close(m.spfd);
	if (m.dpfd >= 0)
		close(m.dpfd);
	free(m.sbuf);
	free(m.dbuf);
	free(m.swhere);
	free(m.dwhere);
	free(m.set.keys);
	pthread_mutex_destroy(&m.set.lock);
	pthread_mutex_destroy(&m.lock);
	return r;
}
