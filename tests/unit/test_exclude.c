/* SPDX-License-Identifier: Apache-2.0 */
/* test_exclude.c: unit tests of lib/exclude.c, the exclude rules.
 *
 * A table of (patterns, path, is_dir, expected) rows states the rules of
 * exclude.h case by case; every row is also checked against a slow
 * reference matcher written here from the rules (fnmatch of the name, or of
 * every suffix of the path that starts after a '/'), so the fast paths
 * (literal hash set, "*LIT", "LIT*", one suffix per path pattern) cannot
 * drift from plain fnmatch. The --exclude-from reader is tested through a
 * pipe. These tests never touch the filesystem.
 */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "exclude.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct row {
	const char *pats;	/* patterns separated by '|' */
	const char *path;	/* relative to SOURCE */
	bool is_dir;
	bool excluded;
};

static const struct row rows[] = {
	/* names, at any depth */
	{ "a", "a", false, true },
	{ "a", "x/y/a", false, true },
	{ "a", "ab", false, false },
	{ "a", "a/b", false, false },		/* b is not a: the caller skips a's subtree */
	{ "*.o", "m.o", false, true },
	{ "*.o", "d/m.o", false, true },
	{ "*.o", ".o", false, true },
	{ "*.o", "m.oo", false, false },
	{ "*.o", "m.o/x", false, false },
	{ "cache*", "cache", false, true },
	{ "cache*", "d/cache.1", true, true },
	{ "cache*", "xcache", false, false },
	{ "?", "b", false, true },
	{ "?", "bb", false, false },
	{ "[ab]c", "bc", false, true },
	{ "[ab]c", "cc", false, false },
	{ "[!ab]c", "cc", false, true },
	{ "*", "anything", false, true },
	/* no FNM_PERIOD: a leading dot is matched by wildcards, as in rsync */
	{ "*", ".hidden", false, true },
	{ "?git", ".git", true, true },
	{ "[.]git", ".git", true, true },
	/* a backslash quotes in a glob; in a literal it is an ordinary character */
	{ "\\*.o", "*.o", false, true },
	{ "\\*.o", "m.o", false, false },
	{ "a\\b", "a\\b", false, true },
	{ "a\\b", "ab", false, false },
	{ "*\\?", "x?", false, true },
	{ "*\\?", "xy", false, false },
	/* trailing '/': directories only */
	{ "cache/", "cache", true, true },
	{ "cache/", "cache", false, false },
	{ "cache/", "d/cache", true, true },
	{ "*.d/", "x.d", true, true },
	{ "*.d/", "x.d", false, false },
	{ "tmp*/", "tmp1", false, false },
	{ "tmp*/", "tmp1", true, true },
	{ "cache//", "cache", true, true },
	{ "c|c/", "c", false, true },		/* one literal, both kinds */
	{ "c/|c", "c", false, true },
	{ "c/|c", "c", true, true },
	/* a '/' inside: the end of the path, starting after a '/' */
	{ "sub/a", "sub/a", false, true },
	{ "sub/a", "x/sub/a", false, true },
	{ "sub/a", "xsub/a", false, false },
	{ "sub/a", "sub/a/b", false, false },
	{ "sub/a", "a", false, false },
	{ "s*/a", "sub/a", false, true },
	{ "s*/a", "x/sub/a", false, true },
	{ "*/a", "sub/a", false, true },
	{ "*/a", "a", false, false },
	{ "*/a", "x/y/a", false, true },	/* '*' matches y, the suffix y/a */
	{ "d/*", "d/f", false, true },
	{ "d/*", "d/e/f", false, false },
	{ "d/*", "x/d/f", false, true },	/* unanchored: the suffix d/f */
	{ "a/b/", "a/b", true, true },
	{ "a/b/", "a/b", false, false },
	{ "a/*.c", "a/x.c", false, true },
	{ "a/*.c", "a/y/x.c", false, false },
	{ "a?b/c", "a/b/c", false, false },	/* '?' never matches '/' */
	{ "a[/]b/c", "a/b/c", false, false },
	/* a leading '/': anchored at SOURCE's root */
	{ "/build", "build", true, true },
	{ "/build", "x/build", true, false },
	{ "/a/b", "a/b", false, true },
	{ "/a/b", "x/a/b", false, false },
	{ "/a*/b", "ab/b", false, true },
	{ "/a*/b", "x/ab/b", false, false },
	{ "/*", "top", false, true },
	{ "/*", "top/below", false, false },
	{ "/d/", "d", true, true },
	{ "/d/", "d", false, false },
	{ "//d", "d", false, true },
	/* "- " is an exclude, as rsync reads it */
	{ "- a", "a", false, true },
	{ "- a", "- a", false, false },
	{ "-a", "-a", false, true },
	{ " a", " a", false, true },		/* spaces are kept */
	{ " a", "a", false, false },
	{ "a ", "a", false, false },
	/* several patterns: any one excludes */
	{ "x|y|*.o|/top|s/t", "y", false, true },
	{ "x|y|*.o|/top|s/t", "d/s/t", false, true },
	{ "x|y|*.o|/top|s/t", "d/top", false, false },
	{ "x|y|*.o|/top|s/t", "q", false, false },
	/* names with odd bytes are just bytes */
	{ "new\nline", "d/new\nline", false, true },
	{ "*\xff", "d/a\xff", false, true },
	{ "é*", "éte", false, true },
};

/* The rules, written out slowly: a name pattern against the name, a path
   pattern against every suffix starting after a '/' (anchored: the whole
   path), fnmatch everywhere unless the pattern has no wildcard. */
static bool ref_one(const char *pat, const char *s)
{
	if (!strpbrk(pat, "*?["))
		return !strcmp(pat, s);
	return fnmatch(pat, s, FNM_PATHNAME) == 0;
}

static bool reference(const char *pats, const char *path, bool is_dir)
{
	char *all = strdup(pats);
	assert_non_null(all);
	bool hit = false;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	for (char *save = NULL, *p = strtok_r(all, "|", &save); p && !hit;
	     p = strtok_r(NULL, "|", &save)) {
		if (!strncmp(p, "- ", 2))
			p += 2;
		bool dir_only = false, anchored = false;
		size_t n = strlen(p);
		while (n && p[n - 1] == '/') {
			p[--n] = '\0';
			dir_only = true;
		}
		while (*p == '/') {
			p++;
			anchored = true;
		}
		if (dir_only && !is_dir)
			continue;
		if (!anchored && !strchr(p, '/')) {
			hit = ref_one(p, name);
			continue;
		}
		for (const char *s = path; s && !hit; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
			hit = ref_one(p, s);
			if (anchored)
				break;
		}
	}
	free(all);
	return hit;
}

static struct tu_exclude *build(const char *pats)
{
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	char *all = strdup(pats);
	assert_non_null(all);
	for (char *save = NULL, *p = strtok_r(all, "|", &save); p; p = strtok_r(NULL, "|", &save))
		assert_int_equal(tu_exclude_add(x, p), 0);
	free(all);
	return x;
}

static bool match(const struct tu_exclude *x, const char *path, bool is_dir)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return tu_exclude_match(x, path, name, is_dir);
}

static void test_table_rows_match_the_rules(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct tu_exclude *x = build(r->pats);
		bool got = match(x, r->path, r->is_dir);
		bool ref = reference(r->pats, r->path, r->is_dir);
		if (got != r->excluded || ref != r->excluded) {
			print_error("row %zu: patterns '%s' path '%s'%s: want %d, got %d, reference %d\n",
				    i, r->pats, r->path, r->is_dir ? " (dir)" : "", r->excluded, got,
				    ref);
			bad++;
		}
		tu_exclude_free(x);
	}
	assert_int_equal(bad, 0);
}

/* Every pattern of the table against every path of the table, each kind:
   the fast paths agree with the slow reference everywhere, not only on the
   rows someone thought of. */
static void test_every_pattern_against_every_path_agrees_with_fnmatch(void **state)
{
	(void)state;
	size_t n = sizeof rows / sizeof rows[0];
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct tu_exclude *x = build(rows[i].pats);
		for (size_t j = 0; j < n; j++)
			for (int d = 0; d < 2; d++) {
				bool got = match(x, rows[j].path, d);
				bool ref = reference(rows[i].pats, rows[j].path, d);
				if (got != ref && bad++ < 10)
					print_error("'%s' vs '%s'%s: got %d, reference %d\n",
						    rows[i].pats, rows[j].path, d ? "/" : "", got, ref);
			}
		tu_exclude_free(x);
	}
	assert_int_equal(bad, 0);
}

static void test_refused_patterns_say_einval(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "/", "//", "+ a", "!", "**", "a/**", "**/a", "- ", "- /",
	};
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = tu_exclude_add(x, bad[i]);
		if (r != -EINVAL)
			print_error("pattern '%s': %d\n", bad[i], r);
		assert_int_equal(r, -EINVAL);
	}
	assert_int_equal(tu_exclude_count(x), 0);
	assert_false(tu_exclude_match(x, "a", "a", false));
	/* "!x" and "+x" (no space) are ordinary patterns */
	assert_int_equal(tu_exclude_add(x, "!x"), 0);
	assert_int_equal(tu_exclude_add(x, "+x"), 0);
	assert_true(tu_exclude_match(x, "!x", "!x", false));
	assert_true(tu_exclude_match(x, "+x", "+x", false));
	tu_exclude_free(x);
}

static void test_needs_path_only_with_a_slash_pattern(void **state)
{
	(void)state;
	struct tu_exclude *x = build("a|*.o|c/|d*");
	assert_false(tu_exclude_needs_path(x));
	/* name patterns alone work without a path */
	assert_true(tu_exclude_match(x, NULL, "m.o", false));
	assert_false(tu_exclude_match(x, NULL, "m.c", false));
	assert_int_equal(tu_exclude_add(x, "/top"), 0);
	assert_true(tu_exclude_needs_path(x));
	assert_int_equal(tu_exclude_count(x), 5);
	tu_exclude_free(x);
}

/* Many literal names: the hash set grows and finds every one, and nothing
   else. */
static void test_many_literals_grow_the_set(void **state)
{
	(void)state;
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	char name[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "n%d%s", i, i % 3 ? "" : "/");
		assert_int_equal(tu_exclude_add(x, name), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		assert_true(tu_exclude_match(x, name, name, true));
		assert_int_equal(tu_exclude_match(x, name, name, false), i % 3 != 0);
		snprintf(name, sizeof name, "m%d", i);
		assert_false(tu_exclude_match(x, name, name, true));
	}
	tu_exclude_free(x);
}

/* FILE's bytes through a pipe into tu_exclude_add_file(). */
static int add_text(struct tu_exclude *x, const char *text, size_t len, size_t *line)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, len), (ssize_t)len);
	close(p[1]);
	int r = tu_exclude_add_file(x, p[0], line);
	close(p[0]);
	return r;
}

static void test_exclude_from_reads_lines_like_rsync(void **state)
{
	(void)state;
	static const char text[] =
		"a\r\n"		/* CRLF ends a line */
		"#b\n"		/* comments: whole lines starting with # or ; */
		"; c\n"
		"\n"		/* blank lines */
		"\r\n"
		"- d\n"		/* an exclude written as rsync's rule */
		" e\n"		/* a leading space is part of the pattern */
		"x#y\n"		/* # elsewhere is an ordinary character */
		"last";		/* no terminator */
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	size_t line = 0;
	assert_int_equal(add_text(x, text, sizeof text - 1, &line), 0);
	assert_int_equal(tu_exclude_count(x), 5);
	assert_true(match(x, "a", false));
	assert_false(match(x, "#b", false));
	assert_false(match(x, "b", false));
	assert_false(match(x, "; c", false));
	assert_false(match(x, "c", false));
	assert_true(match(x, "d", false));
	assert_true(match(x, " e", false));
	assert_false(match(x, "e", false));
	assert_true(match(x, "x#y", false));
	assert_true(match(x, "last", false));
	assert_false(match(x, "a\r", false));
	tu_exclude_free(x);
}

static void test_exclude_from_names_the_refused_line(void **state)
{
	(void)state;
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	size_t line = 0;
	static const char text[] = "a\r\n# c\nb\n+ inc\nafter\n";
	assert_int_equal(add_text(x, text, sizeof text - 1, &line), -EINVAL);
	assert_int_equal(line, 4);
	/* the lines before the refused one stay added */
	assert_int_equal(tu_exclude_count(x), 2);
	static const char nul[] = "ok\nbad\0byte\n";
	assert_int_equal(add_text(x, nul, sizeof nul - 1, &line), -EINVAL);
	assert_int_equal(line, 2);
	tu_exclude_free(x);
}

static void test_exclude_from_empty_file_adds_nothing(void **state)
{
	(void)state;
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	assert_int_equal(add_text(x, "", 0, NULL), 0);
	assert_int_equal(add_text(x, "\n\n#x\n", 5, NULL), 0);
	assert_int_equal(tu_exclude_count(x), 0);
	/* A read error comes back as -errno. */
	assert_int_equal(tu_exclude_add_file(x, -1, NULL), -EBADF);
	tu_exclude_free(x);
}

/* A file bigger than the buffer's first size: every line is read. */
static void test_exclude_from_long_file(void **state)
{
	(void)state;
	size_t cap = 200000, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i < 10000; i++)
		len += (size_t)snprintf(text + len, cap - len, "p%d\n", i);
	struct tu_exclude *x;
	assert_int_equal(tu_exclude_new(&x), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* Too big for a pipe buffer in one go: write from a child. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(write(p[1], text, len) == (ssize_t)len ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(tu_exclude_add_file(x, p[0], NULL), 0);
	close(p[0]);
	assert_int_equal(tu_exclude_count(x), 10000);
	assert_true(match(x, "p9999", false));
	assert_true(match(x, "d/p0", false));
	free(text);
	tu_exclude_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_rows_match_the_rules),
		cmocka_unit_test(test_every_pattern_against_every_path_agrees_with_fnmatch),
		cmocka_unit_test(test_refused_patterns_say_einval),
		cmocka_unit_test(test_needs_path_only_with_a_slash_pattern),
		cmocka_unit_test(test_many_literals_grow_the_set),
		cmocka_unit_test(test_exclude_from_reads_lines_like_rsync),
		cmocka_unit_test(test_exclude_from_names_the_refused_line),
		cmocka_unit_test(test_exclude_from_empty_file_adds_nothing),
		cmocka_unit_test(test_exclude_from_long_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
