/* SPDX-License-Identifier: Apache-2.0 */
/* dedup_walk.c: stage 1 of dedup (see dedup.c), collect: the walker's
 * callbacks record every regular file under the DIRs (d_type, then one
 * statx), read hash records while the walker holds a directory
 * (lookup_in_walk, dd_done_entries), and note our temporary names that a
 * crash may have left (cleaned by dd_clean_leftovers).
 *
 * It must never open, read or change a file, never follow a symlink, and
 * never look at anything but regular files; it only remembers.
 */
#define TU_INTERNAL
#include "dedup.h"
#include "dedup_pipeline.h"
#include "hashstore.h"
#include "spooky.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Per-directory state of the walk. */
struct dslot {
	struct ddir *dir;
	struct dfile *files;
	size_t n, cap;
	char *names;
	size_t nlen, ncap;
};

static int dd_enter(struct tu_walk_dir *d, void *ctx)
{
	struct dd *dd = ctx;
	struct tu_walk_dir *pd = tu_walk_dir_parent(d);
	struct dslot *parent = pd ? *(struct dslot **)tu_walk_dir_slot(pd) : NULL;
	/* A DIR inside another DIR is walked once, as itself: its files are
	   not found twice. */
	if (pd && bsearch(tu_walk_dir_ident(d), dd->walked, dd->nwalked, sizeof *dd->walked,
			  dd_cmp_ident))
		return TU_WALK_SKIP;
	struct dslot *s = calloc(1, sizeof *s);
	struct ddir *dir = calloc(1, sizeof *dir);
	if (s && dir) {
		const char *name = tu_walk_dir_name(d);
		const struct ddir *up = parent ? parent->dir : NULL;
		if (!up)
			dir->rel = strdup("");
		else if (up->rel[0] == '\0')
			dir->rel = strdup(name);
		else if (asprintf(&dir->rel, "%s/%s", up->rel, name) < 0)
			dir->rel = NULL;
	}
	if (!s || !dir || !dir->rel) {
		free(s);
		if (dir)
			free(dir->rel);
		free(dir);
		tu_rep_mark(&dd->rep, ENOMEM);
		tu_walk_report(d, NULL, "read directory", ENOMEM, NULL);
		return TU_WALK_SKIP;
	}
	const struct tu_ident *id = tu_walk_dir_ident(d);
	dir->dev = id->dev;
	dir->ino = id->ino;
	/* A parent's dir is set before any child is entered. */
	// NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
	dir->root = parent ? parent->dir->root : dd->cur_root;
	s->dir = dir;
	pthread_mutex_lock(&dd->lock);
	bool ok = dd_push((void **)&dd->dirs_seen, &dd->ndirs_seen, &dd->capdirs, sizeof *dd->dirs_seen);
	if (ok)
		dd->dirs_seen[dd->ndirs_seen++] = dir;
	pthread_mutex_unlock(&dd->lock);
	if (!ok) {
		free(dir->rel);
		free(dir);
		free(s);
		tu_rep_mark(&dd->rep, ENOMEM);
		tu_walk_report(d, NULL, "read directory", ENOMEM, NULL);
		return TU_WALK_SKIP;
	}
	*(struct dslot **)tu_walk_dir_slot(d) = s;
	return TU_WALK_NEXT;
}

static void add_leftover(struct dd *dd, struct dslot *s, const char *name, const struct statx *sx)
{
	char *copy = strdup(name);
	pthread_mutex_lock(&dd->lock);
	if (copy && dd_push((void **)&dd->left, &dd->nleft, &dd->capleft, sizeof *dd->left)) {
		dd->left[dd->nleft++] = (struct leftover){
			.dir = s->dir, .name = copy,
			.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor), .ino = sx->stx_ino,
		};
		copy = NULL;
	}
	pthread_mutex_unlock(&dd->lock);
	free(copy);
}

/* Room for LEN more bytes of names in S. */
static bool grow_names(struct dslot *s, size_t len)
{
	if (s->nlen + len <= s->ncap)
		return true;
	size_t ncap = s->ncap ? s->ncap : 1024;
	while (s->nlen + len > ncap)
		ncap *= 2;
	char *p = realloc(s->names, ncap);
	if (!p)
		return false;
	s->names = p;
	s->ncap = ncap;
	return true;
}

/* Has a file of F's size, place and metadata key been seen before (or
   one whose bit this shares)? Sets F's bit. */
static bool seen_before(struct dd *dd, const struct dfile *f)
{
	struct {
		uint64_t size, dev, mnt;
		unsigned char key[16];
	} k = { f->size, f->dev, f->mnt, { 0 } };
	dd_meta_key(dd, f, k.key);
	uint64_t h1 = 0, h2 = 0;
	tu_spooky_hash128(&k, sizeof k, &h1, &h2);
	uint64_t bit = h1 & (SEEN_BITS - 1), mask = UINT64_C(1) << (bit & 63);
	return atomic_fetch_or(&dd->seen[bit >> 6], mask) & mask;
}

/* F's xattr record, read now, while the walker holds its directory open
   (after the walk each directory would be opened again for it), if F
   can be in a size group: a file like it was seen before. The first of
   each group is looked up after the walk (dd_lookup_records); a file that
   turns out to be alone is then never looked up. With --store=file
   there is no xattr record to read, and records in a .spookyhashes are
   read by dd_done_entries(). */
static void lookup_in_walk(struct dd *dd, int dirfd, const char *name, struct dfile *f)
{
	if (dd->o->store == TU_STORE_FILE) {
		f->looked = true;
		return;
	}
	if (!dd->seen || !seen_before(dd, f))
		return;
	dd_set_record(dd->hc_show, NULL, dirfd, name, f);
	f->looked = true;
}

static void file_from_statx(struct dfile *f, const struct statx *sx, struct ddir *dir,
			    const char *name)
{
	*f = (struct dfile){
		.size = sx->stx_size, .ino = sx->stx_ino,
		.mnt = (sx->stx_mask & STATX_MNT_ID) ? sx->stx_mnt_id : 0,
		.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor),
		.mtime = dd_ts_ns(&sx->stx_mtime), .ctime = dd_ts_ns(&sx->stx_ctime),
		.mode = sx->stx_mode, .uid = sx->stx_uid,
		.gid = sx->stx_gid, .nlink = sx->stx_nlink, .dir = dir, .name = name,
	};
}

int dd_add_file_operand(struct dd *dd, size_t i, int pfd, char *path, const char *name)
{
	struct statx sx;
	if (tu_statx_at(pfd, name, SCAN_MASK, &sx) < 0 || !S_ISREG(sx.stx_mode))
		return -ENOTDIR;	/* not a regular file either: said as before */
	struct tu_ident pid;
	int r = tu_ident_fd(pfd, &pid);
	if (r < 0)
		return r;
	/* Its directory, as given: PATH up to NAME, without the slashes
	   that led to it ("" when NAME was given alone). */
	size_t dl = (size_t)(name - path);
	while (dl > 1 && path[dl - 1] == '/')
		dl--;
	char *disp = strndup(path, dl);
	char *copy = strdup(name);
	struct ddir *dir = calloc(1, sizeof *dir);
	char *rel = strdup("");
	pthread_mutex_lock(&dd->lock);
	bool ok = disp && copy && dir && rel &&
		  dd_push((void **)&dd->dirs_seen, &dd->ndirs_seen, &dd->capdirs,
			  sizeof *dd->dirs_seen) &&
		  dd_push((void **)&dd->blocks, &dd->nblocks, &dd->capblocks, sizeof *dd->blocks) &&
		  dd_push((void **)&dd->files, &dd->nfiles, &dd->capfiles, sizeof *dd->files);
	if (ok) {
		*dir = (struct ddir){ .rel = rel, .dev = pid.dev, .ino = pid.ino, .root = (uint32_t)i };
		dd->dirs_seen[dd->ndirs_seen++] = dir;
		dd->blocks[dd->nblocks++] = copy;
		if (sx.stx_size >= dd->o->min_size && sx.stx_size <= dd->o->max_size &&
		    !tu_is_tmp_name(name) && strcmp(name, TU_SIDECAR_NAME) != 0) {
			file_from_statx(&dd->files[dd->nfiles++], &sx, dir, copy);
			COUNT(dd, files, 1);
		}
	}
	pthread_mutex_unlock(&dd->lock);
	if (!ok) {
		free(disp);
		free(copy);
		free(dir);
		free(rel);
		return -ENOMEM;
	}
	if (dd->o->stats)
		atomic_fetch_add(&dd->o->stats->entries, 1);
	free(dd->displays[i]);
	dd->displays[i] = disp;
	dd->root_fds[i] = pfd;
	dd->root_ids[i] = pid;
	dd->file_operand[i] = true;
	return 0;
}

/* Is entry E left out: excluded by name, or a .git directory? */
static bool left_out(struct dd *dd, const struct tu_dirent *e)
{
	for (size_t i = 0; i < dd->o->nexclude; i++)
		if (fnmatch(dd->o->exclude[i], e->name, 0) == 0)
			return true;
	if (e->is_dir && !dd->o->include_git && strcmp(e->name, ".git") == 0) {
		COUNT(dd, git_dirs, 1);
		return true;
	}
	return false;
}

static int dd_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct dd *dd = ctx;
	if (left_out(dd, e))
		return TU_WALK_NEXT;
	if (e->is_dir)
		return TU_WALK_DESCEND;
	/* d_type decides first: symlinks and special files are never looked
	   at further. */
	if (e->type != DT_REG && e->type != DT_UNKNOWN)
		return TU_WALK_NEXT;
	struct dslot *s = *(struct dslot **)tu_walk_dir_slot(d);
	if (strcmp(e->name, TU_SIDECAR_NAME) == 0) {
		/* The hash cache's own file: never a candidate, but its
		   records are read (lookup_dir), in this directory only. */
		s->dir->has_sidecar = true;
		return TU_WALK_NEXT;
	}
	struct statx sx;
	int r = tu_statx_at(tu_walk_dir_fd(d), e->name, SCAN_MASK, &sx);
	if (r < 0) {
		if (r != -ENOENT) {
			tu_rep_mark(&dd->rep, -r);
			tu_walk_report(d, e->name, "stat", -r, NULL);
		}
		return TU_WALK_NEXT;
	}
	if (!S_ISREG(sx.stx_mode))
		return TU_WALK_NEXT;
	if (tu_is_tmp_name(e->name)) {
		add_leftover(dd, s, e->name, &sx);
		return TU_WALK_NEXT;
	}
	if (dd->o->stats)
		atomic_fetch_add(&dd->o->stats->entries, 1);
	if (sx.stx_size < dd->o->min_size || sx.stx_size > dd->o->max_size)
		return TU_WALK_NEXT;
	size_t len = strlen(e->name) + 1;
	if (!dd_push((void **)&s->files, &s->n, &s->cap, sizeof *s->files) ||
	    !grow_names(s, len)) {
		tu_rep_mark(&dd->rep, ENOMEM);
		tu_walk_report(d, e->name, "remember", ENOMEM, NULL);
		return TU_WALK_NEXT;
	}
	memcpy(s->names + s->nlen, e->name, len);
	struct dfile *f = &s->files[s->n++];
	file_from_statx(f, &sx, s->dir, (const char *)(uintptr_t)s->nlen);
	s->nlen += len;
	COUNT(dd, files, 1);
	lookup_in_walk(dd, tu_walk_dir_fd(d), e->name, f);
	return TU_WALK_NEXT;
}

/* The directory's .spookyhashes, if the walk listed one, is read now,
   while the walker holds the directory: every file of it without a record
   yet is looked up there (in memory, once it is read). */
static void dd_done_entries(struct tu_walk_dir *d, void *ctx)
{
	struct dd *dd = ctx;
	struct dslot *s = *(struct dslot **)tu_walk_dir_slot(d);
	if (!s || !s->dir->has_sidecar || !dd->hc_side)
		return;
	int dirfd = tu_walk_dir_fd(d);
	struct tu_hashdir *hd = NULL;
	if (tu_hashdir_open(dd->hc_side, dirfd, NULL, &hd) < 0 || !hd)
		return;		/* then after the walk (dd_lookup_records) */
	for (size_t i = 0; i < s->n; i++) {
		struct dfile *f = &s->files[i];
		if (f->cached)
			continue;
		dd_set_record(dd->hc_side, hd, dirfd, s->names + (uintptr_t)f->name, f);
		if (f->cached)
			f->looked = true;	/* nothing to ask the xattr then */
	}
	tu_hashdir_close(hd);
	s->dir->sidecar_read = true;
}

static int dd_leave(struct tu_walk_dir *d, void *ctx)
{
	struct dd *dd = ctx;
	struct dslot *s = *(struct dslot **)tu_walk_dir_slot(d);
	if (!s)
		return TU_WALK_NEXT;
	*(struct dslot **)tu_walk_dir_slot(d) = NULL;
	for (size_t i = 0; i < s->n; i++) {
		s->files[i].name = s->names + (uintptr_t)s->files[i].name;
		/* The sidecar listed here, not read in the walk, may hold
		   what the xattr did not. */
		if (s->dir->has_sidecar && !s->dir->sidecar_read && !s->files[i].cached)
			s->files[i].looked = false;
	}
	pthread_mutex_lock(&dd->lock);
	bool ok = true;
	if (s->names) {
		ok = dd_push((void **)&dd->blocks, &dd->nblocks, &dd->capblocks, sizeof *dd->blocks);
		if (ok)
			dd->blocks[dd->nblocks++] = s->names;
	}
	while (ok && dd->nfiles + s->n > dd->capfiles) {
		size_t ncap = dd->capfiles ? dd->capfiles * 2 : 1024;
		struct dfile *p = realloc(dd->files, ncap * sizeof *p);
		if (!p)
			ok = false;
		else {
			dd->files = p;
			dd->capfiles = ncap;
		}
	}
	if (ok && s->n) {
		memcpy(dd->files + dd->nfiles, s->files, s->n * sizeof *s->files);
		dd->nfiles += s->n;
	}
	pthread_mutex_unlock(&dd->lock);
	if (!ok) {
		if (!dd->nblocks || dd->blocks[dd->nblocks - 1] != s->names)
			free(s->names);
		tu_rep_mark(&dd->rep, ENOMEM);
		tu_walk_report(d, NULL, "remember the files of", ENOMEM, NULL);
	}
	free(s->files);
	free(s);
	return TU_WALK_NEXT;
}

static int dd_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d;
	struct dd *dd = ctx;
	if (tu_walk_err_vanished(e) || tu_walk_err_skipped_mount(e))
		return TU_CONTINUE;
	return tu_rep_fail_err(&dd->rep, e);
}

/* Walk DIR i, opened by open_root(). */
int dd_walk_one(struct dd *dd, size_t i)
{
	static const struct tu_walk_ops ops = {
		.enter = dd_enter, .entry = dd_entry, .leave = dd_leave, .error = dd_walk_error,
		.done_entries = dd_done_entries,
	};
	const char *disp = dd->displays[i];
	int fd = dd->root_fds[i];
	struct tu_walk_opts wo = {
		.jobs = dd->o->jobs,
		.one_file_system = dd->o->one_file_system,
		.sort_by_inode = true,
		.stop = &dd->rep.stop,
	};
	dd->cur_root = (uint32_t)i;
	int r = tu_walk(fd, strcmp(disp, "/") == 0 ? "" : disp, &wo, &ops, dd);
	if (r < 0 && r != -ECANCELED) {
		tu_rep_fail(&dd->rep, disp, "walk", -r, NULL);
	}
	return r;
}
