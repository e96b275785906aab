/* SPDX-License-Identifier: Apache-2.0 */
/* copyreport.c: the copy engine's messages: failures, warnings and the
 * entries made, with the path on the side (SOURCE or DEST) they concern,
 * handed to the one reporter (report.c: the caller's callbacks one at a
 * time under the output lock, "some failed" and "stop" latched). After a
 * TU_STOP answer nothing more is passed on, entries made included.
 *
 * Paths are built here for messages only. This file must never make a
 * system call on a tree, never print, and never decide anything: it only
 * builds paths and forwards.
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cp_note_failure(struct tu_copy *cp, int err)
{
	tu_rep_note(&cp->rep, err);
}

/* FN is the caller's error or warning callback: a failure already noted,
   or a warning. */
void cp_call_locked(struct tu_copy *cp, tu_error_fn *fn, const char *path, const char *op,
			int err, const char *detail)
{
	if (fn == cp->o->warning && fn != cp->o->error)
		tu_rep_warn(&cp->rep, path, op, err, detail);
	else
		tu_rep_call(&cp->rep, path, op, err, detail);
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
	if (cp_interrupted(cp)) {
		cp_note_failure(cp, err);
		return;		/* what stopping cut short is no news */
	}
	char *rel = cp_rel_of(cp, w);
	char *path = rel ? cp_join(src ? cp->src_display : cp->dst_display, rel) : NULL;
	tu_rep_fail(&cp->rep, path ? path : "?", op, err, detail);
	free(path);
	free(rel);
}

void cp_warn(struct tu_copy *cp, const struct where *w, const char *op, int err,
		 const char *detail)
{
	if (!cp->o->warning || tu_rep_stopped(&cp->rep))
		return;
	char *rel = cp_rel_of(cp, w);
	char *path = rel ? cp_join(cp->dst_display, rel) : NULL;
	tu_rep_warn(&cp->rep, path ? path : "?", op, err, detail);
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
	if ((!cp->o->copied && !placed) || tu_rep_stopped(&cp->rep))
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

/* Metadata that could not be applied: the owner or group, when we are not
   root, is a warning (cp -a keeps quiet about it; the front ends sum these
   up in one line), its detail naming a setuid or setgid bit dropped;
   everything else is a failure. */

/* The kind of metadata OP (with DETAIL, an xattr's name) is, for a
   filesystem that cannot hold it: one bit per xattr namespace, and ACLs;
   *WHAT names it. 0 for anything else. */
static unsigned unsupported_kind(const char *op, const char *detail, const char **what)
{
	static const char *const ns[] = { "user.*", "trusted.*", "security.*", "system.*" };
	if (strcmp(op, "set ACL") == 0) {
		*what = "ACLs";
		return 1u;
	}
	if (strcmp(op, "set xattr") != 0)
		return 0;
	for (unsigned i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		if (detail && strncmp(detail, ns[i], strlen(ns[i]) - 1) == 0) {
			*what = ns[i];
			return 2u << i;
		}
	}
	*what = "such";
	return 2u << 4;
}

void cp_meta_fail(const char *op, int err, const char *detail, void *ctx)
{
	struct cp_meta_fail_ctx *m = ctx;
	if (!m->cp->is_root && err == EPERM &&
	    (strcmp(op, "set owner") == 0 || strcmp(op, "set group") == 0)) {
		cp_warn(m->cp, m->w, op, err, detail);
		return;
	}
	/* DEST's filesystem cannot hold this kind at all (ramfs, vfat: no
	   xattrs): every entry would get the same answer, so it is reported
	   once per run and kind, and each still counts as a failure (exit 1,
	   as rsync -aX's 23; cp -a says nothing and exits 0). */
	const char *what = NULL;
	unsigned kind = err == EOPNOTSUPP ? unsupported_kind(op, detail, &what) : 0;
	if (kind) {
		if (atomic_fetch_or(&m->cp->unsupported, kind) & kind) {
			cp_note_failure(m->cp, err);
			return;
		}
		char d[192];
		snprintf(d, sizeof d, "%s%sDEST's filesystem holds no %s%s; none are kept, and this "
			 "is not reported again", detail ? detail : "", detail ? ": " : "", what,
			 kind == 1u ? "" : " xattrs");
		cp_report(m->cp, m->w, false, op, err, d);
		return;
	}
	cp_report(m->cp, m->w, false, op, err, detail);
}

void cp_refuse(struct tu_copy *cp, const char *path, const char *op, int err, const char *detail)
{
	tu_rep_call(&cp->rep, path, op, err, detail);
}
