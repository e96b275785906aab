/* SPDX-License-Identifier: Apache-2.0 */
/* inomap.c: hard links kept with -a. A source inode with more than one
 * link is looked up in a map (source dev, ino -> its first copy's path
 * below DEST and what that copy is); later names become hard links to that
 * copy. The +i/+a flags of such files wait until every link is made, since
 * a locked inode refuses new links. Memory: one record per multiply linked
 * inode; no fd is kept for it.
 *
 * The one path used in the copy engine lives here: the first copy is found
 * again beneath DEST's held fd with no symlinks, in pieces shorter than
 * PATH_MAX, and checked by identity before it is linked to. This file must
 * never link to, or set flags on, anything that is not the inode we made.
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t link_slot(const struct tu_copy *cp, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29)) & (cp->lcap - 1);
}

/* The record of the source inode ST names. An inode number is only an
   identity while the inode lives: one freed during the copy and given to a
   new file (rm, then create) is another file. Its change time tells them
   apart, since making or removing a link changes it: a record whose ctime
   is not the entry's is another inode's (or this one changed since, and
   then its later names are copied on their own, which is safe). */
static bool same_inode(const struct link_ent *e, const struct stat *st)
{
	return e->ino == st->st_ino && e->dev == st->st_dev &&
	       e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static struct link_ent *link_find_locked(struct tu_copy *cp, const struct stat *st)
{
	if (!cp->lcap)
		return NULL;
	for (size_t i = link_slot(cp, st->st_dev, st->st_ino);; i = (i + 1) & (cp->lcap - 1)) {
		struct link_ent *e = cp->ltab[i];
		if (!e)
			return NULL;
		if (same_inode(e, st))
			return e;
	}
}

static int link_insert_locked(struct tu_copy *cp, struct link_ent *e)
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
static int open_first_copy(struct tu_copy *cp, const char *rel, int flags)
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
static int link_to_first(struct tu_copy *cp, const char *rel, const struct tu_ident *dst, int dfd,
			 const char *dname)
{
	int fd = open_first_copy(cp, rel, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fd;
	struct tu_ident id;
	int r = tu_ident_fd(fd, &id);
	if (r == 0 && !tu_ident_same(&id, dst))
		r = -ESTALE;
	if (r == 0)
		r = tu_link_held(fd, dfd, dname, &cp->fs.no_empty_path);
	close(fd);
	return r;
}

/* A non-directory whose source has other links: the first name seen is
   copied, the others become links to that copy. */
int cp_copy_linked(struct job *j, int fd)
{
	struct tu_copy *cp = j->cp;
	pthread_mutex_lock(&cp->llock);
	struct link_ent *e;
	for (;;) {
		e = link_find_locked(cp, &j->st);
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
			cp_item(cp, &j->w, cp_item_type(j->st.st_mode), 'h', rel, 0);
			free(rel);
			return 0;
		}
		free(rel);
		/* The first copy is gone or was replaced (not by us): copy
		   this name on its own and say so. */
		cp_warn(cp, &j->w, "hard link", -r, "copied as a separate file");
		return cp_copy_by_type(j, fd);
	}
	if (!e) {
		e = calloc(1, sizeof *e);
		if (e) {
			e->dev = j->st.st_dev;
			e->ino = j->st.st_ino;
			e->ctime = j->st.st_ctim;
		}
		if (!e || link_insert_locked(cp, e) < 0) {
			free(e);
			pthread_mutex_unlock(&cp->llock);
			return cp_copy_by_type(j, fd);
		}
	}
	e->state = LINK_BUSY;
	pthread_mutex_unlock(&cp->llock);

	j->defer_lock = true;
	int r = cp_copy_by_type(j, fd);
	char *rel = r == 0 ? cp_rel_of(cp, &j->w) : NULL;

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
void cp_links_apply_flags(struct tu_copy *cp)
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
			cp_note_failure(cp, -fd);
			char *path = cp_join(cp->dst_display, e->rel);
			cp_call_locked(cp, cp->o->error, path ? path : "?", "set flags", -fd, NULL);
			free(path);
			continue;
		}
		struct tu_meta m = { .fflags = e->lock_flags };
		struct cp_meta_fail_ctx mf = { cp, &w };
		tu_meta_apply_fd(fd, &m, TU_META_FLAGS, cp_meta_fail, &mf);
		close(fd);
	}
}

void cp_links_free(struct tu_copy *cp)
{
	for (size_t i = 0; i < cp->lcap; i++) {
		if (cp->ltab[i]) {
			free(cp->ltab[i]->rel);
			free(cp->ltab[i]);
		}
	}
	free(cp->ltab);
}
