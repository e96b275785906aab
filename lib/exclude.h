/* SPDX-License-Identifier: Apache-2.0 */
/* exclude.h: the exclude rules of cptree (--exclude, --exclude-from): which
 * entries of SOURCE a copy or an update leaves alone. Private to the library.
 *
 * The rules are rsync's exclude patterns, restricted to the subset below;
 * tests/cli/exclude-oracle.bats checks our decisions against rsync's.
 *
 *  - A pattern is a shell glob: '*' and '?' match any characters but '/',
 *    '[...]' a class; a backslash quotes the next character. Matching is
 *    fnmatch(3) with FNM_PATHNAME and without FNM_PERIOD: '*' matches a
 *    leading dot, as in rsync ("*" excludes ".cache" too), and never crosses
 *    a '/'. A pattern with no '*', '?' or '[' is compared literally, so a
 *    backslash in it is an ordinary character (rsync's rule too).
 *  - No '/' in the pattern (a trailing one aside): it is matched against the
 *    entry's name, at any depth ("*.o", "cache").
 *  - A '/' inside the pattern: it is matched against the end of the entry's
 *    path relative to SOURCE, starting after a '/' ("sub/a" matches "sub/a"
 *    and "x/sub/a", not "xsub/a").
 *  - A leading '/' anchors the pattern at SOURCE's root ("/build" matches
 *    "build" only, "/a/b" matches "a/b" only).
 *  - A trailing '/' matches directories only ("cache/").
 *  - "- PATTERN" (dash, space) is PATTERN, as rsync reads it.
 *  - Refused with -EINVAL, because rsync would read them as something other
 *    than an exclude: "+ PATTERN" (an include), "!" (clear the list); also
 *    refused: "**" (rsync's any-depth wildcard, not supported), an empty
 *    pattern, and one that is nothing but slashes.
 *
 * An excluded directory is excluded with everything below it: the caller
 * does not descend into it.
 *
 * tu_exclude_add_file() reads one pattern a line, as rsync's --exclude-from:
 * a line ends at '\n' or '\r' (so CRLF files work); blank lines, and lines
 * whose first character is '#' or ';', are ignored; nothing else is trimmed
 * (" x" is a pattern with a leading space). A NUL byte is refused.
 *
 * Cost per entry: literal name patterns are one hash look-up; "*.ext" and
 * "prefix*" are one comparison; other globs one fnmatch each; a pattern with
 * a '/' is tried against exactly one suffix of the path (the one with as many
 * '/' as the pattern). The caller builds the relative path only when
 * tu_exclude_needs_path() says some pattern uses it.
 *
 * Building (add) is single-threaded; tu_exclude_match() only reads, and may
 * be called from any number of threads at once.
 *
 *	struct tu_exclude *x;
 *	tu_exclude_new(&x);
 *	tu_exclude_add(x, "*.o");
 *	tu_exclude_add_file(x, fd, &line);
 *	if (tu_exclude_match(x, need_path ? rel : NULL, name, is_dir))
 *		... skip it (and do not descend) ...
 *	tu_exclude_free(x);
 */
#ifndef TU_EXCLUDE_H
#define TU_EXCLUDE_H
#ifndef TU_INTERNAL
#error "exclude.h is private to libtreeutils; include treeutils.h"
#endif

#include <stdbool.h>
#include <stddef.h>

struct tu_exclude;

/* An empty rule set. 0 or -ENOMEM. */
int tu_exclude_new(struct tu_exclude **x);
void tu_exclude_free(struct tu_exclude *x);

/* Add one pattern. 0, -EINVAL (see the rules above), or -ENOMEM. */
int tu_exclude_add(struct tu_exclude *x, const char *pattern);

/* Add the patterns of the open file FD, read to its end (at most
   TU_EXCLUDE_FILE_MAX bytes). 0, or -errno; on -EINVAL, *LINE (if not
   NULL) is the 1-based number of the refused line. Patterns before it stay
   added. */
#define TU_EXCLUDE_FILE_MAX (64u << 20)
int tu_exclude_add_file(struct tu_exclude *x, int fd, size_t *line);

/* How many patterns are held. */
size_t tu_exclude_count(const struct tu_exclude *x);

/* Whether some pattern is matched against the relative path (so
   tu_exclude_match() needs RELPATH). */
bool tu_exclude_needs_path(const struct tu_exclude *x);

/* Whether the entry NAME, whose path relative to SOURCE is RELPATH (no
   leading "/" or "./"; NULL is allowed when !tu_exclude_needs_path()), is
   excluded. IS_DIR: the entry itself is a directory (never following a
   symlink). */
bool tu_exclude_match(const struct tu_exclude *x, const char *relpath, const char *name,
		      bool is_dir);

#endif
