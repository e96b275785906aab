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
 * The work is split by job: this file has the operands, the refusals, the
 * rename within a filesystem and the resumption of an interrupted move, and
 * the message helpers; move_across.c the copy, placing and removal;
 * move_verify.c the check of the copy; move_marker.c the marker.
 *
 * This file must never remove or change anything of SOURCE before its copy
 * is in place under DEST and synced; never replace or merge into an existing
 * DEST; and it holds neither a copier nor a remover of its own: tu_cptree
 * copies, the rmtree engine removes.
 */
#define TU_INTERNAL
#include "move_state.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef TU_TEST_HOOKS
void (*tu_move_hook)(enum tu_move_point p);
#endif

void tu_mvtree_opts_init(struct tu_mvtree_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = TU_CPTREE_TIMEOUT;
}

/* ---- messages ------------------------------------------------------------ */

int mv_say(struct mv *m, tu_error_fn *fn, const char *path, const char *op, int err,
	   const char *detail)
{
	if (atomic_load(&m->stopped))
		return TU_STOP;
	struct tu_err e = { .op = op, .err = err, .path = path, .detail = detail };
	int r = tu_call_locked(fn, m->o->ctx, &m->lock, &e);
	if (r == TU_STOP && fn == m->o->error)
		atomic_store(&m->stopped, true);
	return r;
}

int mv_fail(struct mv *m, const char *path, const char *op, int err, const char *detail)
{
	return mv_say(m, m->o->error, path, op, err, detail);
}

void mv_add_map(struct mv *m, const char *from, const char *to)
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
char *mv_shown(const struct mv *m, const char *path)
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
int mv_forward(struct mv *m, tu_error_fn *fn, const struct tu_err *e)
{
	if (!fn)
		return TU_CONTINUE;
	if (atomic_load(&m->stopped))
		return TU_STOP;
	char *p = mv_shown(m, e->path);
	struct tu_err f = *e;
	f.path = p ? p : e->path;
	int r = fn(&f, m->o->ctx);
	free(p);
	if (r == TU_STOP && fn == m->o->error)
		atomic_store(&m->stopped, true);
	return r;
}

/* ---- small system pieces ------------------------------------------------- */

/* "/proc/self/fd/FD/NAME": how tu_cptree and tu_rmtree, which take paths,
   reach NAME in a directory we hold, whatever happens to the path the user
   gave. */
void mv_proc_path(char *out, size_t len, int fd, const char *name)
{
	snprintf(out, len, "/proc/self/fd/%d/%s", fd, name);
}

int mv_fsync_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
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
		r = mv_marker_read(m->dpfd, m->mark, &k);
	else
		r = have_dest ? mv_marker_find(m, did, &k) : -ENOENT;
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
	mv_proc_path(spath, sizeof spath, m->spfd, k.dir ? m->slast : m->hid);
	mv_add_map(m, spath, m->src_disp);
	if (m->o->dry_run) {
		if (m->o->moved)
			m->o->moved(m->src_disp, m->dst_disp, TU_MOVE_FINISHED, m->o->ctx);
		return 0;
	}
	if (have_dest) {
		if (did->dev != (dev_t)k.cdev || did->ino != (ino_t)k.cino)
			return NOT_OURS;	/* DEST is not our copy */
	} else {
		r = mv_place(m, &k);
		if (r < 0) {
			/* The marker names no copy that is still there: stale. */
			mv_marker_remove(m);
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
			mv_verify_copy(m, sfd, dfd, m->src_disp, false);
		if (sfd >= 0)
			close(sfd);
		if (dfd >= 0)
			close(dfd);
	}
	r = mv_finish(m, &k, have_src);
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
		mv_fail(m, sl ? m->dst_disp : m->src_disp, "move", EINVAL, "refusing an empty name");
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
		mv_fail(m, m->src_disp, "move", EINVAL, "refusing to move '/', '.' or '..'");
		return -EINVAL;
	}
	int d = tu_open_parent(m->dst_disp, m->dbuf, dl + 2, &m->dlast);
	if (d < 0) {
		mv_fail(m, m->dst_disp, "open the directory of", -d, NULL);
		return d;
	}
	m->dpfd = d;
	if (bad_last(m->dlast)) {
		mv_fail(m, m->dst_disp, "move", EINVAL, "refusing '/', '.' or '..' as DEST");
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
		mv_fail(m, m->src_disp, "move", ENOTDIR,
		     S_ISLNK(m->sid.mode) ? "a symlink written with a trailing '/'; without "
					    "the '/' the link itself is moved" : NULL);
		return -ENOTDIR;
	}
	struct tu_ident did;
	int dr = tu_ident_at(m->dpfd, m->dlast, &did);
	if (dr < 0 && dr != -ENOENT) {
		mv_fail(m, m->dst_disp, "stat", -dr, NULL);
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
		mv_fail(m, m->src_disp, "stat", r == -ENOENT || m->spfd < 0 ? ENOENT : -r, NULL);
		return r < 0 ? r : -ENOENT;
	}
	m->src_is_dir = S_ISDIR(m->sid.mode);
	if (have_dest && tu_ident_same(&did, &m->sid)) {
		mv_fail(m, m->dst_disp, "move", EINVAL, "SOURCE and DEST are the same");
		return -EINVAL;
	}
	if (m->src_is_dir) {
		int in = tu_dir_is_below(m->dpfd, &m->sid);
		if (in != 0) {
			mv_fail(m, m->dst_disp, "move", in > 0 ? EINVAL : -in,
			     in > 0 ? "cannot move a directory into itself or below it" : NULL);
			return in > 0 ? -EINVAL : in;
		}
	}
	if (m->sid.mount_root && !o->mounts) {
		mv_fail(m, m->src_disp, "move", EBUSY,
			"SOURCE is a mount point (--mounts moves its content); nothing moved");
		return -EBUSY;
	}
	if (m->sid.mount_root && !m->src_is_dir) {
		mv_fail(m, m->src_disp, "move", EBUSY,
			"SOURCE is a mounted file (--mounts moves directories); nothing moved");
		return -EBUSY;
	}
	if (m->sid.mount_root && o->exchange) {
		mv_fail(m, m->src_disp, "exchange", EBUSY, "SOURCE is a mount point; nothing moved");
		return -EBUSY;
	}
	if (o->exchange && !have_dest) {
		mv_fail(m, m->dst_disp, "exchange with", ENOENT, "--exchange needs an existing DEST");
		return -ENOENT;
	}
	if (!o->exchange && have_dest) {
		mv_fail(m, m->dst_disp, "move", EEXIST,
		     "DEST exists; mvtree never replaces or merges into it; nothing moved");
		return -EEXIST;
	}

	struct tu_ident dpid;
	r = tu_ident_fd(m->dpfd, &dpid);
	if (r < 0) {
		mv_fail(m, m->dst_disp, "stat the directory of", -r, NULL);
		return r;
	}
	/* A mount point cannot be renamed: with mounts, its content is copied
	   whatever DEST's filesystem. */
	bool same_fs = dpid.dev == m->sid.dev && dpid.mnt_id == m->sid.mnt_id && !m->sid.mount_root;
	if (o->dry_run && (same_fs || o->exchange)) {
		if (o->exchange && !same_fs) {
			mv_fail(m, m->dst_disp, "exchange with", EXDEV,
			     "SOURCE and DEST are on different filesystems");
			return -EXDEV;
		}
		if (o->moved)
			o->moved(m->src_disp, m->dst_disp,
				 o->exchange ? TU_MOVE_EXCHANGED : TU_MOVE_RENAMED, o->ctx);
		return 0;
	}
	if (!o->dry_run && !m->sid.mount_root) {
		/* The one call that moves within a filesystem; EXDEV sends us
		   the long way. */
		int fl = o->exchange ? RENAME_EXCHANGE : RENAME_NOREPLACE;
		if (renameat2(m->spfd, m->slast, m->dpfd, m->dlast, fl) == 0) {
			mv_fsync_dir(m->dpfd);
			if (!o->exchange && m->spfd != m->dpfd)
				mv_fsync_dir(m->spfd);
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
			mv_fail(m, m->dst_disp, o->exchange ? "exchange with" : "move", -r,
			     r == -EXDEV ? "SOURCE and DEST are on different filesystems" : NULL);
			return r;
		}
	}
	/* Across filesystems. A hidden copy without a marker never finished:
	   it is removed and made again. */
	if (!o->dry_run) {
		r = mv_remove_hidden(m);
		if (r < 0) {
			char *where = NULL;
			if (asprintf(&where, "%s%s", m->dwhere, m->hid) < 0)
				where = NULL;
			mv_fail(m, where ? where : m->dst_disp, "remove", -r,
			     r == -EPERM ? "it has our hidden name but is not ours; nothing moved" :
					   "an unfinished copy of an earlier run; nothing moved");
			free(where);
			return r;
		}
	}
	return mv_copy_across(m);
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
	for (size_t i = 0; i < m.nmpaths; i++)
		free(m.mpaths[i]);
	free(m.mpaths);
	pthread_mutex_destroy(&m.set.lock);
	pthread_mutex_destroy(&m.lock);
	return r;
}
