/* SPDX-License-Identifier: Apache-2.0 */
/* walk.h: the traversal engine every algorithm uses. Private to the library.
 *
 * The walker holds directories by fd, reads them with getdents64 in large
 * batches, and calls an algorithm's callbacks:
 *
 *	enter(d)		once d is open, before its entries
 *	entry(d, e)		per entry; answer TU_WALK_DESCEND for a directory
 *				to visit it, TU_WALK_NEXT to go on, or TU_WALK_STOP;
 *				TU_WALK_FOLLOW visits the directory a symlink
 *				leads to (only when the user asked: -L)
 *	done_entries(d)		optional: after d's last entry(), before any of
 *				its children is entered (not called when enter()
 *				answered SKIP or STOP)
 *	leave(d)		after every child directory's leave (post-order);
 *				TU_WALK_AGAIN reads d anew ("come again")
 *	error(d, e)		a problem with an entry of d (d NULL: the root);
 *				answer TU_CONTINUE or TU_STOP
 *	idle()			optional: a worker has no directory to visit; do
 *				one piece of the algorithm's own side work (posted
 *				with tu_walk_wake) and answer true, or false when
 *				there is none
 *
 * Contract:
 *  - Callbacks for different directories may run at once on different
 *    threads (opts.jobs). The callbacks of one directory never run
 *    concurrently, and all of d's entry() calls finish before any of its
 *    children is entered. A child may touch its parent's flags word, which
 *    is atomic for that reason.
 *  - A directory is opened by one name relative to its parent's held fd,
 *    with O_NOFOLLOW. A directory whose fd was closed to keep within the fd
 *    budget is re-opened through ".." of an open child, or by name from its
 *    open parent, and refused unless (dev, ino) match.
 *  - Paths are built only for messages (tu_walk_path).
 *  - TU_WALK_FOLLOW: the child is opened with the kernel following that one
 *    name, and held by fd from then on. It is refused with -ELOOP (reported
 *    to error(), op "follow symlink") when its (dev, ino) is that of a
 *    directory on the path from the root to it: a symlink loop is reported,
 *    never walked. A followed directory is re-opened the same way and
 *    checked against its identity, never through ".." of a child.
 *  - A child directory that turned out not to be a directory, or vanished,
 *    when the walker came to open it is reported to error() with -ENOTDIR,
 *    -ELOOP or -ENOENT; the algorithm decides what that means.
 *
 * Usage loop, e.g. counting entries:
 *
 *	static int entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
 *	{
 *		atomic_fetch_add((_Atomic long *)ctx, 1);
 *		return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
 *	}
 *	struct tu_walk_ops ops = { .entry = entry };
 *	struct tu_walk_opts o = { .jobs = 0 };
 *	int r = tu_walk(root_fd, "top", &o, &ops, &count);
 */
#ifndef TU_WALK_H
#define TU_WALK_H
#ifndef TU_INTERNAL
#error "walk.h is private to libtreeutils; include treeutils.h"
#endif

#include <pthread.h>
#include "handle.h"
#include <stdatomic.h>

enum {
	TU_WALK_STOP = -1,
	TU_WALK_NEXT = 0,
	TU_WALK_DESCEND = 1,	/* from entry(): visit this directory */
	TU_WALK_SKIP = 2,	/* from enter(): do not read this directory */
	TU_WALK_AGAIN = 3,	/* from leave(): read this directory again */
	TU_WALK_FOLLOW = 4,	/* from entry(): visit the directory this
				   symlink leads to */
};

struct tu_dirent {
	const char *name;
	ino_t ino;		/* d_ino */
	unsigned char type;	/* DT_* as read; DT_UNKNOWN stays so */
	bool is_dir;		/* resolved: DT_DIR, or DT_UNKNOWN that opened as one */
};

struct tu_walk_dir;

struct tu_walk_opts {
	int jobs;		/* worker threads; 0 = online CPUs */
	int fd_budget;		/* directory fds held at most; 0 = from RLIMIT_NOFILE */
	bool one_file_system;	/* do not enter other mounts (reported, -EXDEV) */
	bool force_search;	/* make our own unreadable directories readable */
	bool sort_by_inode;	/* hand a batch's entries over in inode order */
	_Atomic bool *stop;	/* NULL, or also stop (as if a callback had
				   said STOP) once *stop is true: the
				   algorithm's reporter latch (report.h) */
};

struct tu_walk_ops {
	int (*enter)(struct tu_walk_dir *d, void *ctx);
	int (*entry)(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx);
	int (*leave)(struct tu_walk_dir *d, void *ctx);
	void (*done_entries)(struct tu_walk_dir *d, void *ctx);	/* may be NULL */
	int (*error)(struct tu_walk_dir *d, const struct tu_err *e, void *ctx);
	bool (*idle)(void *ctx);					/* may be NULL */
};

/* Walk the directory held by ROOT_FD (not closed; the caller keeps it).
   ROOT_PATH prefixes every path in messages. Returns 0, -ECANCELED when a
   callback stopped the walk, or -errno when it could not start. */
int tu_walk(int root_fd, const char *root_path, const struct tu_walk_opts *o,
	    const struct tu_walk_ops *ops, void *ctx);

/* Side work was posted (e.g. pieces of a large file to copy, from D's
   entry()): wake the idle workers to call ops->idle. The work must be done
   before D's done_entries() returns, so the walk cannot end before it. A
   worker runs idle() only when no directory waits to be visited, and never
   while it holds a callback of its own. */
void tu_walk_wake(struct tu_walk_dir *d);

/* Accessors, valid from enter() to the end of leave(). */
int tu_walk_dir_fd(struct tu_walk_dir *d);
/* The parent's fd, held for the whole of d's visit; -1 for the root. */
int tu_walk_dir_parent_fd(struct tu_walk_dir *d);
struct tu_walk_dir *tu_walk_dir_parent(struct tu_walk_dir *d);
const char *tu_walk_dir_name(const struct tu_walk_dir *d);	/* "" for the root */
int tu_walk_dir_depth(const struct tu_walk_dir *d);		/* 0 for the root */
const struct tu_ident *tu_walk_dir_ident(const struct tu_walk_dir *d);
bool tu_walk_dir_is_mount(const struct tu_walk_dir *d);
/* True when d was reached through a symlink (TU_WALK_FOLLOW). */
bool tu_walk_dir_followed(const struct tu_walk_dir *d);
/* The mode d had before force_search made it readable, or (mode_t)-1. */
mode_t tu_walk_dir_forced_mode(const struct tu_walk_dir *d);
/* True in leave() when the walk is being abandoned (a callback said STOP):
   free your state and change nothing. */
bool tu_walk_dir_aborted(const struct tu_walk_dir *d);
void **tu_walk_dir_slot(struct tu_walk_dir *d);
/* Flags word owned by the algorithm; zero when d is created. */
_Atomic uint32_t *tu_walk_dir_flags(struct tu_walk_dir *d);

/* The display path of NAME in D (NAME NULL: D itself), malloc'd; NULL when
   out of memory. For messages only, never for system calls. */
char *tu_walk_path(const struct tu_walk_dir *d, const char *name);

/* True when a walker report only says the entry vanished or stopped being a
   directory since its parent was read (ENOENT, ENOTDIR, ELOOP): a race, not
   a failure, for an algorithm that re-reads or only reads. */
bool tu_walk_err_vanished(const struct tu_err *e);
/* True for the report of a mount point left out by one_file_system. */
bool tu_walk_err_skipped_mount(const struct tu_err *e);

/* Pass E to the caller's callback FN with CTX while holding LOCK: the API
   promises callers one callback at a time, whatever thread reports. FN
   NULL (the caller ignores them) answers TU_CONTINUE. */
int tu_call_locked(tu_error_fn *fn, void *ctx, pthread_mutex_t *lock, const struct tu_err *e);

/* Report a problem with NAME in D (NULL: D itself) to ops->error, with a
   built path. Returns TU_CONTINUE or TU_STOP (and then the walk stops). */
int tu_walk_report(struct tu_walk_dir *d, const char *name, const char *op, int err,
		   const char *detail);

#endif
