/* SPDX-License-Identifier: Apache-2.0 */
/* linkpath.h: link-target arithmetic on strings (--fix-symlinks,
 * --link=symbolic). Private to the library. Lexical only: nothing here
 * makes a system call or looks at the disk.
 */
#ifndef TU_LINKPATH_H
#define TU_LINKPATH_H
#ifndef TU_INTERNAL
#error "linkpath.h is private to libtreeutils; include treeutils.h"
#endif

#include <stdbool.h>

/* The strings link targets are made from, for one run. */
struct tu_linkpaths {
	char *src_abs;		/* SOURCE's canonical path */
	char *src_given_abs;	/* SOURCE as given, made absolute; NULL when it
				   has ".." (not lexical) */
	char *dst_abs;		/* DEST's final canonical path */
	char *rel_prefix;	/* SOURCE seen from DEST, e.g. "../s" */
};

/* Fill LP from SOURCE as the user wrote it, the working directory CWD (for
   a relative SOURCE; may be NULL), SOURCE's canonical path SRC_ABS, the
   canonical path of DEST's parent DPARENT_ABS and DEST's last name DLAST
   (either path NULL: unknown). 0, -ENAMETOOLONG (a path unknown) or
   -ENOMEM. Release with tu_linkpaths_release, also on failure. */
int tu_linkpaths_init(struct tu_linkpaths *lp, const char *source, const char *cwd,
		      const char *src_abs, const char *dparent_abs, const char *dlast);
void tu_linkpaths_release(struct tu_linkpaths *lp);

/* Does PATH have a ".." component (which text alone cannot resolve)? */
bool tu_linkpath_has_dots(const char *path);

/* PATH with "." and ".." taken lexically and slashes squeezed; malloc'd.
   An absolute PATH stays at "/" on "..", a relative one keeps its leading
   "..". */
char *tu_linkpath_normalize(const char *path);

/* The relative path from directory FROM to TO, both normalized and
   absolute, or both relative to one place; "." when they are the same;
   malloc'd. */
char *tu_linkpath_relative(const char *from, const char *to);

/* fix_symlinks: the target a symlink in DIR_REL (below SOURCE, "." for
   SOURCE) with TARGET must have in DEST, malloc'd, or NULL when it stays as
   it is (*ERR = 0) or on failure (*ERR < 0). The rule is in linkpath.c and
   the man page. */
char *tu_linkpath_fix(const struct tu_linkpaths *lp, const char *dir_rel, const char *target,
		      int *err);

/* --link=symbolic: the target of the link to the source entry REL (below
   SOURCE) that sits DEPTH directories below DEST: SOURCE's canonical path
   and REL (ABSOLUTE), else up to DEST's level and across, as cp -rs does.
   malloc'd; NULL when out of memory. */
char *tu_linkpath_farm_target(const struct tu_linkpaths *lp, const char *rel, int depth,
			      bool absolute);

#endif
