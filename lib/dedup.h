/* SPDX-License-Identifier: Apache-2.0 */
/* dedup.h: test hooks of lib/dedup.c. Private to the library and its unit
 * tests; NULL or 0 always, outside tests.
 */
#ifndef TU_DEDUP_H
#define TU_DEDUP_H
#ifndef TU_INTERNAL
#error "dedup.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"

enum tu_dedup_hook_point {
	TU_DEDUP_BEFORE_CHECK,	/* both files compared; about to fstat and link */
	TU_DEDUP_AFTER_TMP,	/* the temporary link made; about to re-check the
				   duplicate's name and rename over it */
	TU_DEDUP_BEFORE_REPLACE,	/* the last check of the duplicate's name
					   before the link is put in its place
					   (if any) done; about to replace it */
	TU_DEDUP_BEFORE_GROUP_CHECK,	/* a dry run: the others compared with the
					   kept file (the name given); about to
					   check it once more */
};

#ifdef TU_TEST_HOOKS
/* Called at each point with the duplicate's directory and name (the kept
   file's at TU_DEDUP_BEFORE_GROUP_CHECK), so a test
   can change the tree at that instant, deterministically. */
extern void (*tu_dedup_hook)(enum tu_dedup_hook_point p, int dirfd, const char *name);

/* A link limit lower than the filesystem's: linking to a file that has this
   many links already fails with EMLINK. 0: the filesystem's own. */
extern unsigned long tu_dedup_link_max;
#else
/* The shipped library has no hooks (the unit tests link a variant built
   with TU_TEST_HOOKS): these constants make the calls dead code. */
static void (*const tu_dedup_hook)(enum tu_dedup_hook_point p, int dirfd, const char *name) = 0;
static const unsigned long tu_dedup_link_max = 0;
#endif

#endif
