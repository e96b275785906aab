/* SPDX-License-Identifier: Apache-2.0 */
/* dircache.c: the one cache of held directory fds (see dircache.h).
 *
 * This file must never hand back a re-opened directory without checking it
 * is the one first opened, never follow a symlink unless the node says so
 * (-L), never close a pinned directory, and never hold more fds than the
 * budget allows, but for pinned ones.
 */
#define TU_INTERNAL
#include "dircache.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void tu_dc_node_init(struct tu_dc_node *n, struct tu_dc_node *parent, const char *name)
{
	*n = (struct tu_dc_node){ .parent = parent, .fd = -1, .name = name };
}

static void lru_remove(struct tu_dcache *c, struct tu_dc_node *n)
{
	if (!n->in_lru)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		c->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		c->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
	n->in_lru = false;
}

static void lru_append(struct tu_dcache *c, struct tu_dc_node *n)
{
	n->lru_prev = c->lru_tail;
	n->lru_next = NULL;
	if (c->lru_tail)
		c->lru_tail->lru_next = n;
	else
		c->lru_head = n;
	c->lru_tail = n;
	n->in_lru = true;
}

/* Pinned directories are never in the LRU, so they stay open. */
void tu_dc_make_room_locked(struct tu_dcache *c)
{
	while (c->open >= c->budget && c->lru_head) {
		struct tu_dc_node *victim = c->lru_head;
		lru_remove(c, victim);
		close(victim->fd);
		victim->fd = -1;
		c->open--;
	}
}

void tu_dc_reserve_locked(struct tu_dcache *c)
{
	c->open++;
}

void tu_dc_unreserve_locked(struct tu_dcache *c)
{
	c->open--;
}

void tu_dc_pin_open_locked(struct tu_dcache *c, struct tu_dc_node *n)
{
	if (n->pins++ == 0)
		lru_remove(c, n);
}

void tu_dc_unpin_locked(struct tu_dcache *c, struct tu_dc_node *n)
{
	if (--n->pins == 0 && n->fd >= 0)
		lru_append(c, n);
}

int tu_dc_reopen_locked(struct tu_dcache *c, struct tu_dc_node *n, struct tu_dc_node *hint)
{
	/* A followed child's ".." is where its target lies, not N. */
	if (hint && hint->fd >= 0 && !hint->follow) {
		tu_dc_make_room_locked(c);
		int fd = tu_dir_reopen_parent(hint->fd, &n->id);
		if (fd < 0)
			return fd;
		n->fd = fd;
		c->open++;
		return 0;
	}
	/* Collect the closed ancestors, then open them top-down, each pinned
	   while its child is opened from it. A root is never closed. */
	size_t k = 0, cap = 16;
	struct tu_dc_node **chain = malloc(cap * sizeof *chain);
	if (!chain)
		return -ENOMEM;
	for (struct tu_dc_node *a = n; a->fd < 0; a = a->parent) {
		if (k == cap) {
			cap *= 2;
			struct tu_dc_node **more = realloc(chain, cap * sizeof *chain);
			if (!more) {
				free(chain);
				return -ENOMEM;
			}
			chain = more;
		}
		chain[k++] = a;
	}
	int r = 0;
	for (size_t i = k; i-- > 0;) {
		struct tu_dc_node *a = chain[i];
		tu_dc_pin_open_locked(c, a->parent);
		tu_dc_make_room_locked(c);
		int fd = a->follow ? tu_dir_reopen_follow(a->parent->fd, a->name, &a->id)
				   : tu_dir_reopen_at(a->parent->fd, a->name, &a->id);
		tu_dc_unpin_locked(c, a->parent);
		if (fd < 0) {
			r = fd;
			break;
		}
		a->fd = fd;
		c->open++;
		if (i > 0)
			lru_append(c, a);	/* unpinned until its child is open */
	}
	free(chain);
	return r;
}

int tu_dc_pin(struct tu_dcache *c, struct tu_dc_node *n, struct tu_dc_node *hint)
{
	pthread_mutex_lock(c->lock);
	int r = 0;
	if (n->fd < 0)
		r = tu_dc_reopen_locked(c, n, hint);
	if (r == 0) {
		tu_dc_pin_open_locked(c, n);
		r = n->fd;
	}
	pthread_mutex_unlock(c->lock);
	return r;
}

void tu_dc_unpin(struct tu_dcache *c, struct tu_dc_node *n)
{
	pthread_mutex_lock(c->lock);
	tu_dc_unpin_locked(c, n);
	pthread_mutex_unlock(c->lock);
}

void tu_dc_prepare_parent(struct tu_dcache *c, struct tu_dc_node *n)
{
	pthread_mutex_lock(c->lock);
	struct tu_dc_node *p = n->parent;
	if (p && p->fd < 0 && n->fd >= 0 && !n->follow) {
		tu_dc_make_room_locked(c);
		int fd = tu_dir_reopen_parent(n->fd, &p->id);
		if (fd >= 0) {
			p->fd = fd;
			c->open++;
			if (p->pins == 0)
				lru_append(c, p);
		}
	}
	pthread_mutex_unlock(c->lock);
}

void tu_dc_forget_locked(struct tu_dcache *c, struct tu_dc_node *n, bool keep_fd)
{
	lru_remove(c, n);
	if (n->fd >= 0 && !keep_fd) {
		close(n->fd);
		n->fd = -1;
		c->open--;
	}
}
