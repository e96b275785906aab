/* SPDX-License-Identifier: Apache-2.0 */
/* walk.c: the traversal engine (see walk.h for the contract).
 *
 * Iterative, never recursive: directories wait on a LIFO work stack, which
 * keeps the walk depth-first (memory bounded by depth times width) and lets
 * N workers take one directory each. A directory's leave() runs on whichever
 * worker finishes its last child. The directories' fds are held in the one
 * directory cache (dircache.c), which the copy engine's destination side
 * uses too.
 *
 * This file must never follow a symlink, never build a path for a system
 * call, and never hold more directory fds than the budget allows (except
 * the few pinned by running workers).
 */
#define TU_INTERNAL
#include "walk.h"
#include "dircache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DENTS_BUF (1 << 20)

struct walk;

struct tu_walk_dir {
	struct walk *w;
	struct tu_walk_dir *parent;
	struct tu_dc_node dc;		/* its fd, held in w->dc (under w->lock) */
	struct tu_walk_dir *stack_next;
	bool entered;
	bool aborted;
	bool is_mount;
	_Atomic int pending;		/* 1 while reading + children not left */
	_Atomic uint32_t flags;
	int depth;
	mode_t forced_mode;
	void *slot;
	size_t namelen;
	char name[];
};

struct walk {
	const struct tu_walk_opts *o;
	const struct tu_walk_ops *ops;
	void *ctx;
	const char *root_path;
	struct tu_walk_dir *root;

	pthread_mutex_t lock;		/* stack, live, fd budget, LRU, pins */
	pthread_cond_t cond;
	struct tu_walk_dir *stack;
	long live;
	unsigned long wakes;		/* tu_walk_wake() calls, for idle workers */
	struct tu_dcache dc;		/* the held directories, under lock */

	pthread_mutex_t err_lock;	/* error() is never called twice at once */
	_Atomic bool stop;
	int start_err;
};

/* The walk stops when a callback said STOP, or when the algorithm's
   reporter latched a TU_STOP answer given elsewhere (opts.stop). */
static bool walk_stopped(struct walk *w)
{
	if (atomic_load(&w->stop))
		return true;
	if (w->o->stop && atomic_load(w->o->stop)) {
		atomic_store(&w->stop, true);
		return true;
	}
	return false;
}

struct worker_buf {
	char *dents;
	struct tu_dirent *ents;
	size_t nents_max;
};

/* ---- nodes, LRU and the fd budget (all under w->lock) ------------------- */

static struct tu_walk_dir *node_new(struct walk *w, struct tu_walk_dir *parent,
				    const char *name, size_t len)
{
	struct tu_walk_dir *d = calloc(1, sizeof *d + len + 1);
	if (!d)
		return NULL;
	d->w = w;
	d->parent = parent;
	d->forced_mode = (mode_t)-1;
	d->depth = parent ? parent->depth + 1 : 0;
	d->namelen = len;
	memcpy(d->name, name, len);
	d->name[len] = '\0';
	tu_dc_node_init(&d->dc, parent ? &parent->dc : NULL, d->name);
	return d;
}

/* Pin D's fd (re-opening it if needed, through ".." of HINT, an open
   child, when there is one); returns the fd or -errno. */
static int pin(struct walk *w, struct tu_walk_dir *d, struct tu_walk_dir *hint)
{
	return tu_dc_pin(&w->dc, &d->dc, hint ? &hint->dc : NULL);
}

static void unpin(struct walk *w, struct tu_walk_dir *d)
{
	tu_dc_unpin(&w->dc, &d->dc);
}

static void node_free(struct walk *w, struct tu_walk_dir *d)
{
	pthread_mutex_lock(&w->lock);
	tu_dc_forget_locked(&w->dc, &d->dc, d == w->root);
	if (--w->live == 0)
		pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	free(d);
}

/* ---- reporting ----------------------------------------------------------- */

char *tu_walk_path(const struct tu_walk_dir *d, const char *name)
{
	const char *root = d->w->root_path;
	size_t len = strlen(root);
	for (const struct tu_walk_dir *a = d; a->parent; a = a->parent)
		len += 1 + a->namelen;
	size_t nlen = name ? strlen(name) : 0;
	if (name)
		len += 1 + nlen;
	char *buf = malloc(len + 1);
	if (!buf)
		return NULL;
	char *p = buf + len;
	*p = '\0';
	if (name) {
		p -= nlen;
		memcpy(p, name, nlen);
		*--p = '/';
	}
	for (const struct tu_walk_dir *a = d; a->parent; a = a->parent) {
		p -= a->namelen;
		memcpy(p, a->name, a->namelen);
		*--p = '/';
	}
	memcpy(buf, root, strlen(root));
	return buf;
}

int tu_walk_report(struct tu_walk_dir *d, const char *name, const char *op, int err,
		   const char *detail)
{
	struct walk *w = d->w;
	if (!w->ops->error)
		return TU_CONTINUE;
	char *path = tu_walk_path(d, name);
	struct tu_err e = { .op = op, .err = err, .path = path ? path : "?", .detail = detail };
	pthread_mutex_lock(&w->err_lock);
	int r = w->ops->error(d, &e, w->ctx);
	pthread_mutex_unlock(&w->err_lock);
	free(path);
	if (r == TU_STOP)
		atomic_store(&w->stop, true);
	return r;
}

int tu_call_locked(tu_error_fn *fn, void *ctx, pthread_mutex_t *lock, const struct tu_err *e)
{
	if (!fn)
		return TU_CONTINUE;
	pthread_mutex_lock(lock);
	int r = fn(e, ctx);
	pthread_mutex_unlock(lock);
	return r;
}

bool tu_walk_err_vanished(const struct tu_err *e)
{
	return e->err == ENOENT || e->err == ENOTDIR || e->err == ELOOP;
}

bool tu_walk_err_skipped_mount(const struct tu_err *e)
{
	return e->err == EXDEV && strcmp(e->op, "enter") == 0;
}

/* ---- reading one directory ----------------------------------------------- */

static int cmp_ino(const void *a, const void *b)
{
	const struct tu_dirent *x = a, *y = b;
	return (x->ino > y->ino) - (x->ino < y->ino);
}

static void push_children(struct walk *w, struct tu_walk_dir *first)
{
	if (!first)
		return;
	int count = 1;
	struct tu_walk_dir *last = first;
	while (last->stack_next) {
		last = last->stack_next;
		count++;
	}
	pthread_mutex_lock(&w->lock);
	last->stack_next = w->stack;
	w->stack = first;
	if (count > 1)
		pthread_cond_broadcast(&w->cond);
	else
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Call enter() and entry() for D, pinned by the caller. Returns the
   directories entry() asked for, linked through stack_next, for the caller
   to visit or queue. Leaves D's pending count at 1 + children. */
static struct tu_walk_dir *read_dir(struct walk *w, struct tu_walk_dir *d, struct worker_buf *b)
{
	const struct tu_walk_ops *ops = w->ops;
	atomic_store(&d->pending, 1);
	d->entered = true;
	if (ops->enter) {
		int r = ops->enter(d, w->ctx);
		if (r == TU_WALK_STOP)
			atomic_store(&w->stop, true);
		if (r != TU_WALK_NEXT)
			return NULL;
	}
	struct tu_walk_dir *first = NULL;
	int count = 0;
	for (;;) {
		if (walk_stopped(w))
			break;
		ssize_t n = getdents64(d->dc.fd, b->dents, DENTS_BUF);
		if (n < 0) {
			tu_walk_report(d, NULL, "read directory", errno, NULL);
			break;
		}
		if (n == 0)
			break;
		size_t k = 0;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(b->dents + off);
			off += de->d_reclen;
			const char *nm = de->d_name;
			if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
				continue;
			b->ents[k++] = (struct tu_dirent){ .name = nm, .ino = de->d_ino,
							   .type = de->d_type };
		}
		if (w->o->sort_by_inode && k > 1)
			qsort(b->ents, k, sizeof *b->ents, cmp_ino);
		for (size_t i = 0; i < k && !walk_stopped(w); i++) {
			struct tu_dirent *e = &b->ents[i];
			/* DT_UNKNOWN: try it as a directory; only a refusal
			   (ENOTDIR, ELOOP, ...) makes it a non-directory. */
			e->is_dir = e->type == DT_DIR ||
				    (e->type == DT_UNKNOWN && tu_is_dir_at(d->dc.fd, e->name));
			int r = ops->entry ? ops->entry(d, e, w->ctx) : TU_WALK_NEXT;
			if (r == TU_WALK_STOP) {
				atomic_store(&w->stop, true);
			} else if (r == TU_WALK_DESCEND || r == TU_WALK_FOLLOW) {
				struct tu_walk_dir *c = node_new(w, d, e->name, strlen(e->name));
				if (!c) {
					tu_walk_report(d, e->name, "descend", ENOMEM, NULL);
					continue;
				}
				c->dc.follow = r == TU_WALK_FOLLOW;
				c->stack_next = first;
				first = c;
				count++;
				atomic_fetch_add(&d->pending, 1);
			}
		}
	}
	if (ops->done_entries)
		ops->done_entries(d, w->ctx);
	pthread_mutex_lock(&w->lock);
	w->live += count;
	pthread_mutex_unlock(&w->lock);
	return first;
}

/* D's pending count reached zero: run its leave(), then its parent's when
   D was the last child, and so on up. CHILD_DONE is a finished child of D
   still held open, so D can be re-opened through its "..". */
static void complete(struct walk *w, struct tu_walk_dir *d, struct tu_walk_dir *child_done,
		     struct worker_buf *b)
{
	while (d) {
		int fd = pin(w, d, child_done);
		if (child_done)
			node_free(w, child_done);
		child_done = NULL;
		struct tu_walk_dir *p = d->parent;
		if (fd < 0) {
			d->aborted = true;
			tu_walk_report(d, NULL, "reopen directory", -fd, NULL);
		}
		int pfd = 0;
		if (p && fd >= 0) {
			pfd = pin(w, p, d);
			if (pfd < 0) {
				d->aborted = true;
				tu_walk_report(p, NULL, "reopen directory", -pfd, NULL);
			}
		}
		int r = TU_WALK_NEXT;
		if (d->entered && w->ops->leave)
			r = w->ops->leave(d, w->ctx);
		bool again = r == TU_WALK_AGAIN && !tu_walk_dir_aborted(d);
		if (r == TU_WALK_STOP)
			atomic_store(&w->stop, true);
		if (again) {
			if (lseek(fd, 0, SEEK_SET) < 0) {
				tu_walk_report(d, NULL, "rewind directory", errno, NULL);
				again = false;
			} else {
				push_children(w, read_dir(w, d, b));
			}
		}
		if (p && pfd >= 0 && fd >= 0)
			unpin(w, p);
		if (fd >= 0)
			unpin(w, d);
		if (again) {
			if (atomic_fetch_sub(&d->pending, 1) != 1)
				return;		/* its new children finish it */
			continue;
		}
		if (!p) {
			node_free(w, d);
			return;
		}
		if (atomic_fetch_sub(&p->pending, 1) != 1) {
			node_free(w, d);
			return;
		}
		child_done = d;
		d = p;
	}
}

/* A child directory that was never entered is done. */
static void abandon(struct walk *w, struct tu_walk_dir *d, struct worker_buf *b)
{
	struct tu_walk_dir *p = d->parent;
	if (atomic_fetch_sub(&p->pending, 1) == 1)
		complete(w, p, NULL, b);
	node_free(w, d);
}

/* Open the directory the symlink D names, and refuse it (-ELOOP) when it is
   a directory on the path to D: following it again would never end. The
   path's identities are all in memory, so the check costs no system call. */
static int open_followed(struct tu_walk_dir *d, int pfd)
{
	int fd = tu_dir_open_follow(pfd, d->name, &d->dc.id);
	if (fd < 0)
		return fd;
	for (const struct tu_walk_dir *a = d->parent; a; a = a->parent) {
		if (tu_ident_same(&a->dc.id, &d->dc.id)) {
			close(fd);
			return -ELOOP;
		}
	}
	return fd;
}

static const char *open_failure_op(const struct tu_walk_dir *d, int err)
{
	if (err == -EXDEV)
		return "enter";
	return d->dc.follow ? "follow symlink" : "open directory";
}

static const char *open_failure_detail(const struct tu_walk_dir *d, int err)
{
	if (err == -EXDEV)
		return "mount point, skipped";
	if (d->dc.follow && err == -ELOOP)
		return "a symlink loop, not followed";
	return NULL;
}

/* Open, read and (if it has no children) finish one queued directory.
   Returns one of its children for the same worker to visit next: going on
   down without a hand-over to another thread is what makes deep chains
   cheap. The other children are queued for any worker. */
static struct tu_walk_dir *visit(struct walk *w, struct tu_walk_dir *d, struct worker_buf *b)
{
	struct tu_walk_dir *p = d->parent;
	if (walk_stopped(w)) {
		abandon(w, d, b);
		return NULL;
	}
	int pfd = pin(w, p, NULL);
	if (pfd < 0) {
		tu_walk_report(p, NULL, "reopen directory", -pfd, NULL);
		abandon(w, d, b);
		return NULL;
	}
	pthread_mutex_lock(&w->lock);
	tu_dc_make_room_locked(&w->dc);
	tu_dc_reserve_locked(&w->dc);	/* for d */
	pthread_mutex_unlock(&w->lock);

	int fd;
	if (d->dc.follow)
		fd = open_followed(d, pfd);
	else if (w->o->force_search)
		fd = tu_dir_open_forced(pfd, d->name, &d->dc.id, &d->forced_mode);
	else
		fd = tu_dir_open_at(pfd, d->name, &d->dc.id);
	if (fd >= 0) {
		d->is_mount = d->dc.id.mount_root || d->dc.id.dev != p->dc.id.dev ||
			      (d->dc.id.mnt_id && p->dc.id.mnt_id && d->dc.id.mnt_id != p->dc.id.mnt_id);
		if (d->is_mount && w->o->one_file_system) {
			close(fd);
			fd = -EXDEV;
		}
	}
	if (fd < 0) {
		pthread_mutex_lock(&w->lock);
		tu_dc_unreserve_locked(&w->dc);
		pthread_mutex_unlock(&w->lock);
		tu_walk_report(p, d->name, open_failure_op(d, fd), -fd, open_failure_detail(d, fd));
		unpin(w, p);
		abandon(w, d, b);
		return NULL;
	}
	pthread_mutex_lock(&w->lock);
	d->dc.fd = fd;
	d->dc.pins = 1;
	pthread_mutex_unlock(&w->lock);

	struct tu_walk_dir *next = read_dir(w, d, b);
	if (next) {
		push_children(w, next->stack_next);
		next->stack_next = NULL;
	}
	unpin(w, d);
	unpin(w, p);
	if (atomic_fetch_sub(&d->pending, 1) == 1)
		complete(w, d, NULL, b);
	return next;
}

/* ---- workers --------------------------------------------------------------- */

static int buf_init(struct worker_buf *b)
{
	b->dents = malloc(DENTS_BUF);
	/* The smallest record is 24 bytes (a name of one byte). */
	b->nents_max = DENTS_BUF / 24 + 1;
	b->ents = malloc(b->nents_max * sizeof *b->ents);
	if (!b->dents || !b->ents) {
		free(b->dents);
		free(b->ents);
		return -ENOMEM;
	}
	return 0;
}

static void buf_free(struct worker_buf *b)
{
	free(b->dents);
	free(b->ents);
}

void tu_walk_wake(struct tu_walk_dir *d)
{
	struct walk *w = d->w;
	pthread_mutex_lock(&w->lock);
	w->wakes++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void work(struct walk *w, struct worker_buf *b)
{
	pthread_mutex_lock(&w->lock);
	for (;;) {
		bool looked = false;
		while (!w->stack && w->live > 0) {
			/* No directory: the algorithm's side work, if any.
			   Whatever changed while idle() ran unlocked (a
			   directory queued, the walk over, more side work) is
			   seen by the loop's test, made again under the lock
			   before sleeping; a wake that came meanwhile moved
			   the count, so idle() looks again. */
			if (w->ops->idle && !looked) {
				unsigned long seen = w->wakes;
				pthread_mutex_unlock(&w->lock);
				bool did = w->ops->idle(w->ctx);
				pthread_mutex_lock(&w->lock);
				looked = !did && seen == w->wakes;
				continue;
			}
			pthread_cond_wait(&w->cond, &w->lock);
			looked = false;
		}
		if (w->live == 0)
			break;
		struct tu_walk_dir *d = w->stack;
		w->stack = d->stack_next;
		pthread_mutex_unlock(&w->lock);
		while (d)
			d = visit(w, d, b);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct walk *w = arg;
	struct worker_buf b;
	if (buf_init(&b) < 0) {
		/* One worker fewer; the others do its share. */
		return NULL;
	}
	work(w, &b);
	buf_free(&b);
	return NULL;
}

static int fd_budget(const struct tu_walk_opts *o)
{
	if (o->fd_budget > 0)
		return o->fd_budget;
	struct rlimit rl;
	long cur = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cur = (long)rl.rlim_cur;
	/* Half the limit, leaving the rest to the algorithm's own files. */
	long b = (cur - 16) / 2;
	if (b > 4096)
		b = 4096;
	if (b < 8)
		b = 8;
	return (int)b;
}

int tu_walk(int root_fd, const char *root_path, const struct tu_walk_opts *o,
	    const struct tu_walk_ops *ops, void *ctx)
{
	struct walk w = { .o = o, .ops = ops, .ctx = ctx, .root_path = root_path };
	w.dc.budget = fd_budget(o);
	w.dc.lock = &w.lock;
	int jobs = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	/* Each worker pins its directory and that directory's parent. */
	while (jobs > 1 && 3 * jobs + 2 > w.dc.budget)
		jobs--;
	if (jobs > 256)
		jobs = 256;

	struct tu_walk_dir *root = node_new(&w, NULL, "", 0);
	if (!root)
		return -ENOMEM;
	int r = tu_ident_fd(root_fd, &root->dc.id);
	if (r < 0) {
		free(root);
		return r;
	}
	root->dc.fd = root_fd;
	root->dc.pins = 2;			/* never evicted: the fd is the caller's */
	w.root = root;
	w.live = 1;
	pthread_mutex_init(&w.lock, NULL);
	pthread_mutex_init(&w.err_lock, NULL);
	pthread_cond_init(&w.cond, NULL);

	struct worker_buf b;
	r = buf_init(&b);
	if (r < 0) {
		free(root);
		return r;
	}
	/* Grow the fd table to the budget now, while this may be the only
	   thread: the kernel waits for an RCU grace period on each growth of a
	   table shared between threads, which costs milliseconds every time
	   a deep walk crosses a power of two. */
	if (jobs > 1) {
		int hi = fcntl(root_fd, F_DUPFD_CLOEXEC, w.dc.budget + 3 * jobs + 32);
		if (hi >= 0)
			close(hi);
	}
	pthread_t *threads = calloc((size_t)jobs, sizeof *threads);
	int started = 0;
	for (int i = 1; threads && i < jobs; i++) {
		if (pthread_create(&threads[started], NULL, worker_main, &w) != 0)
			break;
		started++;
	}

	push_children(&w, read_dir(&w, root, &b));
	unpin(&w, root);
	if (atomic_fetch_sub(&root->pending, 1) == 1)
		complete(&w, root, NULL, &b);
	work(&w, &b);

	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	buf_free(&b);
	pthread_mutex_destroy(&w.lock);
	pthread_mutex_destroy(&w.err_lock);
	pthread_cond_destroy(&w.cond);
	return walk_stopped(&w) ? -ECANCELED : 0;
}

/* ---- accessors --------------------------------------------------------------- */

int tu_walk_dir_fd(struct tu_walk_dir *d) { return d->dc.fd; }
int tu_walk_dir_parent_fd(struct tu_walk_dir *d) { return d->parent ? d->parent->dc.fd : -1; }
struct tu_walk_dir *tu_walk_dir_parent(struct tu_walk_dir *d) { return d->parent; }
const char *tu_walk_dir_name(const struct tu_walk_dir *d) { return d->name; }
int tu_walk_dir_depth(const struct tu_walk_dir *d) { return d->depth; }
const struct tu_ident *tu_walk_dir_ident(const struct tu_walk_dir *d) { return &d->dc.id; }
bool tu_walk_dir_is_mount(const struct tu_walk_dir *d) { return d->is_mount; }
bool tu_walk_dir_followed(const struct tu_walk_dir *d) { return d->dc.follow; }
mode_t tu_walk_dir_forced_mode(const struct tu_walk_dir *d) { return d->forced_mode; }
void **tu_walk_dir_slot(struct tu_walk_dir *d) { return &d->slot; }
_Atomic uint32_t *tu_walk_dir_flags(struct tu_walk_dir *d) { return &d->flags; }

bool tu_walk_dir_aborted(const struct tu_walk_dir *d)
{
	return d->aborted || walk_stopped(d->w);
}
