/* SPDX-License-Identifier: Apache-2.0 */
/* names.h: random and temporary names, UTF-8, the clock. Private to the
 * library. Pure helpers: nothing here touches a tree (the one system call on
 * names is getrandom, and the clock is clock_gettime).
 *
 * tu_random_hex, tu_is_tmp_name and tu_utf8_len are public (treeutils.h);
 * they are defined in names.c.
 */
#ifndef TU_NAMES_H
#define TU_NAMES_H
#ifndef TU_INTERNAL
#error "names.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"

/* Room for one temporary name: TU_TMP_PREFIX, TU_TMP_HEX digits, a NUL. */
#define TU_TMP_NAME_MAX (sizeof(TU_TMP_PREFIX) + TU_TMP_HEX + 1)

/* Write a fresh random temporary name (TU_TMP_PREFIX and TU_TMP_HEX hex
   digits) to OUT (TU_TMP_NAME_MAX bytes). 0 or -errno. */
int tu_tmp_name(char *out);

/* The one loop that makes something under a fresh temporary name: calls
   MAKE(name, ctx) with new random names in OUT (TU_TMP_NAME_MAX bytes) while
   it answers -EEXIST, a few times at most (a 128-bit name is taken only by
   someone who read it). Returns what MAKE last answered: 0, a fd, -errno;
   -EEXIST when every name was taken. */
int tu_tmp_try(char *out, int (*make)(const char *name, void *ctx), void *ctx);

/* Monotonic seconds. */
double tu_now(void);

#endif
