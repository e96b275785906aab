/* SPDX-License-Identifier: Apache-2.0 */
/* move_across.c: a move across filesystems, copy then delete. tu_cptree
 * copies SOURCE into the hidden name beside DEST (a non-directory through a
 * stage beside SOURCE), move_verify.c checks the copy, then a sync, the
 * marker, the rename into place, and only then SOURCE's removal by the
 * rmtree engine, which may take only what was found equal and is unchanged
 * since. A copy that fails is removed, and the error says how much room it
 * needed when DEST's filesystem was full.
 *
 * It must never remove or change anything of SOURCE before its copy is
 * verified, synced and in place under DEST; never replace a DEST; never
 * remove a hidden name that is not the copy it made (or one of ours an
 * interrupted run left); and it holds neither a copier nor a remover of its
 * own.
 */
#define TU_INTERNAL
#include "move_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- reports of the copy and removal engines ------------------------------- */

static int copy_error(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	m->copy_errors++;
	if (e->err == ENOSPC || e->err == EDQUOT)
		m->enospc = true;
	return mv_forward(m, m->o->error, e);
}

static int copy_warning(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	return mv_forward(m, m->o->warning, e);
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
	char *s = mv_shown(m, it->src), *d = mv_shown(m, it->dst);
	c.path = path;
	c.src = s ? s : it->src;
	c.dst = d ? d : it->dst;
	m->o->copied(&c, m->o->ctx);
	free(s);
	free(d);
}

/* Was PATH (as the rmtree engine shows it) a mount point when it was let
   into? Under set.lock. */
static bool is_mount_path_locked(const struct mv *m, const char *path)
{
	for (size_t i = 0; i < m->nmpaths; i++)
		if (strcmp(m->mpaths[i], path) == 0)
			return true;
	return false;
}

static void note_mount_path(struct mv *m, const char *path)
{
	pthread_mutex_lock(&m->set.lock);
	char **n = realloc(m->mpaths, (m->nmpaths + 1) * sizeof *n);
	if (n) {
		m->mpaths = n;
		n[m->nmpaths] = strdup(path);
		if (n[m->nmpaths])
			m->nmpaths++;
	}
	pthread_mutex_unlock(&m->set.lock);
}

/* A mount point stays busy whatever we do. With mounts (and not
   one_file_system) its content was moved, and that it stays is what was
   asked: a warning. Otherwise it stays with its content: an error, worded
   for mvtree's options rather than rmtree's. */
static int remove_error(const struct tu_err *e, void *ctx)
{
	struct mv *m = ctx;
	bool mount = false;
	if (e->err == EBUSY && e->path) {
		pthread_mutex_lock(&m->set.lock);
		mount = is_mount_path_locked(m, e->path);
		pthread_mutex_unlock(&m->set.lock);
	}
	if (!mount) {
		m->remove_errors++;
		return mv_forward(m, m->o->error, e);
	}
	struct tu_err f = *e;
	if (m->o->mounts && !m->o->one_file_system) {
		m->mounts_left++;
		f.detail = "a mount point: its content was moved, the mount stays";
		return mv_forward(m, m->o->warning, &f);
	}
	m->remove_errors++;
	f.detail = m->o->one_file_system ?
		   "a mount point, copied as an empty directory (-x): left in place with its content" :
		   "a mount point: left in place with its content (--mounts moves it)";
	return mv_forward(m, m->o->error, &f);
}

static void remove_entry(const char *path, bool is_dir, void *ctx)
{
	struct mv *m = ctx;
	if (!m->removing) {
		m->removing = true;
		mv_hook(TU_MOVE_REMOVING);
	}
	if (!m->o->removed)
		return;
	char *p = mv_shown(m, path);
	m->o->removed(p ? p : path, is_dir, m->o->ctx);
	free(p);
}

/* The moment after which any change to SOURCE counts as made after its
   copy began. Returned only once the kernel's coarse clock, which stamps
   ctime, has passed it: a change made from then on carries a later ctime,
   and one made before carries an earlier or equal one. */
static int64_t copy_clock(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	int64_t t0 = mv_ts_ns(t);
	for (;;) {
		struct timespec c;
		clock_gettime(CLOCK_REALTIME_COARSE, &c);
		if (mv_ts_ns(c) > t0)
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
	return !S_ISDIR(st->st_mode) && mv_ts_ns(st->st_ctim) > t0;
}

/* ---- removing, through the rmtree engine ------------------------------------ */

static void kept_report(struct mv *m, const struct tu_rmtree_entry *e, const char *why)
{
	m->kept++;
	struct tu_err f = { .op = "remove", .err = EBUSY, .path = e->path, .detail = why };
	mv_forward(m, m->o->error, &f);
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
	struct vkey *k = mv_vset_find_locked(&m->set, e->dev, e->ino ? e->ino : 1);
	bool ok = k && (k->ctime == ctime ||
			(e->is_dir && k->mode == e->mode && k->uid == e->uid) ||
			(!e->is_dir && k->taken && k->mtime == mtime && k->size == e->size));
	if (ok)
		k->taken = true;
	pthread_mutex_unlock(&m->set.lock);
	struct tu_ident id;
	if (ok && e->is_dir && tu_ident_at(e->dirfd, e->name, &id) == 0 && id.mount_root)
		note_mount_path(m, e->path);
	if (!ok)
		kept_report(m, e, k || ctime > m->t0 ? "changed after it was copied; kept in SOURCE" :
				   "not in the copy (it appeared during the move); kept in SOURCE");
	return ok;
}

/* Remove NAME in DIRFD with the rmtree engine, only if it is still EXPECT:
   never into another mount (with CHECKED and mounts, into the mounts the
   copy crossed); with CHECKED, only the entries verified (see
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
		/* The copy crossed the mounts the verification saw, and only
		   what it found equal goes. */
		ro.cross_mounts = m->o->mounts && !m->o->one_file_system;
	}
	int r = tu_rmtree_at(dirfd, name, &ro);
	if (r == -ENOENT)
		return 0;
	/* TU_RMTREE_KEPT: kept entries; TU_PARTIAL: some failed (reported). */
	return r == 0 ? 0 : r > 0 ? 1 : r;
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
	mv_fail(m, m->dst_disp, "move", ENOSPC, detail);
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
int mv_remove_hidden(struct mv *m)
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
				mv_fail(m, m->src_disp, "remove", EBUSY,
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
					mv_fail(m, m->src_disp, "remove", ESTALE,
					     "SOURCE was replaced during the move; left alone");
					close(sfd);
					return 1;
				}
				if (m->o->removed)
					m->o->removed(m->src_disp, false, m->o->ctx);
			} else {
				r = -errno;
				mv_fail(m, m->src_disp, "remove", -r, "SOURCE could not be removed");
				close(sfd);
				return 1;
			}
		}
		if (sfd >= 0)
			close(sfd);
		r = remove_ours(m, m->spfd, m->hid, m->swhere);
		if (r != 0)
			mv_fail(m, m->src_disp, "remove", r < 0 ? -r : ENOTEMPTY,
			     "the staging directory beside SOURCE could not be removed");
		return r == 0 ? 0 : 1;
	}
	if (!have_src)
		return 0;
	r = remove_tree(m, m->spfd, m->slast, &m->sid, m->src_disp, true);
	if (r != 0 && m->mounts_left > 0 && m->kept == 0 && m->remove_errors == 0)
		return 0;	/* only mount points stay, emptied, as asked (warned) */
	if (r > 0 && m->kept == 0) {
		mv_fail(m, m->src_disp, "remove", ENOTEMPTY,
		     "SOURCE could not be removed completely; DEST is the complete copy");
	} else if (r < 0) {
		mv_fail(m, m->src_disp, "remove", -r,
		     "SOURCE could not be removed; DEST is the complete copy");
		r = 1;
	}
	return r;
}

/* DEST is in place: remove SOURCE, then the marker (kept while any of SOURCE
   is left, so a later run can finish). */
int mv_finish(struct mv *m, const struct marker *k, bool have_src)
{
	int r = remove_source(m, k, have_src);
	if (!k->dir)
		unlinkat(m->dpfd, m->hid, AT_REMOVEDIR);	/* empty now; ENOENT is fine */
	if (r == 0) {
		mv_hook(TU_MOVE_SOURCE_REMOVED);
		mv_marker_remove(m);
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
int mv_place(struct mv *m, const struct marker *k)
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
	return mv_fsync_dir(m->dpfd);
}

int mv_copy_across(struct mv *m)
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
			mv_fail(m, m->src_disp, "open", -sfd, NULL);
			return sfd;
		}
		mv_proc_path(spath, sizeof spath, m->spfd, m->slast);
	} else if (!o->dry_run) {
		int r = stage_nondir(m, &stage);
		if (r < 0) {
			mv_fail(m, m->src_disp, "move", -r,
			     "cannot stage it for the copy: a hard link beside it");
			return r;
		}
		sfd = stage;
		mv_proc_path(spath, sizeof spath, m->spfd, m->hid);
	}
	mv_proc_path(dpath, sizeof dpath, m->dpfd, m->hid);
	if (!m->src_is_dir) {
		snprintf(mapped, sizeof mapped, "%s/" MV_ENTRY, spath);
		mv_add_map(m, mapped, m->src_disp);
		snprintf(mapped, sizeof mapped, "%s/" MV_ENTRY, dpath);
		mv_add_map(m, mapped, m->dst_disp);
	}
	mv_add_map(m, dpath, m->dst_disp);
	mv_add_map(m, spath, m->src_disp);	/* last: verify_copy walks under it */

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
		ret = r == 0 ? 0 : r == TU_PARTIAL ? TU_MVTREE_INCOMPLETE : r;
		if (ret == 0 && o->moved)
			o->moved(m->src_disp, m->dst_disp, TU_MOVE_COPIED, o->ctx);
		goto out;
	}
	if (r < 0) {
		ret = r;	/* refused before anything was written (reported) */
		goto out;
	}
	bool ok = r == 0 && m->copy_errors == 0;
	struct marker k = { .dir = m->src_is_dir, .sdev = m->sid.dev, .sino = m->sid.ino, .t0 = t0 };
	struct tu_ident hident = { 0 };	/* the copy we verify, once opened */
	if (ok) {
		mv_hook(TU_MOVE_COPIED_HIDDEN);
		hfd = tu_dir_open_at(m->dpfd, m->hid, &hident);
		if (hfd < 0) {
			mv_fail(m, m->dst_disp, "open the copy", -hfd, NULL);
			ok = false;
		}
	}
	if (ok) {
		long bad = mv_verify_copy(m, sfd, hfd, m->dst_disp, true);
		if (bad != 0) {
			if (bad < 0)
				mv_fail(m, m->dst_disp, "verify the copy", (int)-bad, NULL);
			ok = false;
		}
	}
	if (ok && syncfs(hfd) < 0) {
		mv_fail(m, m->dst_disp, "sync the copy", errno, NULL);
		ok = false;
	}
	struct tu_ident cid;
	if (ok && copy_ident(m, hfd, &cid) < 0)
		ok = false;
	if (ok) {
		k.cdev = cid.dev;
		k.cino = cid.ino;
		r = mv_marker_write(m, &k);
		if (r < 0) {
			mv_fail(m, m->dst_disp, "write the marker of the move", -r, NULL);
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
	mv_hook(TU_MOVE_MARKED);
	r = mv_place(m, &k);
	if (r < 0) {
		mv_fail(m, m->dst_disp, "rename into place", -r,
		     r == -EEXIST ? "DEST appeared during the move; the copy was removed" : NULL);
		mv_marker_remove(m);
		remove_copy(m, hfd >= 0 ? &hident : NULL);
		if (stage >= 0)
			remove_ours(m, m->spfd, m->hid, m->swhere);
		ret = TU_MVTREE_INCOMPLETE;
		goto out;
	}
	mv_hook(TU_MOVE_PLACED);
	if (stage >= 0) {
		close(stage);
		stage = -1;
		sfd = -1;
	}
	ret = mv_finish(m, &k, true);
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
