/* SPDX-License-Identifier: Apache-2.0 */
/* dircache.h: one cache of held directory fds, bounded by a budget, used by
 * the walker (source side) and by the copy engine's destination side.
 * Private to the library.
 *
 * A node is embedded in its owner's record (struct tu_walk_dir, cptree's
 * struct dnode) and names one directory by its parent node and one name.
 * An open node that nobody pins sits in an LRU list; to make room for a new
 * fd the least recently used one is closed. A closed node is re-opened
 * through ".." of an open child (one open however deep), or top-down by
 * name from its nearest open ancestor; every re-open is checked against the
 * (dev, ino) the node had when first opened, and refused (-ESTALE) if it is
 * another directory. A pinned node is never closed.
 *
 * Locking: the cache has no lock of its own; LOCK is the owner's mutex
 * (which may guard the owner's own state too). Functions named _locked want
 * it held; the others take it.
 */
#ifndef TU_DIRCACHE_H
#define TU_DIRCACHE_H
#ifndef TU_INTERNAL
#error "dircache.h is private to libtreeutils; include treeutils.h"
#endif

#include "handle.h"
#include <pthread.h>

struct tu_dc_node {
	struct tu_dc_node *parent;		/* NULL for a root */
	struct tu_dc_node *lru_prev, *lru_next;	/* open and unpinned */
	bool in_lru;
	bool follow;		/* -L: NAME is followed on re-open, and never
				   reached through a child's ".." */
	int fd;			/* -1 while closed (budget) */
	int pins;
	struct tu_ident id;	/* what it was when first opened */
	const char *name;	/* in PARENT; the owner keeps the string */
};

struct tu_dcache {
	pthread_mutex_t *lock;
	struct tu_dc_node *lru_head, *lru_tail;	/* least recently used first */
	int open;		/* fds held (and reserved) */
	int budget;		/* at most, but for pinned ones */
};

/* A node of NAME under PARENT (NULL: a root), closed and unpinned. */
void tu_dc_node_init(struct tu_dc_node *n, struct tu_dc_node *parent, const char *name);

/* Close least recently used directories until one more fits the budget. */
void tu_dc_make_room_locked(struct tu_dcache *c);
/* Count one fd more (after make_room, for an open about to be made) or
   fewer (it failed). */
void tu_dc_reserve_locked(struct tu_dcache *c);
void tu_dc_unreserve_locked(struct tu_dcache *c);

/* Pin the open node N (out of the LRU while pinned). */
void tu_dc_pin_open_locked(struct tu_dcache *c, struct tu_dc_node *n);
/* Unpin N; an open node nobody pins goes to the LRU's tail. */
void tu_dc_unpin_locked(struct tu_dcache *c, struct tu_dc_node *n);

/* Re-open the closed N: through ".." of HINT (an open child, not followed)
   when there is one, else top-down from its nearest open ancestor, each
   checked by identity. 0 or -errno (-ESTALE: another directory). */
int tu_dc_reopen_locked(struct tu_dcache *c, struct tu_dc_node *n, struct tu_dc_node *hint);

/* Pin N's fd, re-opening it (see above) if needed; the fd or -errno. */
int tu_dc_pin(struct tu_dcache *c, struct tu_dc_node *n, struct tu_dc_node *hint);
void tu_dc_unpin(struct tu_dcache *c, struct tu_dc_node *n);

/* On the way back up: if N's parent is closed, re-open it through N's ".."
   (checked), while N is still open and searchable. Best effort. */
void tu_dc_prepare_parent(struct tu_dcache *c, struct tu_dc_node *n);

/* Take N out of the cache: out of the LRU, and its fd closed unless KEEP_FD
   (a root whose fd belongs to someone else). */
void tu_dc_forget_locked(struct tu_dcache *c, struct tu_dc_node *n, bool keep_fd);

#endif
