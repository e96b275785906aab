/* SPDX-License-Identifier: Apache-2.0 */
/* links.c: hard-link groups in trees, and every path of one inode, as walker
 * callbacks (dedup --links and --paths-of).
 *
 * --links needs each non-directory's link count, so every such entry costs
 * one statx (mask: type, inode, nlink). --paths-of needs none: d_ino from
 * the directory read picks the candidates, and only they are statx'd to
 * confirm the device.
 *
 * Memory: one struct lrec (32 bytes) plus the path per name of an inode
 * with more than one link (--links), or per match (--paths-of).
 *
 * This file must never follow a symlink, never change anything, and never
 * print.
 */
#define TU_INTERNAL
#include "report.h"
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

/* One name of a linked inode. */
struct lrec {
	dev_t dev;
	uint64_t ino;
	uint64_t nlink;
	char *path;
};

struct lk {
	const struct tu_links_opts *o;
	bool paths_of;		/* else --links */
	dev_t want_dev;
	uint64_t want_ino;
	pthread_mutex_t lock;
	struct lrec *recs;
	size_t n, cap;
	struct tu_reporter rep;	/* failures, "some failed", "stop" */
};

static void call_error(struct lk *lk, const char *path, const char *op, int err)
{
	tu_rep_fail(&lk->rep, path, op, err, NULL);
}

static void add(struct lk *lk, struct tu_walk_dir *d, const char *name, const struct statx *sx)
{
	char *path = tu_walk_path(d, name);
	if (!path) {
		tu_rep_mark(&lk->rep, ENOMEM);
		tu_walk_report(d, name, "remember", ENOMEM, NULL);
		return;
	}
	pthread_mutex_lock(&lk->lock);
	if (lk->n == lk->cap) {
		size_t ncap = lk->cap ? lk->cap * 2 : 256;
		struct lrec *p = realloc(lk->recs, ncap * sizeof *p);
		if (p) {
			lk->recs = p;
			lk->cap = ncap;
		}
	}
	if (lk->n < lk->cap) {
		lk->recs[lk->n++] = (struct lrec){
			.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor), .ino = sx->stx_ino,
			.nlink = sx->stx_nlink, .path = path,
		};
		path = NULL;
	}
	pthread_mutex_unlock(&lk->lock);
	if (path) {
		free(path);
		tu_rep_mark(&lk->rep, ENOMEM);
		tu_walk_report(d, name, "remember", ENOMEM, NULL);
	}
}

static int lk_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct lk *lk = ctx;
	if (lk->o->stats)
		atomic_fetch_add(&lk->o->stats->entries, 1);
	if (e->is_dir)
		return TU_WALK_DESCEND;
	if (lk->paths_of && e->ino != lk->want_ino)
		return TU_WALK_NEXT;
	struct statx sx;
	int r = tu_statx_at(tu_walk_dir_fd(d), e->name, STATX_TYPE | STATX_INO | STATX_NLINK, &sx);
	if (r < 0) {
		if (r != -ENOENT) {
			tu_rep_mark(&lk->rep, -r);
			tu_walk_report(d, e->name, "stat", -r, NULL);
		}
		return TU_WALK_NEXT;
	}
	if (S_ISDIR(sx.stx_mode))
		return TU_WALK_NEXT;	/* became one meanwhile: not ours to group */
	if (lk->paths_of) {
		if (sx.stx_ino == lk->want_ino &&
		    makedev(sx.stx_dev_major, sx.stx_dev_minor) == lk->want_dev)
			add(lk, d, e->name, &sx);
	} else if (sx.stx_nlink > 1) {
		add(lk, d, e->name, &sx);
	}
	return TU_WALK_NEXT;
}

static int lk_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d;
	struct lk *lk = ctx;
	if (tu_walk_err_vanished(e) || tu_walk_err_skipped_mount(e))
		return TU_CONTINUE;
	return tu_rep_fail_err(&lk->rep, e);
}

static int cmp_rec(const void *pa, const void *pb)
{
	const struct lrec *a = pa, *b = pb;
	int c = tu_devino_cmp(a->dev, a->ino, b->dev, b->ino);
	return c ? c : strcmp(a->path, b->path);
}

/* Open DIR as dedup does: a DIR that is a symlink only with a trailing
   slash. The fd, or -errno (reported). */
static int open_dir(struct lk *lk, const char *path, char **display)
{
	size_t len = strlen(path);
	*display = strdup(path);
	if (!*display)
		return -ENOMEM;
	size_t dl = len;
	while (dl > 1 && (*display)[dl - 1] == '/')
		(*display)[--dl] = '\0';
	int fd;
	if (len == 0) {
		fd = -ENOENT;
	} else if (len > 1 && path[len - 1] == '/') {
		fd = tu_dir_open_path(path);
	} else {
		char *buf = malloc(len + 2);
		const char *last;
		fd = buf ? tu_open_parent(path, buf, len + 2, &last) : -ENOMEM;
		if (fd >= 0) {
			int pfd = fd;
			struct tu_ident id;
			fd = tu_dir_open_at(pfd, last, &id);
			close(pfd);
		}
		free(buf);
	}
	if (fd < 0)
		call_error(lk, *display, "open directory", -fd);
	return fd;
}

static int run(struct lk *lk, const char *const *dirs, size_t ndirs)
{
	static const struct tu_walk_ops ops = { .entry = lk_entry, .error = lk_walk_error };
	struct tu_walk_opts wo = { .jobs = lk->o->jobs, .one_file_system = lk->o->one_file_system,
				   .stop = &lk->rep.stop };
	size_t opened = 0;
	for (size_t i = 0; i < ndirs && !tu_rep_stopped(&lk->rep); i++) {
		char *display;
		int fd = open_dir(lk, dirs[i], &display);
		if (fd >= 0) {
			opened++;
			int r = tu_walk(fd, strcmp(display, "/") == 0 ? "" : display, &wo, &ops, lk);
			if (r < 0 && r != -ECANCELED)
				call_error(lk, display, "walk", -r);
			close(fd);
		}
		free(display);
	}
	/* After a TU_STOP answer no group is handed over. */
	bool cancelled = tu_rep_stopped(&lk->rep);
	if (lk->n)	/* recs is NULL when nothing was found */
		qsort(lk->recs, lk->n, sizeof *lk->recs, cmp_rec);
	/* Group by inode and hand each group over. */
	const char **paths = lk->n ? malloc(lk->n * sizeof *paths) : NULL;
	for (size_t i = 0; paths && i < lk->n;) {
		size_t j = i, k = 0;
		while (j < lk->n && lk->recs[j].dev == lk->recs[i].dev &&
		       lk->recs[j].ino == lk->recs[i].ino) {
			/* The same DIR given twice finds a name twice. */
			if (k == 0 || strcmp(paths[k - 1], lk->recs[j].path) != 0)
				paths[k++] = lk->recs[j].path;
			j++;
		}
		if (lk->o->group && !cancelled)
			lk->o->group(paths, k, lk->recs[i].nlink, lk->o->ctx);
		i = j;
	}
	if (lk->n && !paths)
		call_error(lk, dirs[0], "list links in", ENOMEM);
	free(paths);
	for (size_t i = 0; i < lk->n; i++)
		free(lk->recs[i].path);
	free(lk->recs);
	if (opened == 0)	/* nothing could start: no DIR opened (reported) */
		return !ndirs ? -EINVAL : tu_rep_first(&lk->rep) ? -tu_rep_first(&lk->rep) : -ENOENT;
	return tu_rep_result(&lk->rep);
}

void tu_links_opts_init(struct tu_links_opts *o)
{
	memset(o, 0, sizeof *o);
}

int tu_links(const char *const *dirs, size_t ndirs, const struct tu_links_opts *o)
{
	struct lk lk = { .o = o };
	pthread_mutex_init(&lk.lock, NULL);
	tu_rep_init(&lk.rep, o->error, NULL, o->ctx, o->stats, &lk.lock);
	int r = run(&lk, dirs, ndirs);
	pthread_mutex_destroy(&lk.lock);
	return r;
}

int tu_paths_of(const char *file, const char *const *dirs, size_t ndirs,
		const struct tu_links_opts *o)
{
	struct lk lk = { .o = o, .paths_of = true };
	pthread_mutex_init(&lk.lock, NULL);
	tu_rep_init(&lk.rep, o->error, NULL, o->ctx, o->stats, &lk.lock);
	struct stat st;
	int r;
	r = tu_stat_at(AT_FDCWD, file, &st, false);
	if (r < 0) {
		call_error(&lk, file, "stat", -r);
	} else if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		call_error(&lk, file, "find the paths of", EISDIR);
	} else {
		lk.want_dev = st.st_dev;
		lk.want_ino = st.st_ino;
		r = run(&lk, dirs, ndirs);
		if (r == 0 && !lk.n && o->group)
			o->group(NULL, 0, st.st_nlink, o->ctx);
	}
	pthread_mutex_destroy(&lk.lock);
	return r;
}
