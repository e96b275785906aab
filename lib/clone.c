/* SPDX-License-Identifier: Apache-2.0 */
/* clone.c: cptree --clone-from=BASE: DEST, a new tree equal to SOURCE,
 * sharing storage with BASE wherever an entry is unchanged there. A policy
 * on the copy engine's seam (copy.h): every non-directory is offered to a
 * BASE first (TU_COPY_LINK_BASE); what no BASE has unchanged is copied.
 *
 * Unchanged: the entry of the same path in a BASE has SOURCE's type, size
 * and mtime (ns), a symlink's target, a device's numbers; with -a also
 * every piece of metadata lib/compare.c compares (owner, group, mode,
 * xattrs, ACLs, flags). The BASEs are asked in the order given; the first
 * that has it wins. Shared how:
 *  - by reflink (FICLONE) where BASE and DEST share extents: a new inode,
 *    SOURCE's metadata applied as on any copy; a data match (size, mtime)
 *    suffices. There, symlinks, specials and empty files are made anew
 *    (nothing to share), so no inode is ever shared;
 *  - elsewhere by a hard link to BASE's inode, only with -a and only when
 *    all of its metadata is SOURCE's (a hard link shares it). EMLINK, and
 *    whatever else refuses the link (EPERM: fs.protected_hardlinks, an
 *    immutable file; EXDEV), falls back to a copy, silently;
 *  - otherwise it is copied from SOURCE.
 * Hard links inside SOURCE stay hard links (the engine's inode map: the
 * first name is shared with BASE, later names link to it).
 *
 * DEST is built under a hidden name beside it, fixed for that DEST
 * (TU_TMP_PREFIX and 32 hex digits of a hash of its name), held under an
 * flock for the run and renamed into place only when complete (operands.c's
 * --atomic machinery). A rerun finds an earlier run's leftover by that
 * name and removes it, if it is a directory of ours, no mount point, and
 * no other run holds its lock, with the rmtree engine bound to its
 * identity; then it starts again.
 *
 * BASE is never written to: its directories are looked up (never read),
 * its files opened O_NOATIME (where permitted: our own files, or as root)
 * and never read; FICLONE reads no data. Only a hard link changes a BASE
 * inode, its link count (and so its ctime). Everything in BASE is reached
 * beneath its root with no symlink followed (openat2), and what was
 * compared is the inode held and shared, never a name looked up again.
 *
 * This file must never write to, or read the data of, anything in BASE,
 * never share an entry whose type, size or mtime differs from SOURCE's,
 * never hard link one whose metadata differs, and never remove anything
 * but its own hidden tree.
 */
#define TU_INTERNAL
#include "compare.h"
#include "copy.h"
#include "spooky.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* What compare.c needs, and the inode number to check identity by. */
#define CLONE_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_SIZE | \
		    STATX_MTIME | STATX_INO)

struct clone_base {
	const char *display;	/* as given */
	int fd;			/* its root, O_PATH */
	dev_t dev;
	long fstype;
	bool reflink;		/* may share extents with DEST (until refused) */
	struct tu_data data;	/* reflinks from this BASE: its own refusal */
};

/* A BASE inode with several names, hard linked into DEST for one SOURCE
   inode: it may serve no other (DEST's hard-link groups must be SOURCE's,
   where rsync -H --link-dest merges them). */
struct claim {
	dev_t bdev, sdev;
	ino_t bino, sino;
	struct claim *next;
};

#define CLAIM_BUCKETS 1024

struct tu_clone {
	int n;
	pthread_mutex_t lock;	/* the claims */
	struct claim *claims[CLAIM_BUCKETS];
	bool hardlink;		/* -a, and not --reflink=always */
	int lock_fd;		/* DEST's hidden root, flock'ed for the run */
	struct clone_base b[TU_CLONE_MAX];
};

/* One source directory's counterpart in each BASE: O_PATH fds, -1 where
   BASE has no such directory. From the directory's first entry to its
   last. */
struct clone_dir {
	int fd[TU_CLONE_MAX];
};

/* ---- the policy --------------------------------------------------------------- */

static enum tu_copy_decision clone_decide(struct tu_copy *cp, const struct tu_copy_entry *e)
{
	(void)cp;
	return e->e->is_dir ? TU_COPY_NEW : TU_COPY_LINK_BASE;
}

static void clone_dir_release(struct tu_copy *cp, struct dnode *n)
{
	struct clone_dir *cd = n->base;
	if (!cd)
		return;
	for (int i = 0; i < cp->clone->n; i++)
		if (cd->fd[i] >= 0)
			close(cd->fd[i]);
	free(cd);
	n->base = NULL;
}

const struct tu_copy_policy tu_copy_clone = {
	.name = "clone",
	.decide = clone_decide,
	.dir_release = clone_dir_release,
};

/* ---- the run: BASEs and DEST's hidden name ------------------------------------ */

static int forward_error(const struct tu_err *e, void *ctx)
{
	struct tu_copy *cp = ctx;
	cp_note_failure(cp, e->err);
	cp_call_locked(cp, cp->o->error, e->path, e->op, e->err, e->detail);
	return TU_CONTINUE;
}

/* DEST's hidden name: fixed for the name DEST has in its parent, so a
   rerun finds what an interrupted one left; one of our temporary names
   (tu_is_tmp_name), so the other tools know it for one. */
static void hidden_name(const char *last, char *out)
{
	struct tu_spooky h;
	tu_spooky_init(&h, 0, 0);
	static const char tag[] = "cptree --clone-from";
	tu_spooky_update(&h, tag, sizeof tag);
	tu_spooky_update(&h, last, strlen(last));
	uint64_t h1, h2;
	tu_spooky_final(&h, &h1, &h2);
	unsigned char dg[16];
	char hex[33];
	tu_spooky_digest(h1, h2, dg);
	tu_spooky_hex(dg, hex);
	snprintf(out, TU_TMP_NAME_MAX, "%s%s", TU_TMP_PREFIX, hex);
}

/* What an earlier, interrupted run left under HIDDEN: removed, if it is
   ours (a directory we own, no mount point) and no run is building it now
   (its flock is free). 0 when the name is free, or -errno (refused). */
static int remove_leftover(struct tu_copy *cp, struct start *s, const char *hidden)
{
	struct tu_ident id;
	int r = tu_ident_at(s->dpfd, hidden, &id);
	if (r == -ENOENT)
		return 0;
	char *shown = NULL;
	const char *slash = strrchr(cp->dst_display, '/');
	size_t plen = slash ? (size_t)(slash - cp->dst_display) + 1 : 0;
	if (asprintf(&shown, "%.*s%s", (int)plen, cp->dst_display, hidden) < 0)
		return -ENOMEM;
	if (r < 0) {
		cp_refuse(cp, shown, "stat", -r, NULL);
		goto out;
	}
	if (!S_ISDIR(id.mode) || id.uid != cp->euid || id.mount_root) {
		r = -EEXIST;
		cp_refuse(cp, shown, "clone", EEXIST,
			  "in the way of DEST's hidden name, and not an unfinished clone of ours; "
			  "nothing written");
		goto out;
	}
	int fd = tu_dir_open_at(s->dpfd, hidden, &id);
	if (fd < 0) {
		r = fd;
		cp_refuse(cp, shown, "open", -r, NULL);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		cp_refuse(cp, shown, "clone", -r,
			  r == -EBUSY ? "another cptree --clone-from is building this DEST" : NULL);
		goto out;
	}
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = cp->o->jobs;
	ro.timeout = cp->o->timeout;
	ro.expect_id = true;
	ro.expect_dev = id.dev;
	ro.expect_ino = id.ino;
	ro.display = shown;
	ro.error = forward_error;
	ro.ctx = cp;
	/* Our lock is held while it goes: a run starting meanwhile sees it
	   busy. */
	r = tu_rmtree_at(s->dpfd, hidden, &ro);
	close(fd);
	if (r != 0) {
		r = r < 0 ? r : -ENOTEMPTY;
		cp_refuse(cp, shown, "remove", -r, "the unfinished clone of an earlier run; nothing written");
		goto out;
	}
	if (cp->o->warning)
		cp_call_locked(cp, cp->o->warning, shown, "clone", 0,
			       "removed the unfinished clone of an earlier run; starting again");
out:
	free(shown);
	return r;
}

static int open_bases(struct tu_copy *cp, struct tu_clone *cl)
{
	const struct tu_cptree_opts *o = cp->o;
	for (int i = 0; i < o->nclone_from; i++) {
		struct clone_base *b = &cl->b[i];
		b->display = o->clone_from[i];
		/* BASE as the user wrote it, symlinks followed as any tool's
		   operand ("latest" -> yesterday's snapshot); below it nothing
		   is followed. */
		int fd = b->display && b->display[0] ?
			 open(b->display, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (fd < 0) {
			int err = b->display && b->display[0] ? errno : EINVAL;
			cp_refuse(cp, b->display ? b->display : "", "open BASE", err,
				  err == ENOTDIR ? "BASE must be a directory" : NULL);
			return -err;
		}
		cl->n = i + 1;
		b->fd = fd;
		struct stat st;
		struct statfs sf;
		if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0) {
			int err = errno;
			cp_refuse(cp, b->display, "stat", err, NULL);
			return -err;
		}
		b->dev = st.st_dev;
		b->fstype = (long)sf.f_type;
		b->data.reflink = TU_REFLINK_AUTO;	/* a refusal falls back */
		b->data.timeout = o->timeout;
	}
	return 0;
}

int cp_clone_start(struct tu_copy *cp, struct start *s, char *hidden)
{
	const struct tu_cptree_opts *o = cp->o;
	const char *why = NULL;
	if (o->nclone_from > TU_CLONE_MAX)
		why = "at most 20 --clone-from";
	else if (o->dry_run)
		why = "--clone-from cannot be combined with a dry run (-n) yet";
	else if (o->link != TU_CPLINK_NONE)
		why = "--clone-from cannot be combined with --link";
	else if (o->dereference & TU_DEREF_SYMBOLIC)
		why = "--clone-from cannot be combined with -L";
	if (why) {
		cp_refuse(cp, cp->dst_display, "clone", EINVAL, why);
		return -EINVAL;
	}
	struct tu_clone *cl = calloc(1, sizeof *cl);
	if (!cl)
		return -ENOMEM;
	cl->lock_fd = -1;
	pthread_mutex_init(&cl->lock, NULL);
	cl->hardlink = o->archive && o->reflink != TU_REFLINK_ALWAYS;
	cp->clone = cl;
	int r = open_bases(cp, cl);
	if (r < 0)
		return r;
	hidden_name(s->dlast, hidden);
	s->hidden_given = true;
	return remove_leftover(cp, s, hidden);
}

/* Can DEST's filesystem share extents at all? Two empty unnamed files, one
   cloned onto the other: ext4 and tmpfs refuse (EOPNOTSUPP), btrfs and
   XFS with reflink take it. */
static bool dest_can_reflink(struct tu_copy *cp, int fd)
{
	char t1[TU_TMP_NAME_MAX], t2[TU_TMP_NAME_MAX];
	int a = tu_tmpfile_create(&cp->fs, fd, t1);
	if (a < 0)
		return false;
	/* FICLONE reads its source: the first one again, readable, through
	   its fd's /proc link (our own new file, nothing else). */
	char proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", a);
	int ra = open(proc, O_RDONLY | O_CLOEXEC);
	int b = ra >= 0 ? tu_tmpfile_create(&cp->fs, fd, t2) : -1;
	bool ok = false;
	if (b >= 0) {
		struct tu_data d = { .reflink = TU_REFLINK_AUTO };
		struct tu_xfer x = { .dc = &d, .in = ra, .out = b };
		struct stat st = { .st_size = 0 };
		ok = tu_data_reflink(&x, &st) == 1;
		close(b);
		tu_tmpfile_discard(fd, t2);
	}
	if (ra >= 0)
		close(ra);
	close(a);
	tu_tmpfile_discard(fd, t1);
	return ok;
}

int cp_clone_root(struct tu_copy *cp, int fd)
{
	struct tu_clone *cl = cp->clone;
	/* A dup of its own: the lock (one open file) lasts until the end,
	   past the rename into place, whatever closes the root's fd. */
	cl->lock_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (cl->lock_fd < 0 || flock(cl->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? EBUSY : errno;
		cp_refuse(cp, cp->dst_display, "lock", err, NULL);
		return -err;
	}
	struct stat st;
	struct statfs sf;
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0) {
		int err = errno;
		cp_refuse(cp, cp->dst_display, "stat", err, NULL);
		return -err;
	}
	bool can = cp->o->reflink != TU_REFLINK_NEVER && dest_can_reflink(cp, fd);
	for (int i = 0; i < cl->n; i++) {
		struct clone_base *b = &cl->b[i];
		/* Extents are shared within one filesystem: one device, or
		   one btrfs (whose subvolumes have devices of their own). A
		   file that is refused all the same turns it off. */
		b->reflink = can && b->fstype == (long)sf.f_type &&
			     (b->dev == st.st_dev || b->fstype == (long)BTRFS_SUPER_MAGIC);
	}
	return 0;
}

void cp_clone_end(struct tu_copy *cp)
{
	struct tu_clone *cl = cp->clone;
	if (!cl)
		return;
	for (int i = 0; i < cl->n; i++)
		close(cl->b[i].fd);
	if (cl->lock_fd >= 0)
		close(cl->lock_fd);
	for (size_t i = 0; i < CLAIM_BUCKETS; i++) {
		while (cl->claims[i]) {
			struct claim *c = cl->claims[i];
			cl->claims[i] = c->next;
			free(c);
		}
	}
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	cp->clone = NULL;
}

/* ---- is it unchanged in a BASE? ----------------------------------------------- */

/* The source directory of J in each BASE, looked up once, at its first
   entry: beneath BASE's root, no symlink followed. NULL when out of
   memory (then nothing is shared). */
static struct clone_dir *dir_of(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n)
{
	if (n->base)
		return n->base;
	struct tu_clone *cl = cp->clone;
	struct clone_dir *cd = malloc(sizeof *cd);
	struct where w = { d, NULL };
	char *rel = cd ? cp_rel_of(cp, &w) : NULL;
	if (!rel) {
		free(cd);
		return NULL;
	}
	const char *p = strcmp(rel, ".") == 0 ? "" : rel;
	for (int i = 0; i < cl->n; i++) {
		int fd = tu_open_beneath(cl->b[i].fd, p, O_PATH | O_DIRECTORY | O_CLOEXEC, false);
		cd->fd[i] = fd < 0 ? -1 : fd;
	}
	free(rel);
	n->base = cd;
	return cd;
}

static bool same_ts(const struct statx_timestamp *a, const struct statx_timestamp *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* What statx alone can rule out: type, size, mtime, device numbers, and
   with -a the mode, owner and group. */
static bool cheap_same(const struct statx *s, const struct statx *b, bool archive)
{
	if ((s->stx_mode & S_IFMT) != (b->stx_mode & S_IFMT) || s->stx_size != b->stx_size ||
	    !same_ts(&s->stx_mtime, &b->stx_mtime))
		return false;
	if ((S_ISCHR(s->stx_mode) || S_ISBLK(s->stx_mode)) &&
	    (s->stx_rdev_major != b->stx_rdev_major || s->stx_rdev_minor != b->stx_rdev_minor))
		return false;
	if (archive && (s->stx_uid != b->stx_uid || s->stx_gid != b->stx_gid ||
			(!S_ISLNK(s->stx_mode) && (s->stx_mode & 07777) != (b->stx_mode & 07777))))
		return false;
	return true;
}

/* Hold NAME in BASE's directory DFD, of type MODE: a regular file
   readable (FICLONE and compare.c want that) with O_NOATIME where we may,
   anything else O_PATH, never opened for real (a device could act on an
   open). */
static int open_base_entry(int dfd, const char *name, mode_t mode)
{
	if (!S_ISREG(mode))
		return openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	int fd = openat(dfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)	/* not ours, and not root */
		fd = openat(dfd, name, flags);
	if (fd < 0 && errno == EACCES)	/* unreadable: a hard link still serves */
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

void cp_clone_match(struct job *j, int fd, struct cp_base *b)
{
	struct tu_copy *cp = j->cp;
	struct tu_clone *cl = cp->clone;
	struct dnode *n = cp_slot_dn(j->w.d);
	if (!cl || !n)
		return;
	struct clone_dir *cd = dir_of(cp, j->w.d, n);
	if (!cd)
		return;
	bool archive = cp->o->archive;
	bool reg = S_ISREG(j->st.st_mode);
	/* SOURCE's entry, held: the open file, or an O_PATH fd on the
	   symlink or special file, checked to be the one stat'ed. */
	int sfd = fd;
	if (sfd < 0 && !reg)
		sfd = openat(j->sfd, j->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return;
	struct statx ss;
	if (statx(sfd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, CLONE_MASK, &ss) < 0 ||
	    ss.stx_ino != j->st.st_ino)
		goto out;
	for (int i = 0; i < cl->n; i++) {
		if (cd->fd[i] < 0)
			continue;
		struct clone_base *cb = &cl->b[i];
		bool reflink = reg && ss.stx_size > 0 && cb->reflink &&
			       !atomic_load(&cb->data.no_reflink);
		/* Sharing extents: a data match will do. Else only a hard
		   link shares, with -a, and BASE must then be equal in all. */
		if (!reflink && !cl->hardlink)
			continue;
		/* Where extents are shared, nothing without extents is shared
		   at all (no inode ever is), so nothing of it is looked at:
		   reading a symlink's target would move its atime. */
		if (!reg && cb->reflink && !atomic_load(&cb->data.no_reflink))
			continue;
		struct statx bs;
		if (statx(cd->fd[i], j->name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, CLONE_MASK,
			  &bs) < 0 ||
		    !cheap_same(&ss, &bs, archive && !reflink))
			continue;
		int bfd = open_base_entry(cd->fd[i], j->name, bs.stx_mode);
		if (bfd < 0)
			continue;
		struct statx bs2;
		bool same_meta = false;
		if (statx(bfd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, CLONE_MASK, &bs2) < 0 ||
		    bs2.stx_ino != bs.stx_ino || !cheap_same(&ss, &bs2, archive && !reflink)) {
			close(bfd);
			continue;
		}
		if (archive && cheap_same(&ss, &bs2, true)) {
			struct tu_cmp c;
			struct tu_cmp_entry se = { sfd, &ss }, be = { bfd, &bs2 };
			same_meta = tu_compare(&se, &be, TU_CMP_ARCHIVE, &c) == 0 && c.changed == 0;
		}
		if (!reflink && !same_meta) {
			close(bfd);
			continue;
		}
		*b = (struct cp_base){ .fd = bfd, .idx = i, .same_meta = same_meta };
		j->base = b;
		break;
	}
out:
	if (sfd != fd)
		close(sfd);
}

/* ---- sharing it ------------------------------------------------------------------- */

static bool same_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* A new file whose extents are BASE's, finished with SOURCE's metadata as
   any copy is. 0 done, 1 to be copied instead (nothing made: the
   filesystem refused, or SOURCE changed meanwhile), or -errno (reported). */
static int share_extents(struct job *j, int fd, struct cp_base *b, struct clone_base *cb)
{
	struct tu_copy *cp = j->cp;
	struct tu_meta meta = { .st = j->st };
	if (cp->o->archive && tu_meta_read_fd(cp->mr, fd, &j->st, &meta) < 0)
		return 1;	/* the copy reads it again, and reports */
	char tmp[TU_TMP_NAME_MAX];
	int out = tu_tmpfile_create(&cp->fs, j->dfd, tmp);
	if (out < 0) {
		tu_meta_free(&meta);
		return 1;
	}
	struct tu_xfer x = { .dc = &cb->data, .in = b->fd, .out = out };
	int r = 1;
	struct stat now;
	/* SOURCE must still be what was compared; the copy rechecks too. */
	if (tu_data_reflink(&x, &j->st) == 1 && tu_stat_fd(fd, &now) == 0 &&
	    same_state(&now, &j->st))
		r = cp_file_finish(j, out, tmp, &meta);
	else
		tu_tmpfile_discard(j->dfd, tmp);
	close(out);
	tu_meta_free(&meta);
	if (r == 0)
		cp_item(cp, &j->w, 'f', 'b', NULL, (uint64_t)j->st.st_size);
	return r;
}

/* May the BASE inode B (of several names) be linked for J's SOURCE inode?
   The first SOURCE inode to ask has it. */
static bool claim(struct tu_clone *cl, const struct stat *b, const struct stat *src)
{
	if (b->st_nlink < 2)
		return true;	/* one name in BASE: one SOURCE path reaches it */
	uint64_t h = ((uint64_t)b->st_ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)b->st_dev;
	size_t k = (size_t)(h >> 20) % CLAIM_BUCKETS;
	bool ok = false;
	pthread_mutex_lock(&cl->lock);
	struct claim *c = cl->claims[k];
	while (c && !(c->bdev == b->st_dev && c->bino == b->st_ino))
		c = c->next;
	if (c) {
		ok = c->sdev == src->st_dev && c->sino == src->st_ino;
	} else if ((c = malloc(sizeof *c))) {
		*c = (struct claim){ b->st_dev, src->st_dev, b->st_ino, src->st_ino, cl->claims[k] };
		cl->claims[k] = c;
		ok = true;
	}
	pthread_mutex_unlock(&cl->lock);
	return ok;
}

int cp_clone_place(struct job *j, int fd)
{
	struct tu_copy *cp = j->cp;
	struct cp_base *b = j->base;
	struct clone_base *cb = &cp->clone->b[b->idx];
	j->base = NULL;		/* whatever happens next is a copy's */
	if (S_ISREG(j->st.st_mode) && j->st.st_size > 0 && fd >= 0 && cb->reflink &&
	    !atomic_load(&cb->data.no_reflink)) {
		int r = share_extents(j, fd, b, cb);
		if (r <= 0 || !atomic_load(&cb->data.no_reflink))
			return r;
		/* BASE cannot share extents with DEST after all: from now
		   on, hard links where all is equal. */
	}
	/* Where extents are shared no inode is: what has none to share
	   (symlinks, specials, empty files) is made anew. */
	if (!b->same_meta || !cp->clone->hardlink ||
	    (cb->reflink && !atomic_load(&cb->data.no_reflink)))
		return 1;
	struct stat bst;
	if (tu_stat_fd(b->fd, &bst) < 0 || !claim(cp->clone, &bst, &j->st))
		return 1;
	int r = tu_link_held(b->fd, j->dfd, j->dname, &cp->fs.no_empty_path);
	if (r == 0) {
		tu_ident_fd(b->fd, &j->dst);
		j->lock_flags = 0;	/* BASE's inode has its flags */
		cp_item(cp, &j->w, cp_item_type(j->st.st_mode), 'b', NULL, (uint64_t)j->st.st_size);
		return 0;
	}
	/* Too many links (ext4: 65,000), a link the kernel forbids, BASE on
	   another filesystem: a copy does, silently. */
	if (r == -EMLINK || r == -EPERM || r == -EACCES || r == -EXDEV || r == -EOPNOTSUPP)
		return 1;
	cp_report(cp, &j->w, false, "link", -r, NULL);
	return r;
}
