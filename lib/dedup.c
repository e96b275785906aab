/* SPDX-License-Identifier: Apache-2.0 */
/* dedup.c: replace identical regular files with hard links to one kept file,
 * or share their extents with FIDEDUPERANGE.
 *
 * The pipeline, cheapest test first, so that data is read only for files
 * that might still be duplicates:
 *
 *  1. collect: walker callbacks record every regular file (d_type, then one
 *     statx); sorted by (device, mount, size, inode);
 *  2. size groups: files of one size on one mount; names of one inode are
 *     one candidate (already linked: nothing to do);
 *  3. metadata: owner, group, mode and mtime must match, as a hard link
 *     forces one of each on every name (each relaxed by an option);
 *  4. hash: hash records are read by name, without opening the file
 *     (getxattrat): during the walk, through the directory fd the walker
 *     holds, for a file whose size and metadata key an earlier file had
 *     (lookup_in_walk); after the walk, one directory at a time, for the
 *     first file of each size group (dd_lookup_records); a file that no other
 *     file of its size and metadata key could match is never looked up. A
 *     directory's .spookyhashes is read once, when the walk has listed the
 *     directory (dd_done_entries), for all its files. Where all of a
 *     group have a valid record it decides, and a file with a unique digest
 *     is never opened; where some have, the others are hashed whole; where
 *     none has, the first 4 KiB are hashed, and only files whose prefix
 *     matches another's are hashed whole (through the cache, which stores
 *     the record for the next run: in the xattr at once, or, kept back, in
 *     the directory's .spookyhashes after the workers are done; see
 *     dd_store_pending);
 *  5. xattrs: every name and value but user.spookyhash, sorted by name;
 *  6. bytes: the candidate is compared with the kept file (unless
 *     trust_hash; FIDEDUPERANGE compares in the kernel);
 *  7. replace each name of the duplicate (see replace_name()).
 *
 * Size groups are independent: worker threads take them one at a time.
 *
 * Where each stage lives (their shared state: dedup_pipeline.h):
 *   dedup.c          this overview, the entry points, messages and paths;
 *   dedup_walk.c     1, collect (and the records read during the walk);
 *   dedup_group.c    2 and 3a, size groups and the records read by name;
 *   dedup_compare.c  3 to 6 for one size group, in the worker threads;
 *   dedup_link.c     7, the kept file, confirm, replace; leftovers.
 *
 * Files are re-opened after the walk by their path below the held DIR fd
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (tu_open_beneath), and
 * refused unless (dev, ino, size) are what the walk saw.
 *
 * Memory: one struct dfile (96 bytes) plus the name per regular file, one
 * struct ddir plus its relative path per directory; a size group's
 * candidates (about 120 bytes each) while it is worked on.
 *
 * This file must never follow a symlink, never touch anything but regular
 * files, never link across devices or mounts, never remove a name before
 * its replacement is in place, and never print.
 */
#define TU_INTERNAL
#include "dedup.h"
#include "dedup_pipeline.h"
#include "hashstore.h"
#include "spooky.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifdef TU_TEST_HOOKS
void (*tu_dedup_hook)(enum tu_dedup_hook_point p, int dirfd, const char *name);
unsigned long tu_dedup_link_max;
#endif

/* ---- small helpers ------------------------------------------------------------ */

int64_t dd_ts_ns(const struct statx_timestamp *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void state_from_statx(const struct statx *sx, struct fstate *s)
{
	s->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	s->ino = sx->stx_ino;
	s->size = sx->stx_size;
	s->nlink = sx->stx_nlink;
	s->mtime = dd_ts_ns(&sx->stx_mtime);
	s->ctime = dd_ts_ns(&sx->stx_ctime);
	s->mode = sx->stx_mode;
	s->uid = sx->stx_uid;
	s->gid = sx->stx_gid;
}

int dd_state_fd(int fd, struct fstate *s)
{
	struct statx sx;
	int r = tu_statx_fd(fd, STATE_MASK, &sx);
	if (r < 0)
		return r;
	state_from_statx(&sx, s);
	return 0;
}

bool dd_same_file_state(const struct fstate *a, const struct fstate *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime == b->mtime && a->ctime == b->ctime;
}

/* "DIR/rel/name", for messages and callbacks only. */
char *dd_path_of(struct dd *dd, const struct ddir *dir, const char *name)
{
	const char *disp = dd->displays[dir->root];
	/* "" is the display of a file operand's directory given as no
	   directory at all ("f"). */
	const char *sep1 = strcmp(disp, "/") == 0 || !disp[0] ? "" : "/";
	char *out = NULL;
	int r;
	if (dir->rel[0])
		r = asprintf(&out, "%s%s%s%s%s", disp, sep1, dir->rel, name ? "/" : "",
			     name ? name : "");
	else
		r = asprintf(&out, "%s%s%s", disp, name ? sep1 : "", name ? name : "");
	return r < 0 ? NULL : out;
}

void dd_report(struct dd *dd, const struct dfile *f, const char *op, int err,
		   const char *detail)
{
	char *p = dd_path_of(dd, f->dir, f->name);
	tu_rep_fail(&dd->rep, p, op, err, detail);
	free(p);
}

void dd_warn(struct dd *dd, const struct dfile *f, const char *op, int err,
		 const char *detail)
{
	if (!dd->o->warning || tu_rep_stopped(&dd->rep))
		return;
	char *p = f ? dd_path_of(dd, f->dir, f->name) : NULL;
	tu_rep_warn(&dd->rep, p ? p : dd->displays[0], op, err, detail);
	free(p);
}

/* Does PA/NA come before PB/NB (the paths "rel/name")? */
int dd_path_cmp(const struct dfile *a, const struct dfile *b)
{
	if (a->dir->root != b->dir->root)
		return a->dir->root < b->dir->root ? -1 : 1;
	const char *pa[3] = { a->dir->rel, a->dir->rel[0] ? "/" : "", a->name };
	const char *pb[3] = { b->dir->rel, b->dir->rel[0] ? "/" : "", b->name };
	int ia = 0, ib = 0;
	const unsigned char *sa = (const unsigned char *)pa[0];
	const unsigned char *sb = (const unsigned char *)pb[0];
	for (;;) {
		while (!*sa && ia < 2)
			sa = (const unsigned char *)pa[++ia];
		while (!*sb && ib < 2)
			sb = (const unsigned char *)pb[++ib];
		if (*sa != *sb)
			return *sa < *sb ? -1 : 1;
		if (!*sa)
			return 0;
		sa++;
		sb++;
	}
}

bool dd_push(void **arr, size_t *n, size_t *cap, size_t size)
{
	if (*n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

int dd_cmp_ident(const void *pa, const void *pb)
{
	const struct tu_ident *a = pa, *b = pb;
	return tu_devino_cmp(a->dev, a->ino, b->dev, b->ino);
}

/* The directory holding F, checked to be the one the walk saw. */
int dd_open_dir_of(struct dd *dd, const struct dfile *f)
{
	int fd = tu_open_beneath(dd->root_fds[f->dir->root], f->dir->rel,
				 O_RDONLY | O_DIRECTORY | O_NONBLOCK, dd->o->one_file_system);
	if (fd < 0)
		return fd;
	struct tu_ident id;
	int r = tu_ident_fd(fd, &id);
	if (r == 0 && (id.dev != f->dir->dev || id.ino != f->dir->ino))
		r = -ESTALE;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- entry points ------------------------------------------------------------------- */

void tu_dedup_opts_init(struct tu_dedup_opts *o)
{
	memset(o, 0, sizeof *o);
	o->min_size = 1;
	o->max_size = UINT64_MAX;
}

/* Open DIR i into root_fds[i] and root_ids[i]. */
static int open_root(struct dd *dd, size_t i)
{
	const char *path = dd->dirs[i];
	const char *disp = dd->displays[i];
	if (path[0] == '\0') {
		tu_rep_fail(&dd->rep, path, "open", ENOENT, NULL);
		return -ENOENT;
	}
	/* Symlinks leading to a DIR are followed as any tool does; a DIR that
	   is itself a symlink only when written with a trailing slash. Nothing
	   below it is ever followed. */
	size_t len = strlen(path);
	int fd;
	if (len > 1 && path[len - 1] == '/') {
		fd = tu_dir_open_path(path);
	} else {
		char *buf = malloc(len + 2);
		const char *last;
		fd = buf ? tu_open_parent(path, buf, len + 2, &last) : -ENOMEM;
		if (fd >= 0) {
			int pfd = fd;
			fd = tu_dir_open_at(pfd, last, &dd->root_ids[i]);
			/* A file operand, as hardlink(1) takes them: the file
			   joins the candidates, through its directory. */
			if (fd == -ENOTDIR && dd_add_file_operand(dd, i, pfd, buf, last) == 0) {
				free(buf);
				return 0;
			}
			close(pfd);
		}
		free(buf);
	}
	if (fd >= 0) {
		int r = tu_ident_fd(fd, &dd->root_ids[i]);
		if (r < 0) {
			close(fd);
			fd = r;
		}
	}
	if (fd < 0) {
		tu_rep_fail(&dd->rep, disp, "open directory", -fd,
			    fd == -ELOOP ? "a symbolic link, not followed; write 'LINK/' to "
			    "use the directory it points to" : NULL);
		return fd;
	}
	dd->root_fds[i] = fd;
	return 0;
}

int tu_dedup(const char *const *dirs, size_t ndirs, const struct tu_dedup_opts *o)
{
	struct dd dd = { .o = o, .dirs = dirs, .ndirs = ndirs, .euid = geteuid() };
	pthread_mutex_init(&dd.lock, NULL);
	pthread_mutex_init(&dd.out_lock, NULL);
	tu_rep_init(&dd.rep, o->error, o->warning, o->ctx, o->stats, &dd.out_lock);
	int r = 0;
	dd.root_fds = malloc((ndirs ? ndirs : 1) * sizeof *dd.root_fds);
	dd.displays = calloc(ndirs ? ndirs : 1, sizeof *dd.displays);
	dd.root_ids = calloc(ndirs ? ndirs : 1, sizeof *dd.root_ids);
	dd.walked = calloc(ndirs ? ndirs : 1, sizeof *dd.walked);
	dd.file_operand = calloc(ndirs ? ndirs : 1, sizeof *dd.file_operand);
	/* Without it records are all read after the walk. */
	if (o->store != TU_STORE_FILE)
		dd.seen = calloc(SEEN_BITS / 64, sizeof *dd.seen);
	/* Before any goto out, which closes every root fd that is >= 0
	   (found by clang-tidy: on ENOMEM it closed uninitialized values). */
	for (size_t i = 0; dd.root_fds && i < ndirs; i++)
		dd.root_fds[i] = -1;
	if (!dd.root_fds || !dd.displays || !dd.root_ids || !dd.walked || !dd.file_operand) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ndirs; i++) {
		char *d = strdup(dirs[i]);
		if (!d) {
			r = -ENOMEM;
			goto out;
		}
		size_t len = strlen(d);
		while (len > 1 && d[len - 1] == '/')
			d[--len] = '\0';
		dd.displays[i] = d;
	}
	/* A DIR given twice (by any path) is walked once, where it first
	   appears; one inside another is left out of the outer one's walk
	   (dd_enter), so no file is found twice. */
	size_t opened = 0;
	for (size_t i = 0; i < ndirs; i++) {
		if (open_root(&dd, i) < 0)
			continue;
		opened++;
		if (dd.file_operand[i])
			continue;
		bool again = false;
		for (size_t j = 0; j < dd.nwalked && !again; j++)
			again = tu_ident_same(&dd.walked[j], &dd.root_ids[i]);
		if (again) {
			close(dd.root_fds[i]);
			dd.root_fds[i] = -1;
			continue;
		}
		dd.walked[dd.nwalked++] = dd.root_ids[i];
	}
	if (opened == 0) {
		/* Nothing could start: every DIR was refused (reported). */
		r = !ndirs ? -EINVAL : tu_rep_first(&dd.rep) ? -tu_rep_first(&dd.rep) : -ENOENT;
		goto out;
	}
	qsort(dd.walked, dd.nwalked, sizeof *dd.walked, dd_cmp_ident);
	/* Open before the walk, which reads records (lookup_in_walk). */
	struct tu_hashcache_opts ho;
	tu_hashcache_opts_init(&ho);
	ho.mode = TU_HASHCACHE_UPDATE;
	ho.store = o->store;
	/* No record is stored in a dry run: storing one moves ctime. */
	ho.no_store = o->dry_run;
	ho.jobs = 1;
	/* Only dd_store_pending() makes the stores report, alone, after the
	   workers: no callback of ours runs twice at once. */
	ho.error = o->error;
	ho.warning = o->warning;
	ho.ctx = o->ctx;
	r = tu_hashcache_open(&dd.hc, &ho);
	if (r == 0) {
		ho.mode = TU_HASHCACHE_SHOW;
		ho.error = ho.warning = NULL;
		r = tu_hashcache_open(&dd.hc_show, &ho);
	}
	if (r == 0 && o->store != TU_STORE_XATTR) {
		ho.store = TU_STORE_FILE;
		r = tu_hashcache_open(&dd.hc_side, &ho);
	}
	if (r < 0) {
		/* Nothing could start. */
		tu_rep_call(&dd.rep, dd.displays[0], "deduplicate", -r, NULL);
		goto out;
	}
	/* After a TU_STOP answer (the reporter's latch) no stage starts, and
	   the walker and the workers stop at their next entry. */
	for (size_t i = 0; i < ndirs && !tu_rep_stopped(&dd.rep); i++)
		if (dd.root_fds[i] >= 0 && !dd.file_operand[i])
			dd_walk_one(&dd, i);
	r = 0;
	if (!tu_rep_stopped(&dd.rep)) {
		dd_clean_leftovers(&dd);
		r = dd_make_groups(&dd);
	}
	if (r == 0 && !tu_rep_stopped(&dd.rep))
		r = dd_run_workers(&dd);
	if (!tu_rep_stopped(&dd.rep))
		dd_store_pending(&dd);
	if (r < 0)
		tu_rep_fail(&dd.rep, dd.displays[0], "deduplicate", -r, NULL);
	r = tu_rep_result(&dd.rep);
out:
	tu_hashcache_close(dd.hc);
	tu_hashcache_close(dd.hc_show);
	tu_hashcache_close(dd.hc_side);
	for (size_t i = 0; dd.root_fds && i < ndirs; i++)
		if (dd.root_fds[i] >= 0)
			close(dd.root_fds[i]);
	for (size_t i = 0; dd.displays && i < ndirs; i++)
		free(dd.displays[i]);
	for (size_t i = 0; i < dd.ndirs_seen; i++) {
		free(dd.dirs_seen[i]->rel);
		free(dd.dirs_seen[i]);
	}
	for (size_t i = 0; i < dd.nblocks; i++)
		free(dd.blocks[i]);
	for (size_t i = 0; i < dd.nleft; i++)
		free(dd.left[i].name);
	free(dd.left);
	free(dd.pending);
	free(dd.blocks);
	free(dd.dirs_seen);
	free(dd.files);
	free(dd.groups);
	free(dd.root_fds);
	free(dd.root_ids);
	free(dd.walked);
	free(dd.file_operand);
	free(dd.seen);
	free(dd.displays);
	pthread_mutex_destroy(&dd.lock);
	pthread_mutex_destroy(&dd.out_lock);
	return r;
}
