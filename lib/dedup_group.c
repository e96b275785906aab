/* SPDX-License-Identifier: Apache-2.0 */
/* dedup_group.c: stages 2 and 3a of dedup (see dedup.c): size groups (files
 * of one size on one mount, at least two inodes), the metadata key that a
 * hard link forces alike on every name, and the hash records read by name
 * (getxattrat, the directory's .spookyhashes) for the files that may be read;
 * and, after the workers, the records kept back for .spookyhashes files.
 *
 * It must never open or read a file's data, never trust a record for any
 * state but the one the walk saw, and never write a record for a directory
 * that is no longer the one walked.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- 2. size groups ----------------------------------------------------------- */

static int cmp_file(const void *pa, const void *pb)
{
	const struct dfile *a = pa, *b = pb;
	/* Size first: it tells most pairs apart at once. */
#define CMP(x) if (a->x != b->x) return a->x < b->x ? -1 : 1
	CMP(size);
	CMP(dev);
	CMP(mnt);
	CMP(ino);
#undef CMP
	return dd_path_cmp(a, b);
}

static bool same_place_size(const struct dfile *a, const struct dfile *b)
{
	return a->dev == b->dev && a->mnt == b->mnt && a->size == b->size;
}

/* Size groups with at least two distinct inodes. */
/* Are A and B one entry (one name in one directory), found twice: a file
   operand that a DIR walked holds too, or one given twice? */
static bool same_entry(const struct dfile *a, const struct dfile *b)
{
	return a->ino == b->ino && a->dev == b->dev && a->dir->dev == b->dir->dev &&
	       a->dir->ino == b->dir->ino && strcmp(a->name, b->name) == 0;
}

/* Each entry once: the names of one inode lie together once sorted. */
static void drop_twice_found(struct dd *dd)
{
	size_t out = 0;
	for (size_t i = 0, start = 0; i < dd->nfiles; i++) {
		if (i == 0 || dd->files[i].ino != dd->files[i - 1].ino ||
		    dd->files[i].dev != dd->files[i - 1].dev)
			start = out;
		bool twice = false;
		for (size_t k = start; k < out && !twice; k++)
			twice = same_entry(&dd->files[k], &dd->files[i]);
		if (!twice)
			dd->files[out++] = dd->files[i];
	}
	dd->nfiles = out;
}

int dd_make_groups(struct dd *dd)
{
	/* No file at all (every DIR missing): files is NULL, which qsort
	   must not be given even with a count of 0. */
	if (dd->nfiles > 0)
		qsort(dd->files, dd->nfiles, sizeof *dd->files, cmp_file);
	drop_twice_found(dd);
	size_t cap = 0;
	for (size_t i = 0; i < dd->nfiles;) {
		size_t j = i + 1, inodes = 1;
		while (j < dd->nfiles && same_place_size(&dd->files[i], &dd->files[j])) {
			if (dd->files[j].ino != dd->files[j - 1].ino)
				inodes++;
			j++;
		}
		if (inodes >= 2) {
			if (!dd_push((void **)&dd->groups, &dd->ngroups, &cap, sizeof *dd->groups))
				return -ENOMEM;
			dd->groups[dd->ngroups][0] = i;
			dd->groups[dd->ngroups][1] = j;
			dd->ngroups++;
		}
		i = j;
	}
	return 0;
}

/* ---- 3a. cached hashes, by name ------------------------------------------------ */

/* Every candidate of every size group (one name per inode: the record is
   the inode's), sorted by directory, so each directory is opened once and
   each record read by name (tu_hashcache_get_at: getxattrat, no open of
   the file, no data). A record counts only for the size and mtime the walk
   saw; dd_cand_fd() refuses a file whose mtime has moved since. */
static int cmp_ref(const void *pa, const void *pb)
{
	const struct dfile *a = *(struct dfile *const *)pa, *b = *(struct dfile *const *)pb;
	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return 0;
}

bool dd_reflinking(const struct dd *dd)
{
	return dd->o->reflink == TU_DEDUP_REFLINK;
}

/* The metadata a hard link makes one for every name (owner, group, mode,
   mtime; each unless ignored), as a key: files whose keys differ are never
   linked. */
void dd_meta_key(const struct dd *dd, const struct dfile *f, unsigned char key[16])
{
	const struct tu_dedup_opts *o = dd->o;
	memset(key, 0, 16);
	if (dd_reflinking(dd))
		return;		/* each file keeps its own metadata */
	uint32_t owner[2] = { o->ignore_owner ? 0 : f->uid, o->ignore_owner ? 0 : f->gid };
	uint32_t mode = o->ignore_mode ? 0 : f->mode;
	int64_t mtime = o->ignore_time ? 0 : f->mtime;
	memcpy(key, owner, 8);
	memcpy(key + 8, &mode, 4);
	/* 4 bytes of mtime are enough to split; dd_final_group checks exactly. */
	uint32_t m32 = (uint32_t)(mtime ^ (mtime >> 32));
	memcpy(key + 12, &m32, 4);
}

/* One inode of a size group, by its metadata key. */
struct meta_ref {
	unsigned char key[16];
	struct dfile *f;
};

static int cmp_meta_ref(const void *pa, const void *pb)
{
	return memcmp(((const struct meta_ref *)pa)->key, ((const struct meta_ref *)pb)->key, 16);
}

/* The inodes of size group G whose metadata key another inode there
   shares, appended to REFS at *K: the others are split off by the first
   level of refine() before any hash is wanted, so their records would be
   read for nothing (in a run that heeds owner, mode and time, most files
   of one size are such). TMP: room for the group's inodes. */
static void group_refs(struct dd *dd, size_t g, struct meta_ref *tmp, size_t *k)
{
	size_t n = 0;
	for (size_t i = dd->groups[g][0]; i < dd->groups[g][1]; i++) {
		struct dfile *f = &dd->files[i];
		if (i == dd->groups[g][0] || f->ino != dd->files[i - 1].ino) {
			tmp[n].f = f;
			dd_meta_key(dd, tmp[n].f, tmp[n].key);
			n++;
		} else if (f->looked && !tmp[n - 1].f->looked && f->size == tmp[n - 1].f->size &&
			   f->mtime == tmp[n - 1].f->mtime && f->ctime == tmp[n - 1].f->ctime) {
			/* The record is the inode's: read through another
			   name of it, in the same state, it serves the first. */
			struct dfile *first = tmp[n - 1].f;
			first->looked = true;
			first->cached = f->cached;
			memcpy(first->digest, f->digest, 16);
		}
	}
	qsort(tmp, n, sizeof *tmp, cmp_meta_ref);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && memcmp(tmp[i].key, tmp[j].key, 16) == 0)
			j++;
		for (size_t m = i; j - i >= 2 && m < j; m++) {
			tmp[m].f->paired = true;
			if (!tmp[m].f->looked)
				dd->refs[(*k)++] = tmp[m].f;
		}
		i = j;
	}
}

static int make_refs(struct dd *dd)
{
	size_t n = 0, most = 0;
	for (size_t g = 0; g < dd->ngroups; g++) {
		size_t len = dd->groups[g][1] - dd->groups[g][0];
		n += len;
		if (len > most)
			most = len;
	}
	dd->refs = malloc((n ? n : 1) * sizeof *dd->refs);
	struct meta_ref *tmp = malloc((most ? most : 1) * sizeof *tmp);
	if (!dd->refs || !tmp) {
		free(tmp);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t g = 0; g < dd->ngroups; g++)
		group_refs(dd, g, tmp, &k);
	free(tmp);
	qsort(dd->refs, k, sizeof *dd->refs, cmp_ref);
	dd->nrefs = k;
	return 0;
}

/* F's record (NAME in DIRFD, and HD's sidecar if not NULL), if one is
   valid for the state the walk saw. */
void dd_set_record(struct tu_hashcache *hc, struct tu_hashdir *hd, int dirfd,
		       const char *name, struct dfile *f)
{
	struct tu_hash_state st = {
		.size = f->size, .mtime_ns = f->mtime, .ctime_ns = f->ctime,
		.ino = f->ino, .uid = f->uid,
	};
	struct tu_hash_info h;
	if (tu_hashcache_get_at(hc, hd, dirfd, name, &st, &h) == 0) {
		memcpy(f->digest, h.digest, 16);
		f->cached = true;
	}
}

/* The records of REFS[start..end), all in one directory. */
static void lookup_dir(struct dd *dd, size_t start, size_t end)
{
	int dirfd = dd_open_dir_of(dd, dd->refs[start]);
	if (dirfd < 0)
		return;		/* no records then; the files say why when opened */
	/* The sidecar is read only where the walk listed one: elsewhere it
	   would cost a failed open per directory, on every run. */
	struct tu_hashdir *hd = NULL;
	const struct ddir *dir = dd->refs[start]->dir;
	if (dir->has_sidecar && !dir->sidecar_read && dd->o->store != TU_STORE_XATTR)
		tu_hashdir_open(dd->hc_show, dirfd, NULL, &hd);
	for (size_t i = start; i < end; i++)
		dd_set_record(dd->hc_show, hd, dirfd, dd->refs[i]->name, dd->refs[i]);
	tu_hashdir_close(hd);
	close(dirfd);
}

static void *lookup_main(void *arg)
{
	struct dd *dd = arg;
	for (;;) {
		/* Claim a run of one directory: from the first index past the
		   last claimed one to the end of its directory. */
		pthread_mutex_lock(&dd->lock);
		size_t start = dd->next_ref, end = start;
		while (end < dd->nrefs && dd->refs[end]->dir == dd->refs[start]->dir)
			end++;
		dd->next_ref = end;
		pthread_mutex_unlock(&dd->lock);
		if (start >= dd->nrefs)
			break;
		lookup_dir(dd, start, end);
	}
	return NULL;
}

void dd_lookup_records(struct dd *dd, int jobs)
{
	if (make_refs(dd) < 0)
		return;		/* no records then: the pipeline hashes */
	pthread_t th[64];
	int started = 0;
	for (int i = 1; i < jobs && i < 64; i++) {
		if (pthread_create(&th[i], NULL, lookup_main, dd) != 0)
			break;
		started = i;
	}
	lookup_main(dd);
	for (int i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	free(dd->refs);
	dd->refs = NULL;
}

/* ---- records for .spookyhashes --------------------------------------------------------- */

static int cmp_pending(const void *pa, const void *pb)
{
	const struct pending_rec *a = pa, *b = pb;
	if (a->f->dir != b->f->dir)
		return a->f->dir < b->f->dir ? -1 : 1;
	return 0;
}

/* Hand the records the workers kept back (see key_full) to the sidecars of
   their directories, one directory at a time, each written once. A
   directory that is no longer the one walked gets none: a record is a
   promise about a name there. */
void dd_store_pending(struct dd *dd)
{
	if (!dd->npending)
		return;
	qsort(dd->pending, dd->npending, sizeof *dd->pending, cmp_pending);
	for (size_t i = 0; i < dd->npending;) {
		size_t j = i + 1;
		while (j < dd->npending && dd->pending[j].f->dir == dd->pending[i].f->dir)
			j++;
		int dirfd = dd_open_dir_of(dd, dd->pending[i].f);
		char *disp = dirfd >= 0 ? dd_path_of(dd, dd->pending[i].f->dir, NULL) : NULL;
		struct tu_hashdir *hd = NULL;
		if (disp && tu_hashdir_open(dd->hc, dirfd, disp, &hd) == 0) {
			for (size_t k = i; k < j; k++)
				tu_hashdir_put(hd, dd->pending[k].f->name, &dd->pending[k].rec);
			/* Failures are reported by the hash cache itself. */
			int r = tu_hashdir_close(hd);
			if (r < 0)
				dd_note_failure(dd, -r);
		}
		free(disp);
		if (dirfd >= 0)
			close(dirfd);
		i = j;
	}
}
