/* SPDX-License-Identifier: Apache-2.0 */
/* dedup_link.c: stage 7 of dedup (see dedup.c): for a run of candidates
 * equal by every key, choose the kept file (--keep, and as root with
 * ignore_owner the owner rule), confirm each other one against it (bytes,
 * xattrs, unchanged), and replace each of its names with a hard link to the
 * kept file, or share extents (FIDEDUPERANGE); a dry run says what it would
 * do. Also the removal of temporary names a crash left (leftovers).
 *
 * It must never remove or replace a name before a link to a confirmed copy
 * is in place, never replace a name that no longer holds the compared inode
 * (tu_replace_name checks what came out and puts it back), never link across
 * devices or mounts, and never remove a temporary name that is not a
 * redundant link.
 */
#define TU_INTERNAL
#include "dedup.h"
#include "data.h"
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

/* Is A a better file to keep than B? */
static bool better_keep(const struct dd *dd, const struct cand *a, const struct cand *b)
{
	switch (dd->o->keep) {
	case TU_KEEP_MOST_LINKED:
		if (a->st.nlink != b->st.nlink)
			return a->st.nlink > b->st.nlink;
		/* Ties go to the oldest. */
		__attribute__((fallthrough));
	case TU_KEEP_OLDEST:
		if (a->st.mtime != b->st.mtime)
			return a->st.mtime < b->st.mtime;
		break;
	case TU_KEEP_NEWEST:
		if (a->st.mtime != b->st.mtime)
			return a->st.mtime > b->st.mtime;
		break;
	case TU_KEEP_FIRST:
		break;
	}
	return dd_path_cmp(a->f, b->f) < 0;
}

static bool no_reflink_on(struct dd *dd, dev_t dev)
{
	bool found = false;
	pthread_mutex_lock(&dd->lock);
	for (size_t i = 0; i < dd->nnoreflink; i++)
		found |= dd->noreflink[i] == dev;
	pthread_mutex_unlock(&dd->lock);
	return found;
}

static void set_no_reflink(struct dd *dd, dev_t dev)
{
	pthread_mutex_lock(&dd->lock);
	if (dd->nnoreflink < sizeof dd->noreflink / sizeof dd->noreflink[0])
		dd->noreflink[dd->nnoreflink++] = dev;
	pthread_mutex_unlock(&dd->lock);
}

/* Share KEEP's extents with DUP (tu_dedupe_range; PROBE: only ask whether
   a real run could). */
static int reflink_file(struct worker *w, struct cand *keep, struct cand *dup, bool probe,
			uint64_t *shared)
{
	*shared = 0;
	int kfd = dd_cand_fd(w, keep), dfd = dd_cand_fd(w, dup);
	if (kfd < 0 || dfd < 0)
		return kfd < 0 ? kfd : dfd;
	return tu_dedupe_range(kfd, dfd, keep->st.size, probe, shared);
}

void dd_tell(struct dd *dd, const struct dfile *dup, const struct dfile *kept, uint64_t size,
		 bool reflink, bool freed)
{
	if (!dd->o->action || tu_rep_stopped(&dd->rep))
		return;
	char *p = dd_path_of(dd, dup->dir, dup->name);
	char *k = dd_path_of(dd, kept->dir, kept->name);
	struct tu_dedup_action a = {
		.path = p ? p : "?", .kept = k ? k : "?", .size = size, .reflink = reflink,
		.freed = freed,
	};
	pthread_mutex_lock(&dd->out_lock);
	dd->o->action(&a, dd->o->ctx);
	pthread_mutex_unlock(&dd->out_lock);
	free(p);
	free(k);
}

/* Our own link and rename move KEEP's ctime and nlink, and nothing else:
   take that as its state now. */
static void refresh(struct cand *keep)
{
	struct fstate ks;
	if (dd_state_fd(keep->fd, &ks) == 0 && ks.size == keep->st.size &&
	    ks.mtime == keep->st.mtime)
		keep->st = ks;
}

/* Is DUP's content still as it was compared, once out of its name
   (ACCEPT of tu_replace_name)? The exchange itself moved its ctime, so
   size and mtime tell; the full state, ctime included, was checked an
   instant before. */
struct dup_check {
	struct worker *w;
	struct cand *dup;
};

static bool dup_unchanged(void *arg)
{
	struct dup_check *dc = arg;
	struct fstate now;
	return dd_state_fd(dc->dup->fd, &now) == 0 && now.size == dc->dup->st.size &&
	       now.mtime == dc->dup->st.mtime;
}

/* Replace NAME, one name of DUP, with a hard link to KEEP:
 *   1. fstat both: dev, ino, size, mtime and ctime still as compared;
 *   2. link KEEP (the inode held, not a name) to a fresh temporary name in
 *      NAME's directory;
 *   3. check DUP unchanged once more;
 *   4. exchange the temporary name and NAME (tu_replace_name), and check
 *      that what came out is DUP's inode, its content unchanged: then
 *      remove it; if not (a file saved onto NAME in the meantime), exchange
 *      back.
 * No file is destroyed that was not compared: until 4 the old file is
 * untouched; a crash in between leaves a temporary name that the next run
 * removes (see dd_clean_leftovers()). Returns 0, -EMLINK (KEEP is full),
 * -ESTALE (changed; left alone), or another -errno. */
static int replace_name(struct worker *w, struct cand *keep, struct cand *dup,
			const struct dfile *name, bool *freed)
{
	struct dd *dd = w->dd;
	*freed = false;
	int dirfd = dd_open_dir_of(dd, name);
	if (dirfd < 0)
		return dirfd;
	if (tu_dedup_hook)
		tu_dedup_hook(TU_DEDUP_BEFORE_CHECK, dirfd, name->name);
	int r = 0;
	if (!dd_unchanged(w, keep) || !dd_unchanged(w, dup)) {
		r = -ESTALE;
		goto out;
	}
	if (tu_dedup_link_max && keep->st.nlink >= tu_dedup_link_max) {
		r = -EMLINK;
		goto out;
	}
	char tmp[TU_TMP_NAME_MAX];
	r = tu_link_tmp(keep->fd, dirfd, tmp);
	if (r < 0)
		goto out;
	refresh(keep);
	if (tu_dedup_hook)
		tu_dedup_hook(TU_DEDUP_AFTER_TMP, dirfd, name->name);
	bool left = false;
	if (!dd_unchanged(w, dup)) {
		left = !tu_replace_drop_tmp(dirfd, tmp, keep->st.dev, keep->st.ino);
		r = -ESTALE;
	}
	if (r == 0 && tu_dedup_hook)
		tu_dedup_hook(TU_DEDUP_BEFORE_REPLACE, dirfd, name->name);
	struct tu_ident ours = { .dev = keep->st.dev, .ino = keep->st.ino };
	struct tu_ident old = { .dev = dup->st.dev, .ino = dup->st.ino };
	struct dup_check dc = { w, dup };
	if (r == 0)
		r = tu_replace_name(dirfd, tmp, name->name, &ours, &old, dup_unchanged, &dc, &left);
	if (left) {
		/* Never removed: it may be the only copy of someone's save. */
		struct dfile at_tmp = *name;
		at_tmp.name = tmp;
		dd_report(dd, &at_tmp, "replace", EEXIST, "a file saved during the replacement "
		       "was left under this name");
	}
	/* Our link, exchanges and unlink moved KEEP's ctime, whatever the
	   outcome: the rest of the group is still compared with it. */
	refresh(keep);
	if (r < 0)
		goto out;
	struct fstate ds;
	if (dd_state_fd(dup->fd, &ds) == 0) {
		*freed = ds.nlink == 0;
		dup->st = ds;
	}
out:
	close(dirfd);
	return r;
}

/* Every name of DUP becomes a link to *KEEP. On EMLINK DUP, as good a copy,
   becomes the kept file for the rest of the group. */
static void link_dup(struct worker *w, struct cand **keep, struct cand *dup)
{
	struct dd *dd = w->dd;
	for (size_t i = 0; i < dup->nnames && !tu_rep_stopped(&dd->rep); i++) {
		const struct dfile *name = &dup->f[i];
		bool freed;
		int r = replace_name(w, *keep, dup, name, &freed);
		if (r == -EMLINK) {
			*keep = dup;
			return;
		}
		if (r == -ESTALE) {
			COUNT(dd, changed, 1);
			dd_warn(dd, name, "link", EAGAIN, "changed during the run; left alone");
			return;
		}
		if (r < 0) {
			dd_report(dd, name, "link", -r, NULL);
			continue;
		}
		COUNT(dd, linked, 1);
		if (freed)
			COUNT(dd, bytes_freed, dup->st.size);
		dd_tell(dd, name, (*keep)->f, dup->st.size, false, freed);
	}
}

static void dry_link_dup(struct dd *dd, struct cand *keep, struct cand *dup)
{
	/* Its last link goes if every one of them is under the DIRs. */
	bool freed = dup->nnames >= dup->st.nlink;
	for (size_t i = 0; i < dup->nnames; i++) {
		bool last = freed && i + 1 == dup->nnames;
		COUNT(dd, linked, 1);
		if (last)
			COUNT(dd, bytes_freed, dup->st.size);
		dd_tell(dd, &dup->f[i], keep->f, dup->st.size, false, last);
	}
}

enum reflinked { RL_DONE, RL_CAN, RL_DIFFERS, RL_FALLBACK, RL_FAILED, RL_SHARED };

/* Share KEEP's extents with DUP; the kernel compares the bytes. A dry run
   only probes (RL_CAN: a real run would try), so that it says what a real
   run would do, falling back or failing alike. */
static enum reflinked reflink_dup(struct worker *w, struct cand *keep, struct cand *dup)
{
	struct dd *dd = w->dd;
	bool auto_ = dd->o->reflink == TU_DEDUP_REFLINK_AUTO;
	uint64_t shared;
	/* Already sharing every extent (an earlier run): nothing to do, and
	   nothing to report (RL_SHARED). */
	int kfd = dd_cand_fd(w, keep), dfd = dd_cand_fd(w, dup);
	if (kfd >= 0 && dfd >= 0 && tu_extents_shared(kfd, dfd) == 1)
		return RL_SHARED;
	int r = reflink_file(w, keep, dup, dd->o->dry_run, &shared);
	if (r == 0 && dd->o->dry_run)
		return RL_CAN;
	if (r == 0) {
		COUNT(dd, reflinked, 1);
		COUNT(dd, bytes_shared, shared);
		dd_tell(dd, dup->f, keep->f, dup->st.size, true, false);
		return RL_DONE;
	}
	if (r == -EBADE)	/* the kernel's comparison: not the same */
		return RL_DIFFERS;
	if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY || r == -EXDEV) {
		/* Said once per run; later files on this filesystem are not
		   tried again. */
		set_no_reflink(dd, keep->st.dev);
		if (!atomic_exchange(&dd->warned_reflink, true)) {
			if (auto_)
				dd_warn(dd, dup->f, "reflink", -r, "the filesystem cannot share "
				     "extents; hard links are used instead");
			else
				dd_report(dd, dup->f, "reflink", -r, "the filesystem cannot share "
				       "extents (btrfs and xfs can); nothing deduplicated there");
		} else if (!auto_) {
			tu_rep_note(&dd->rep, -r);
		}
		return auto_ ? RL_FALLBACK : RL_FAILED;
	}
	dd_report(dd, dup->f, "reflink", -r, NULL);
	return RL_FAILED;
}

static void dry_reflink_dup(struct dd *dd, struct cand *keep, struct cand *dup)
{
	COUNT(dd, reflinked, 1);
	COUNT(dd, bytes_shared, dup->st.size);
	dd_tell(dd, dup->f, keep->f, dup->st.size, true, false);
}

/* Is C a true copy of KEEP: the same bytes (unless trust_hash), the same
   xattrs (unless only extents are shared), C unchanged since? 1, 0,
   -ESTALE, or -errno. KEEP is checked to be unchanged before each link
   (replace_name), or once for the whole group in a dry run (dd_final_group). */
static int confirm(struct worker *w, struct cand *keep, struct cand *c)
{
	int r = 1;
	if (!w->dd->o->trust_hash)
		r = dd_bytes_equal(w, keep, c);
	if (r == 1 && !dd_reflinking(w->dd))
		r = dd_xattrs_equal(w, keep, c);
	if (r == 1 && !dd_unchanged(w, c))
		r = -ESTALE;
	return r;
}

static void group_paths(struct dd *dd, struct cand **members, size_t n)
{
	if (!dd->o->group)
		return;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += members[i]->nnames;
	char **paths = calloc(total, sizeof *paths);
	if (!paths)
		return;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < members[i]->nnames; j++) {
			paths[k] = dd_path_of(dd, members[i]->f[j].dir, members[i]->f[j].name);
			if (paths[k])
				k++;
		}
	pthread_mutex_lock(&dd->out_lock);
	const struct cand *m = members[0];
	dd->o->group((const char *const *)paths, k, m->st.size, m->have_digest ? m->digest : NULL,
		     dd->o->ctx);
	pthread_mutex_unlock(&dd->out_lock);
	for (size_t i = 0; i < k; i++)
		free(paths[i]);
	free(paths);
}

/* The owner rule (issue 12): as root with ignore_owner, a file owned by
   another user is never kept for a name owned by someone else, so that a
   user cannot make root's name a link to an inode the user can rewrite.
   The kept inode is owned by root or by the owner of every name it
   replaces. Does it apply? */
static bool owner_rule(const struct dd *dd)
{
	return dd->euid == 0 && dd->o->ignore_owner && !dd_reflinking(dd);
}

/* May KEEP be kept for C's names? */
static bool may_keep_for(const struct dd *dd, const struct cand *keep, const struct cand *c)
{
	return !owner_rule(dd) || keep->f->uid == 0 || keep->f->uid == c->f->uid;
}

static int cmp_uid(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->f->uid != b->f->uid)
		return a->f->uid < b->f->uid ? -1 : 1;
	return dd_path_cmp(a->f, b->f);
}

/* Under the owner rule, a group without a root-owned file is split by
   owner, each part its own group. True if V[0..N) was handled so. */
static bool split_by_owner(struct worker *w, struct cand *v, size_t n)
{
	if (!owner_rule(w->dd))
		return false;
	bool one_owner = true;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].dead && v[i].f->uid == 0)
			return false;	/* kept for all (see dd_final_group) */
		one_owner &= v[i].f->uid == v[0].f->uid;
	}
	if (one_owner)
		return false;
	qsort(v, n, sizeof *v, cmp_uid);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && v[j].f->uid == v[i].f->uid)
			j++;
		if (j - i >= 2)
			dd_final_group(w, v + i, j - i);
		i = j;
	}
	return true;
}

/* V[0..N): equal by every key. Choose the kept file, confirm each other one
   against it, and replace it. */
void dd_final_group(struct worker *w, struct cand *v, size_t n)
{
	struct dd *dd = w->dd;
	const struct tu_dedup_opts *o = dd->o;
	if (split_by_owner(w, v, n))
		return;
	size_t ki = 0;
	/* Under the owner rule, a root-owned file is kept if there is one. */
	bool root_only = false;
	for (size_t i = 0; owner_rule(dd) && i < n; i++)
		root_only |= !v[i].dead && v[i].f->uid == 0;
	for (size_t i = 0; root_only && v[ki].f->uid != 0; i++)
		ki = i;
	for (size_t i = 0; i < n; i++)
		if (i != ki && (!root_only || v[i].f->uid == 0) && better_keep(dd, &v[i], &v[ki]))
			ki = i;
	struct cand *keep = &v[ki];
	struct cand *first = keep;
	struct cand **members = malloc(n * sizeof *members);
	bool *shared = malloc(n * sizeof *shared);	/* a dry run's members: reflinks? */
	if (!members || !shared) {
		free(members);
		free(shared);
		dd_report(dd, keep->f, "deduplicate", ENOMEM, NULL);
		return;
	}
	size_t nm = 0;
	members[nm++] = keep;
	/* Whose bytes are compared are asked for ahead (see dd_read_ahead). */
	bool comparing = !o->trust_hash && o->reflink == TU_DEDUP_HARDLINK;
	size_t ahead = 0;
	for (size_t i = 0; i < n; i++) {
		/* Never behind I: a file done with may already be a link to
		   KEEP, and must not be opened again. */
		if (ahead <= i)
			ahead = i + 1;
		for (; comparing && ahead < n && ahead < i + READ_AHEAD && w->nopen < w->max_open;
		     ahead++)
			if (!v[ahead].dead && dd_meta_equal(dd, keep, &v[ahead]))
				dd_read_ahead(w, &v[ahead], true);
		struct cand *c = &v[i];
		if (tu_rep_stopped(&dd->rep))
			break;	/* a TU_STOP answer: nothing more is done */
		if (c == first || c->dead || !dd_meta_equal(dd, keep, c))
			continue;
		/* KEEP may have changed (EMLINK: link_dup). */
		if (!may_keep_for(dd, keep, c))
			continue;
		bool shares = o->reflink != TU_DEDUP_HARDLINK && !no_reflink_on(dd, keep->st.dev);
		if (shares) {
			enum reflinked rl = reflink_dup(w, keep, c);
			if (rl == RL_DONE) {
				shared[nm] = true;
				members[nm++] = c;
			}
			if (rl == RL_FALLBACK) {
				shares = false;
			} else if (rl != RL_CAN) {
				dd_cand_close(w, c);
				continue;
			}
			/* RL_CAN (a dry run): compared below, as the kernel
			   would compare them. */
		}
		if (o->reflink == TU_DEDUP_REFLINK && !shares)
			continue;	/* reported once in reflink_dup() */
		int r = confirm(w, keep, c);
		if (r == -ESTALE) {
			COUNT(dd, changed, 1);
			dd_warn(dd, c->f, "deduplicate", EAGAIN, "changed during the run; left alone");
		} else if (r < 0) {
			dd_report(dd, c->f, "compare", -r, NULL);
		}
		if (r != 1) {
			dd_cand_close(w, c);
			continue;
		}
		shared[nm] = shares;
		members[nm++] = c;
		if (!o->dry_run)
			link_dup(w, &keep, c);
		if (c != keep)
			dd_cand_close(w, c);
	}
	/* A dry run: if KEEP is still as it was when the others were
	   compared with it, every comparison holds, and they are what a
	   real run would link. (A real run checks KEEP before each link.) */
	if (nm >= 2 && o->dry_run) {
		if (tu_dedup_hook) {
			int dirfd = dd_open_dir_of(dd, keep->f);
			if (dirfd >= 0) {
				tu_dedup_hook(TU_DEDUP_BEFORE_GROUP_CHECK, dirfd, keep->f->name);
				close(dirfd);
			}
		}
		if (!dd_unchanged(w, keep)) {
			COUNT(dd, changed, 1);
			dd_warn(dd, keep->f, "deduplicate", EAGAIN, "changed during the run; left alone");
			nm = 0;
		}
		for (size_t i = 1; i < nm; i++)
			if (shared[i])
				dry_reflink_dup(dd, keep, members[i]);
			else
				dry_link_dup(dd, keep, members[i]);
	}
	if (nm >= 2 && !tu_rep_stopped(&dd->rep)) {
		COUNT(dd, groups, 1);
		group_paths(dd, members, nm);
	}
	free(members);
	free(shared);
}

/* ---- leftovers ----------------------------------------------------------------------- */

static int cmp_devino(const void *pa, const void *pb)
{
	const struct dfile *a = pa, *b = pb;
	return tu_devino_cmp(a->dev, a->ino, b->dev, b->ino);
}

/* A TU_TMP_PREFIX name is ours to remove only if it is a regular file that
   is also found under another, ordinary name in the walked trees: a hard
   link that a crash between link and rename left behind. Removing it loses
   no data. Anything else with our prefix is left alone, and never
   clobbered: new temporary names are made with linkat, which refuses an
   existing name. */
void dd_clean_leftovers(struct dd *dd)
{
	if (!dd->nleft)
		return;
	struct dfile *idx = malloc(dd->nfiles * sizeof *idx);
	if (!idx && dd->nfiles)
		return;
	if (dd->nfiles)
		memcpy(idx, dd->files, dd->nfiles * sizeof *idx);
	if (dd->nfiles)
		qsort(idx, dd->nfiles, sizeof *idx, cmp_devino);
	for (size_t i = 0; i < dd->nleft && !tu_rep_stopped(&dd->rep); i++) {
		struct leftover *l = &dd->left[i];
		struct dfile key = { .dev = l->dev, .ino = l->ino };
		struct dfile *other = dd->nfiles ? bsearch(&key, idx, dd->nfiles, sizeof *idx,
							   cmp_devino) : NULL;
		if (!other)
			continue;
		struct dfile self = { .dir = l->dir, .name = l->name, .dev = l->dev, .ino = l->ino };
		if (!dd->o->dry_run) {
			int dirfd = dd_open_dir_of(dd, &self);
			if (dirfd < 0)
				continue;
			int r = tu_unlink_if(dirfd, l->name, l->dev, l->ino);
			close(dirfd);
			if (r == -ESTALE || r == -ENOENT)
				continue;
			if (r < 0) {
				dd_report(dd, &self, "remove leftover", -r, NULL);
				continue;
			}
		}
		COUNT(dd, leftovers, 1);
		if (dd->o->action) {
			char *p = dd_path_of(dd, self.dir, self.name);
			char *k = dd_path_of(dd, other->dir, other->name);
			struct tu_dedup_action a = { .path = p ? p : "?", .kept = k ? k : "?",
						     .size = other->size, .leftover = true };
			pthread_mutex_lock(&dd->out_lock);
			dd->o->action(&a, dd->o->ctx);
			pthread_mutex_unlock(&dd->out_lock);
			free(p);
			free(k);
		}
	}
	free(idx);
}
