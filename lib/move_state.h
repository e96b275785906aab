/* SPDX-License-Identifier: Apache-2.0 */
/* move_state.h: the state that the files of mvtree's algorithm share
 * (lib/move*.c): one move's held directories, names and counters, what was
 * verified, what the marker records, and the functions they call in one
 * another. Private to those files.
 *
 * Nothing here may be used outside lib/move*.c.
 */
#ifndef TU_MOVE_STATE_H
#define TU_MOVE_STATE_H
#ifndef TU_INTERNAL
#error "move_state.h is private to libtreeutils; include treeutils.h"
#endif

#include "handle.h"
#include "move.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#define MV_PREFIX TU_TMP_PREFIX "mv-"
#define MV_MARK_SUFFIX ".ok"
/* The one entry of the hidden directory that carries a non-directory
   SOURCE (tu_cptree copies directories only; see stage_nondir()). */
#define MV_ENTRY "e"

/* Every SOURCE entry found equal to its copy, by (dev, ino), with the ctime,
   mtime and size it had then: the removal takes nothing else. Open
   addressing; grows by doubling; about 48 bytes an entry. */
struct vkey {
	uint64_t dev, ino;	/* ino 0: free slot */
	int64_t ctime, mtime;
	uint64_t size;
	mode_t mode;
	uid_t uid;
	bool taken;		/* a name of it was let go */
};

struct vset {
	pthread_mutex_t lock;
	struct vkey *keys;
	size_t cap, count;
};

/* Where a path from tu_cptree or tu_rmtree starts, and what to show instead. */
struct mapping {
	char from[192];
	const char *to;
};

struct mv {
	const struct tu_mvtree_opts *o;
	_Atomic bool stopped;		/* an error callback answered TU_STOP:
					   nothing more is passed on */
	const char *src_disp, *dst_disp;
	char *sbuf, *dbuf;
	int spfd, dpfd;
	const char *slast, *dlast;
	struct tu_ident sid;		/* SOURCE as we found it */
	bool src_is_dir;
	char hid[sizeof MV_PREFIX + 32];		/* the hidden copy, in dpfd */
	char mark[sizeof MV_PREFIX + 32 + sizeof MV_MARK_SUFFIX];	/* in dpfd */
	struct mapping map[4];
	int nmap;
	pthread_mutex_t lock;		/* one callback at a time */
	bool enospc;			/* a copy failure said ENOSPC */
	long copy_errors;
	long kept;			/* SOURCE entries kept: changed */
	int64_t t0;			/* the copy began after this */
	bool removing;			/* the first SOURCE entry went */
	struct vset set;		/* what was verified */
	char *swhere, *dwhere;		/* SOURCE's and DEST's directories, as
					   given ("" or ending in '/') */
	char **mpaths;			/* mount points the removal was let
					   into or met (under set.lock) */
	size_t nmpaths;
	long mounts_left;		/* mount points that stayed, reported */
	long remove_errors;		/* other failures of SOURCE's removal */
};

/* What the marker records. */
struct marker {
	bool dir;
	uint64_t sdev, sino;	/* SOURCE */
	uint64_t cdev, cino;	/* the copy (non-directory: its entry) */
	int64_t t0;		/* the copy began after this (ns, realtime) */
};

static inline int64_t mv_ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The test hook (move.h), at each step of a move across filesystems. */
static inline void mv_hook(enum tu_move_point p)
{
	if (tu_move_hook)
		tu_move_hook(p);
}

/* ---- move.c: messages and small pieces ---- */

/* Report through FN (the caller's error or warning callback), one at a time. */
int mv_say(struct mv *m, tu_error_fn *fn, const char *path, const char *op, int err,
	   const char *detail);
/* Report an error. */
int mv_fail(struct mv *m, const char *path, const char *op, int err, const char *detail);
/* Show paths under FROM (a /proc/self/fd name we handed on) as under TO. */
void mv_add_map(struct mv *m, const char *from, const char *to);
char *mv_shown(const struct mv *m, const char *path);
/* Forward a report of tu_cptree or tu_rmtree, its path as the user sees it. */
int mv_forward(struct mv *m, tu_error_fn *fn, const struct tu_err *e);
void mv_proc_path(char *out, size_t len, int fd, const char *name);
int mv_fsync_dir(int dirfd);

/* ---- move_marker.c: the marker beside DEST ---- */

int mv_marker_write(struct mv *m, const struct marker *k);
int mv_marker_read(int dirfd, const char *name, struct marker *k);
void mv_marker_remove(struct mv *m);
int mv_marker_find(struct mv *m, const struct tu_ident *dest, struct marker *k);

/* ---- move_verify.c: the check of the copy, and what was found equal ---- */

/* The entry of the verified set for (DEV, INO), or NULL; under set.lock. */
struct vkey *mv_vset_find_locked(struct vset *v, uint64_t dev, uint64_t ino);
/* Compare the tree held by SFD (SOURCE, or the stage of a non-directory)
   with its copy held by DFD, adding each entry found equal to m->set. With
   STRICT a difference fails the move (reported as such), else it keeps the
   entry in SOURCE. Returns the number of differences (reported), or
   -errno. */
long mv_verify_copy(struct mv *m, int sfd, int dfd, const char *disp, bool strict);

/* ---- move_across.c: copy, verify, place, remove SOURCE ---- */

/* Remove a hidden copy an interrupted run left (no marker: never complete);
   -EPERM when the name holds something not ours. */
int mv_remove_hidden(struct mv *m);
/* The copy, its check, the marker, the rename into place, and SOURCE's
   removal. 0, TU_MVTREE_INCOMPLETE, or -errno (reported). */
int mv_copy_across(struct mv *m);
/* Put the verified hidden copy the marker K names in place; never
   replaces. */
int mv_place(struct mv *m, const struct marker *k);
/* DEST is in place: remove SOURCE, then the marker (kept while any of
   SOURCE is left). 0 or TU_MVTREE_INCOMPLETE. */
int mv_finish(struct mv *m, const struct marker *k, bool have_src);

#endif
