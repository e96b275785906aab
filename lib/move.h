/* SPDX-License-Identifier: Apache-2.0 */
/* move.h: mvtree's test hook. Private to the library and its unit tests:
 * tests/unit/test_move.c stops a move at each step (as a crash would) and
 * checks that the data is whole in one place and that a rerun finishes.
 * Nothing else may set it.
 */
#ifndef TU_MOVE_H
#define TU_MOVE_H
#ifndef TU_INTERNAL
#error "move.h is private to libtreeutils; include treeutils.h"
#endif

/* The steps of a move across filesystems, in order. */
enum tu_move_point {
	TU_MOVE_COPIED_HIDDEN = 1,	/* the hidden copy is made, not verified */
	TU_MOVE_MARKED,			/* verified, synced, marker written */
	TU_MOVE_PLACED,			/* renamed into place, SOURCE untouched */
	TU_MOVE_REMOVING,		/* the first SOURCE entry removed */
	TU_MOVE_SOURCE_REMOVED,		/* SOURCE gone, the marker still there */
};

/* Called at each point when set. */
#ifdef TU_TEST_HOOKS
extern void (*tu_move_hook)(enum tu_move_point p);
#else
/* The shipped library has no hook (the unit tests link a variant built
   with TU_TEST_HOOKS): the call is dead code. */
static void (*const tu_move_hook)(enum tu_move_point p) = 0;
#endif

#endif
