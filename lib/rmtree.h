/* SPDX-License-Identifier: Apache-2.0 */
/* rmtree.h: the state the rmtree engine's two passes share: the delete pass
 * (rmtree.c, with the entry points) and the check pass for --all-or-nothing
 * and the dry run (rmtree_check.c). Private to the library.
 *
 * Nothing declared here may follow a symlink, act on a path string inside
 * the tree, or print.
 */
#ifndef TU_RMTREE_H
#define TU_RMTREE_H
#ifndef TU_INTERNAL
#error "rmtree.h is private to libtreeutils; include treeutils.h"
#endif

#include "report.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>

/* Flags word of a directory being deleted (or checked). */
enum {
	RM_BLOCKED = 1u << 0,	/* something below failed and stays: do not
				   read it again */
	RM_HOLDS = 1u << 1,	/* something below stays by design (kept by
				   may_remove, a mount point left alone): keep
				   this directory where it is, quietly */
	RM_NOUNLINK = 1u << 2,	/* check: no entry of it can be removed
				   (immutable, append-only, not writable) */
	RM_FIXED = 1u << 3,	/* we gave it u+rwx in enter(); the check pass
				   gives the mode back */
};

/* Identities of entries given up on, so a directory read again skips them
   instead of failing on them twice (in the check, the entries that cannot
   go). Open addressing; grows by doubling. */
struct idset {
	pthread_mutex_t lock;
	struct tu_ident_key { dev_t dev; ino_t ino; } *keys;
	size_t cap;
	/* Read without the lock as a fast "is anything given up" test by the
	   walk's threads, so atomic (ThreadSanitizer found the plain read). */
	_Atomic size_t count;
};

struct rm {
	const struct tu_rmtree_opts *o;
	int parent_fd;			/* holds the base; never changed */
	const char *top_name;		/* NAME as given, the start of rel paths */
	const char *base_name;		/* the base's current name in parent_fd */
	int base_fd;
	struct tu_ident base_id;
	bool hidden;			/* the base was renamed to base_name */
	const char *display;		/* the argument as given: messages about it */
	char *display_buf;
	char *walk_root;		/* display without trailing slashes: the
					   prefix of every path below it */
	char *base_display;		/* where the base lies now */
	bool checking;			/* the all-or-nothing check or the dry run */
	bool probe;			/* the dry run: say what would go */
	_Atomic long blockers;
	_Atomic long kept;
	struct tu_reporter rep;		/* failures; "some failed", "stop" */
	pthread_mutex_t out_lock;	/* callbacks are never called two at once */
	struct idset given_up;
};

/* The given-up set (rmtree.c). */
bool rm_idset_has(struct idset *s, dev_t dev, ino_t ino);
void rm_idset_add(struct idset *s, dev_t dev, ino_t ino);

/* A failure with NAME in D (NULL: D itself), through the walker, whose
   error() forwards it, so that a TU_STOP answer stops the walk. */
void rm_report(struct rm *rm, struct tu_walk_dir *d, const char *name, const char *op,
	       int err, const char *detail);
/* An entry dealt with (removed, or in a dry run would be): counted and told. */
void rm_removed(struct rm *rm, struct tu_walk_dir *d, const char *name, bool is_dir);
/* An entry that stays by design: may_remove kept it, or it holds such an
   entry. */
void rm_kept(struct rm *rm, struct tu_walk_dir *d, const char *name, bool is_dir);
/* Ask may_remove about NAME in DFD (D NULL: the base itself). 1 keep it,
   0 remove it, -ENOENT when it is gone. */
int rm_ask(struct rm *rm, struct tu_walk_dir *d, int dfd, const char *name, bool is_dir);
/* Give our own directory D u+rwx through its fd when it lacks them. */
void rm_make_usable(struct tu_walk_dir *d);
/* A mount point below the base, left alone: reported once; the directories
   above it stay. Answers as the error callback did. */
int rm_mount_left_alone(struct rm *rm, struct tu_walk_dir *d, const struct tu_err *e);

/* The check pass's walker callbacks (rmtree_check.c). */
extern const struct tu_walk_ops rm_check_ops;

#endif
