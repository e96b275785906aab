/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/linkpath.c: lexical link-target arithmetic, as tables.
 * Each row is what the man page of --fix-symlinks and --link=symbolic
 * promises for one spelling; nothing here touches the disk. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "linkpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_normalize(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } t[] = {
		{ "/", "/" },
		{ "/a/b", "/a/b" },
		{ "//a///b/", "/a/b" },
		{ "/a/./b/.", "/a/b" },
		{ "/a/b/../c", "/a/c" },
		{ "/..", "/" },
		{ "/../../a", "/a" },
		{ "a/..", "" },
		{ "../a", "../a" },
		{ "../../a/../b", "../../b" },
		{ "a/b/../../..", ".." },
		{ ".", "" },
	};
	for (size_t i = 0; i < N(t); i++) {
		char *r = tu_linkpath_normalize(t[i].in);
		assert_non_null(r);
		if (strcmp(r, t[i].out) != 0)
			fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", t[i].in, r, t[i].out);
		free(r);
	}
}

static void test_relative(void **state)
{
	(void)state;
	static const struct { const char *from, *to, *out; } t[] = {
		{ "/a/b", "/a/b", "." },
		{ "/a/b", "/a/b/c", "c" },
		{ "/a/b/c", "/a/b", ".." },
		{ "/a/b", "/a/c", "../c" },
		{ "/x/y/z", "/a", "../../../a" },
		{ "/", "/a/b", "a/b" },
		{ "d", "e/f", "../e/f" },
		{ "d/e", ".", "../.." },
		{ ".", "d", "d" },
	};
	for (size_t i = 0; i < N(t); i++) {
		char *r = tu_linkpath_relative(t[i].from, t[i].to);
		assert_non_null(r);
		if (strcmp(r, t[i].out) != 0)
			fail_msg("relative(\"%s\", \"%s\") = \"%s\", want \"%s\"", t[i].from,
				 t[i].to, r, t[i].out);
		free(r);
	}
}

static void test_has_dots(void **state)
{
	(void)state;
	static const struct { const char *in; bool dots; } t[] = {
		{ "..", true }, { "../s", true }, { "a/../s", true }, { "a/..", true },
		{ "s", false }, { "/s", false }, { "..s", false }, { "s..", false },
		{ "a/..b", false }, { "./s", false },
	};
	for (size_t i = 0; i < N(t); i++)
		if (tu_linkpath_has_dots(t[i].in) != t[i].dots)
			fail_msg("has_dots(\"%s\") != %d", t[i].in, t[i].dots);
}

/* SOURCE /t/src (given as "s", linked: /t/s -> /t/src, cwd /t), DEST
   /t/out/dst. */
static void paths(struct tu_linkpaths *lp)
{
	assert_int_equal(tu_linkpaths_init(lp, "s", "/t", "/t/src", "/t/out", "dst"), 0);
	assert_string_equal(lp->src_abs, "/t/src");
	assert_string_equal(lp->src_given_abs, "/t/s");
	assert_string_equal(lp->dst_abs, "/t/out/dst");
	assert_string_equal(lp->rel_prefix, "../../src");
}

static void test_fix(void **state)
{
	(void)state;
	struct tu_linkpaths lp;
	paths(&lp);
	/* NULL: the link is copied as it is. */
	static const struct { const char *dir, *target, *out; } t[] = {
		/* relative, never above SOURCE: works as it is */
		{ ".", "a", NULL },
		{ "d", "../a", NULL },
		{ "d/e", "../../a/b/", NULL },
		/* relative, out and back in: the shortest way in DEST */
		{ ".", "../src/a", "a" },
		{ "d", "../../src/x/y", "../x/y" },
		{ "d", "../../src", ".." },
		{ "d", "../../src/d/", "./" },
		{ "d/e", "../../../src/d/f", "../f" },
		/* relative, out for good */
		{ ".", "../other/a", NULL },
		{ "d", "../../srcx/a", NULL },
		/* absolute: SOURCE's canonical path or as given, and below */
		{ "d", "/t/src", "/t/out/dst" },
		{ "d", "/t/src/a/b", "/t/out/dst/a/b" },
		{ "d", "/t/s/a", "/t/out/dst/a" },
		{ "d", "/t/./src/../src//a/", "/t/out/dst/a/" },
		/* absolute, outside */
		{ "d", "/t/srcx", NULL },
		{ "d", "/t", NULL },
		{ "d", "/etc/passwd", NULL },
	};
	for (size_t i = 0; i < N(t); i++) {
		int err = 1;
		char *r = tu_linkpath_fix(&lp, t[i].dir, t[i].target, &err);
		assert_int_equal(err, 0);
		if ((r == NULL) != (t[i].out == NULL) || (r && strcmp(r, t[i].out) != 0))
			fail_msg("fix(\"%s\", \"%s\") = \"%s\", want \"%s\"", t[i].dir, t[i].target,
				 r ? r : "(as is)", t[i].out ? t[i].out : "(as is)");
		free(r);
	}
	tu_linkpaths_release(&lp);
}

static void test_given_with_dots_is_not_lexical(void **state)
{
	(void)state;
	struct tu_linkpaths lp;
	assert_int_equal(tu_linkpaths_init(&lp, "../s", "/t/w", "/t/src", "/t", "dst"), 0);
	assert_null(lp.src_given_abs);
	assert_string_equal(lp.rel_prefix, "../src");
	int err;
	char *r = tu_linkpath_fix(&lp, ".", "/t/s/a", &err);
	assert_int_equal(err, 0);
	assert_null(r);		/* only the canonical path counts */
	tu_linkpaths_release(&lp);
	/* A path the kernel could not give: refused, not guessed. */
	assert_int_equal(tu_linkpaths_init(&lp, "s", "/t", NULL, "/t", "dst"), -ENAMETOOLONG);
	tu_linkpaths_release(&lp);
}

static void test_farm_target(void **state)
{
	(void)state;
	struct tu_linkpaths lp;
	paths(&lp);
	static const struct { const char *rel; int depth; bool abs; const char *out; } t[] = {
		{ "a", 0, false, "../../src/a" },
		{ "d/a", 1, false, "../../../src/d/a" },
		{ "d/e/a", 2, false, "../../../../src/d/e/a" },
		{ "a", 0, true, "/t/src/a" },
		{ "d/e/a", 2, true, "/t/src/d/e/a" },
	};
	for (size_t i = 0; i < N(t); i++) {
		char *r = tu_linkpath_farm_target(&lp, t[i].rel, t[i].depth, t[i].abs);
		assert_non_null(r);
		if (strcmp(r, t[i].out) != 0)
			fail_msg("farm(\"%s\", %d, %d) = \"%s\", want \"%s\"", t[i].rel, t[i].depth,
				 t[i].abs, r, t[i].out);
		free(r);
	}
	tu_linkpaths_release(&lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_has_dots),
		cmocka_unit_test(test_fix),
		cmocka_unit_test(test_given_with_dots_is_not_lexical),
		cmocka_unit_test(test_farm_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
