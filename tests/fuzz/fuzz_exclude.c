/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_exclude: libFuzzer target for the exclude-pattern parser and matcher
 * (lib/exclude.c) and the itemize record writer (lib/itemize.c).
 *
 * Input: an --exclude-from file, then (after the first NUL byte, if any)
 * NUL-separated relative paths to match against it and to write as itemize
 * records. It checks that nothing crashes or leaks, that every match
 * agrees with a slow reference (fnmatch over every suffix), and that a
 * record's length is what tu_itemize_line() says, cut or not. Built and
 * run by `make fuzz` (seeds in tests/fuzz/corpus/exclude); its corpus is
 * replayed by `make check`.
 *
 * This file must never touch the filesystem beyond the pipe it feeds the
 * reader through.
 */
#define TU_INTERNAL
#include "fuzz.h"
#include "exclude.h"
#include "itemize.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The patterns, kept as the reference needs them. */
struct ref {
	char *pat[256];
	bool dir_only[256], anchored[256];
	size_t n;
};

static bool ref_one(const char *pat, const char *s)
{
	if (!strpbrk(pat, "*?["))
		return !strcmp(pat, s);
	return fnmatch(pat, s, FNM_PATHNAME) == 0;
}

static bool ref_match(const struct ref *r, const char *path, bool is_dir)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	for (size_t i = 0; i < r->n; i++) {
		if (r->dir_only[i] && !is_dir)
			continue;
		if (!r->anchored[i] && !strchr(r->pat[i], '/')) {
			if (ref_one(r->pat[i], name))
				return true;
			continue;
		}
		for (const char *s = path; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
			if (ref_one(r->pat[i], s))
				return true;
			if (r->anchored[i])
				break;
		}
	}
	return false;
}

/* Add one pattern line to the reference as exclude.h describes it; returns
   whether tu_exclude_add() should accept it. */
static bool ref_add(struct ref *r, const char *line)
{
	const char *s = line;
	if (s[0] == '-' && s[1] == ' ')
		s += 2;
	else if ((s[0] == '+' && s[1] == ' ') || !strcmp(s, "!"))
		return false;
	if (strstr(s, "**"))
		return false;
	size_t len = strlen(s);
	bool dir_only = false, anchored = false;
	while (len && s[len - 1] == '/') {
		len--;
		dir_only = true;
	}
	while (len && *s == '/') {
		s++;
		len--;
		anchored = true;
	}
	if (!len)
		return false;
	if (r->n < 256) {
		r->pat[r->n] = strndup(s, len);
		r->dir_only[r->n] = dir_only;
		r->anchored[r->n] = anchored;
		r->n++;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	if (plen > 1 << 16)
		return 0;

	/* The pattern file, through the reader. */
	struct tu_exclude *x;
	if (tu_exclude_new(&x))
		return 0;
	int p[2];
	if (pipe(p))
		abort();
	if (plen && write(p[1], data, plen) != (ssize_t)plen)
		abort();
	close(p[1]);
	size_t bad = 0;
	int r = tu_exclude_add_file(x, p[0], &bad);
	close(p[0]);
	if (r && r != -EINVAL)
		abort();

	/* The same lines, one by one, into the reference; it must agree with
	   the reader on which line (if any) is refused. Up to 256 patterns. */
	struct ref ref = { .n = 0 };
	char *text = strndup((const char *)data, plen);
	size_t lineno = 0, refused = 0;
	bool lost = false;
	for (char *s = text, *end; s && *s && !refused; s = end ? end + 1 : NULL) {
		end = strpbrk(s, "\r\n");
		lineno++;
		if (end && *end == '\r' && end[1] == '\n')
			*end++ = '\0';
		if (end)
			*end = '\0';
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (!ref_add(&ref, s))
			refused = lineno;
		/* A '/' inside a bracket expression ("[!/]"): whether the pattern
		   is a path pattern then is rsync's business, and tu_exclude
		   agrees with rsync 3.5 there (neither excludes "(" or "a/(" for
		   "[!/]"), while this fnmatch reference does not: no match is
		   compared for such a list (found by this fuzzer, kept in the
		   corpus as bracket-slash). */
		else if (strchr(s, '[') && strchr(s, '/') && strchr(s, '[') < strrchr(s, '/'))
			lost = true;
		lost |= ref.n >= 256;
		if (!end)
			break;
	}
	/* A NUL inside the pattern part cannot happen (it ends that part). */
	if ((r == -EINVAL) != (refused != 0) || (refused && bad != refused))
		abort();

	/* Paths after the NUL: match, compare with the reference, itemize. */
	if (nul && !lost) {
		const char *at = (const char *)nul + 1, *stop = (const char *)data + size;
		while (at < stop) {
			const char *e = memchr(at, 0, (size_t)(stop - at));
			size_t n = e ? (size_t)(e - at) : (size_t)(stop - at);
			char *path = strndup(at, n);
			const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
			for (int d = 0; d < 2; d++)
				if (*name && tu_exclude_match(x, path, name, d) != ref_match(&ref, path, d))
					abort();
			struct tu_item it = { n % 2 ? TU_ITEM_RECEIVED : TU_ITEM_DELETED,
					      "fdLDS"[n % 5], (unsigned)n * 2654435761u, path,
					      n % 3 ? NULL : path };
			char big[1 << 16], small[7];
			for (unsigned f = 0; f < 4; f++) {
				size_t full = tu_itemize_line(big, sizeof big, &it, f);
				size_t cut = tu_itemize_line(small, sizeof small, &it, f);
				if (full != cut || (full < sizeof big && strlen(big) > full))
					abort();
			}
			free(path);
			at += n + 1;
		}
	}
	for (size_t i = 0; i < ref.n; i++)
		free(ref.pat[i]);
	free(text);
	tu_exclude_free(x);
	return 0;
}
