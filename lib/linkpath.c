/* SPDX-License-Identifier: Apache-2.0 */
/* linkpath.c: link-target arithmetic on strings, for --fix-symlinks and
 * --link=symbolic: "." and ".." taken lexically, relative paths between two
 * places, and whether a target lies inside SOURCE.
 *
 * Pure string work. This file must never make a system call, and never
 * resolve anything on disk: a target is read as text, so nothing in either
 * tree is followed to compute it.
 */
#define TU_INTERNAL
#include "linkpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- link targets: lexical paths ----------------------------------------- */

/* The components of PATH, split in place in the copy *BUF (freed by the
   caller): "" and "." dropped, ".." resolved lexically. An absolute PATH
   stays at "/" on "..", a relative one keeps its leading "..". Returns the
   count, or -ENOMEM. */
static int split_lexical(const char *path, char **buf, char ***out)
{
	*buf = strdup(path);
	size_t cap = 1;
	for (const char *c = path; *c; c++)
		cap += *c == '/';
	char **v = malloc(cap * sizeof *v);
	if (!*buf || !v) {
		free(v);
		return -ENOMEM;
	}
	bool abs = path[0] == '/';
	int n = 0;
	char *save = NULL;
	for (char *c = strtok_r(*buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0 && n > 0 && strcmp(v[n - 1], "..") != 0) {
			n--;
			continue;
		}
		if (strcmp(c, "..") == 0 && abs)
			continue;
		v[n++] = c;
	}
	*out = v;
	return n;
}

/* Join V[0..N) with slashes, after PREFIX (which may be ""). */
static char *join_parts(const char *prefix, char **v, int n, bool abs)
{
	size_t len = strlen(prefix) + 2;
	for (int i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *out = malloc(len);
	if (!out)
		return NULL;
	char *p = stpcpy(out, prefix);
	if (abs && n == 0 && !prefix[0])
		*p++ = '/';
	for (int i = 0; i < n; i++) {
		if (abs || p > out)
			*p++ = '/';
		p = stpcpy(p, v[i]);
	}
	*p = '\0';
	return out;
}

/* PATH with "." and ".." taken lexically and slashes squeezed; malloc'd. */
char *tu_linkpath_normalize(const char *path)
{
	char *buf, **v;
	int n = split_lexical(path, &buf, &v);
	char *out = n < 0 ? NULL : join_parts("", v, n, path[0] == '/');
	if (n >= 0)
		free(v);
	free(buf);
	return out;
}

/* The relative path from directory FROM to TO, both normalized and
   absolute, or both relative to one place; "." when they are the same. */
char *tu_linkpath_relative(const char *from, const char *to)
{
	char *fb, *tb, **fv = NULL, **tv = NULL;
	int fn = split_lexical(from, &fb, &fv);
	int tn = split_lexical(to, &tb, &tv);
	char *out = NULL;
	if (fn >= 0 && tn >= 0) {
		int c = 0;
		while (c < fn && c < tn && strcmp(fv[c], tv[c]) == 0)
			c++;
		size_t ups = (size_t)(fn - c);
		char *prefix = malloc(3 * ups + 1);
		if (prefix) {
			char *p = prefix;
			for (size_t i = 0; i < ups; i++)
				p = stpcpy(p, i ? "/.." : "..");
			*p = '\0';
			out = c == tn && ups == 0 ? strdup(".") : join_parts(prefix, tv + c, tn - c, false);
			free(prefix);
		}
	}
	if (fn >= 0)
		free(fv);
	if (tn >= 0)
		free(tv);
	free(fb);
	free(tb);
	return out;
}

/* The part of the normalized absolute path P below ROOT: "" for ROOT
   itself, NULL when P is not ROOT or below it. */
static const char *below(const char *p, const char *root)
{
	if (!root)
		return NULL;
	size_t n = strlen(root);
	if (n == 1)
		return p + 1;		/* root is "/" */
	if (strncmp(p, root, n) != 0)
		return NULL;
	if (p[n] == '\0')
		return p + n;
	return p[n] == '/' ? p + n + 1 : NULL;
}

/* Does the relative TARGET, read from the directory DIR_REL (below SOURCE,
   "." for SOURCE), ever climb above SOURCE? */
static bool climbs_out(const char *dir_rel, const char *target)
{
	int depth = 0;
	if (strcmp(dir_rel, ".") != 0) {
		depth = 1;
		for (const char *c = dir_rel; *c; c++)
			depth += *c == '/';
	}
	const char *c = target;
	while (*c) {
		size_t len = strcspn(c, "/");
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && c[0] == '.')) {
			depth++;
		}
		c += len;
		while (*c == '/')
			c++;
	}
	return false;
}

/* fix_symlinks: the target a symlink in DIR_REL (below SOURCE) with TARGET
 * must have in DEST, or NULL when it stays as it is (*ERR = 0) or on
 * failure (*ERR < 0). The rule, which the man page states:
 *  - TARGET is read lexically: "." and ".." are taken on the text, never by
 *    looking at the disk, so nothing in either tree is followed. A symlink
 *    inside SOURCE that a target passes through is copied (and fixed) by the
 *    same rule, so the new link leads through its copy to the same place.
 *  - An absolute TARGET is inside when it is SOURCE's canonical path, or
 *    SOURCE as given made absolute, or below one of them; it becomes the
 *    same path below DEST's canonical path.
 *  - A relative TARGET that never climbs above SOURCE works as it is in
 *    DEST. One that climbs out and back in ("../../s/x") is inside; it
 *    becomes the shortest relative path to the same place in DEST.
 *  - Anything else points outside and is copied as it is.
 * A trailing slash is kept.
 */
char *tu_linkpath_fix(const struct tu_linkpaths *lp, const char *dir_rel, const char *target,
		      int *err)
{
	*err = 0;
	size_t tl = strlen(target);
	bool slash = tl > 1 && target[tl - 1] == '/';
	char *out = NULL;
	if (target[0] == '/') {
		char *n = tu_linkpath_normalize(target);
		if (!n) {
			*err = -ENOMEM;
			return NULL;
		}
		const char *in = below(n, lp->src_abs);
		if (!in)
			in = below(n, lp->src_given_abs);
		if (in && asprintf(&out, "%s%s%s%s", lp->dst_abs, in[0] ? "/" : "", in,
				   slash ? "/" : "") < 0) {
			out = NULL;
			*err = -ENOMEM;
		}
		free(n);
		return out;
	}
	if (!climbs_out(dir_rel, target))
		return NULL;
	char *full = NULL;
	if (asprintf(&full, "%s/%s/%s", lp->src_abs, dir_rel, target) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	char *n = tu_linkpath_normalize(full);
	free(full);
	const char *in = n ? below(n, lp->src_abs) : NULL;
	if (in) {
		char *r = tu_linkpath_relative(dir_rel, in[0] ? in : ".");
		if (r && slash && asprintf(&out, "%s/", r) < 0)
			out = NULL;
		else if (r && !slash)
			out = r, r = NULL;
		free(r);
		if (!out)
			*err = -ENOMEM;
	} else if (!n) {
		*err = -ENOMEM;
	}
	free(n);
	return out;
}

bool tu_linkpath_has_dots(const char *path)
{
	size_t n = strlen(path);
	return strcmp(path, "..") == 0 || strncmp(path, "../", 3) == 0 || strstr(path, "/../") ||
	       (n >= 3 && strcmp(path + n - 3, "/..") == 0);
}

int tu_linkpaths_init(struct tu_linkpaths *lp, const char *source, const char *cwd,
		      const char *src_abs, const char *dparent_abs, const char *dlast)
{
	memset(lp, 0, sizeof *lp);
	lp->src_abs = src_abs ? strdup(src_abs) : NULL;
	char *joined = NULL;
	if (dparent_abs && asprintf(&joined, "%s/%s", dparent_abs, dlast) < 0)
		joined = NULL;
	lp->dst_abs = joined ? tu_linkpath_normalize(joined) : NULL;
	free(joined);
	if (!lp->src_abs || !lp->dst_abs)
		return -ENAMETOOLONG;
	lp->rel_prefix = tu_linkpath_relative(lp->dst_abs, lp->src_abs);
	if (!lp->rel_prefix)
		return -ENOMEM;
	/* SOURCE as spelled, for absolute links written that way; only when
	   it has no "..", which the text alone cannot resolve. */
	if (!tu_linkpath_has_dots(source)) {
		char *given = NULL;
		if (source[0] == '/')
			given = strdup(source);
		else if (cwd && asprintf(&given, "%s/%s", cwd, source) < 0)
			given = NULL;
		lp->src_given_abs = given ? tu_linkpath_normalize(given) : NULL;
		free(given);
	}
	return 0;
}

void tu_linkpaths_release(struct tu_linkpaths *lp)
{
	free(lp->src_abs);
	free(lp->src_given_abs);
	free(lp->dst_abs);
	free(lp->rel_prefix);
	memset(lp, 0, sizeof *lp);
}

char *tu_linkpath_farm_target(const struct tu_linkpaths *lp, const char *rel, int depth,
			      bool absolute)
{
	char *target = NULL;
	if (absolute) {
		if (asprintf(&target, "%s/%s", lp->src_abs, rel) < 0)
			target = NULL;
		return target;
	}
	size_t len = 3 * (size_t)depth + strlen(lp->rel_prefix) + strlen(rel) + 2;
	target = malloc(len);
	if (target) {
		char *p = target;
		for (int i = 0; i < depth; i++)
			p = stpcpy(p, "../");
		sprintf(p, "%s/%s", lp->rel_prefix, rel);
	}
	return target;
}
