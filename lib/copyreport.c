/* SPDX-License-Identifier: Apache-2.0 */
/* copyreport.c: the copy engine's messages: failures, warnings and the
 * entries made, passed to the caller's callbacks one at a time (under the
 * output lock), with the path on the side (SOURCE or DEST) they concern.
 *
 * Paths are built here for messages only. This file must never make a
 * system call on a tree, never print, and never decide anything: it only
 * counts, latches the first failure, and forwards.
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cp_note_failure(struct tu_copy *cp, int err)
{
	int expected = 0;
	atomic_compare_exchange_strong(&cp->failed, &expected, err);
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->errors, 1);
}

void cp_call_locked(struct tu_copy *cp, tu_error_fn *fn, const char *path, const char *op,
			int err, const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path, .detail = detail };
	tu_call_locked(fn, cp->o->ctx, &cp->out_lock, &e);
}

/* The entry's path below the roots, malloc'd ("." for the roots). */
char *cp_rel_of(struct tu_copy *cp, const struct where *w)
{
	if (!w->d)
		return strdup(".");
	if (!w->name && tu_walk_dir_depth(w->d) == 0)
		return strdup(".");
	char *p = tu_walk_path(w->d, w->name);
	if (!p)
		return NULL;
	size_t skip = cp->src_display_len + 1;
	memmove(p, p + skip, strlen(p + skip) + 1);
	return p;
}

char *cp_join(const char *root, const char *rel)
{
	char *p;
	if (strcmp(rel, ".") == 0)
		return strdup(root);
	if (asprintf(&p, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/", rel) < 0)
		return NULL;
	return p;
}

/* A failure reading the source (SRC true) or writing the copy. */
void cp_report(struct tu_copy *cp, const struct where *w, bool src, const char *op, int err,
		   const char *detail)
{
	cp_note_failure(cp, err);
	char *rel = cp_rel_of(cp, w);
	char *path = rel ? cp_join(src ? cp->src_display : cp->dst_display, rel) : NULL;
	cp_call_locked(cp, cp->o->error, path ? path : "?", op, err, detail);
	free(path);
	free(rel);
}

void cp_warn(struct tu_copy *cp, const struct where *w, const char *op, int err,
		 const char *detail)
{
	if (!cp->o->warning)
		return;
	char *rel = cp_rel_of(cp, w);
	char *path = rel ? cp_join(cp->dst_display, rel) : NULL;
	cp_call_locked(cp, cp->o->warning, path ? path : "?", op, err, detail);
	free(path);
	free(rel);
}

/* One entry made: counted, and passed to the caller's copied(). OLD is the
   source's target of a symlink that fix_symlinks rewrote ('r'), else NULL. */
static void item_full(struct tu_copy *cp, const struct where *w, char type, char how,
		      const char *target, const char *old, uint64_t size)
{
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->entries, 1);
	bool placed = cp->policy->placed && !cp->o->dry_run;
	if (!cp->o->copied && !placed)
		return;
	char *rel = cp_rel_of(cp, w);
	if (rel && placed)
		cp->policy->placed(cp, rel, type);
	if (!cp->o->copied) {
		free(rel);
		return;
	}
	char *src = rel ? cp_join(cp->src_display, rel) : NULL;
	char *dst = rel ? cp_join(cp->dst_display, rel) : NULL;
	if (src && dst) {
		struct tu_copy_item it = { .path = rel, .src = src, .dst = dst, .type = type,
					   .how = how, .target = target, .old_target = old,
					   .size = size };
		pthread_mutex_lock(&cp->out_lock);
		cp->o->copied(&it, cp->o->ctx);
		pthread_mutex_unlock(&cp->out_lock);
	}
	free(src);
	free(dst);
	free(rel);
}

void cp_item(struct tu_copy *cp, const struct where *w, char type, char how, const char *target,
		 uint64_t size)
{
	if (cp->policy->item) {
		cp->policy->item(cp, w, type, how, target, size);
		return;
	}
	item_full(cp, w, type, how, target, NULL, size);
}

void cp_item_rewritten(struct tu_copy *cp, const struct where *w, const char *target,
			   const char *old)
{
	item_full(cp, w, 'L', 'r', target, old, 0);
}

/* Metadata that could not be applied: the owner, when we are not root, is
   a warning (cp -a keeps quiet about it; we say it once per entry);
   everything else is a failure. */

void cp_meta_fail(const char *op, int err, const char *detail, void *ctx)
{
	struct cp_meta_fail_ctx *m = ctx;
	if (!m->cp->is_root && err == EPERM && strcmp(op, "set owner") == 0) {
		cp_warn(m->cp, m->w, op, err, "kept ours; setuid and setgid bits dropped");
		return;
	}
	cp_report(m->cp, m->w, false, op, err, detail);
}

void cp_refuse(struct tu_copy *cp, const char *path, const char *op, int err, const char *detail)
{
	cp_call_locked(cp, cp->o->error, path, op, err, detail);
}
