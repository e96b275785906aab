/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_sidecar: libFuzzer target for the .spookyhashes text format
 * (lib/hashstore.c: tu_sidecar_parse, tu_sidecar_format, the name escape).
 *
 * Two properties, chosen by the first input byte:
 *  - even: the rest is sidecar text. Whatever is parsed is formatted; that
 *    text parses again with no warning, to the same records, and formats
 *    to the same bytes (the format is a fixed point of parse-then-format).
 *  - odd: the rest is a list of records to put, each a name (any bytes but
 *    NUL and '/', up to a NUL) and 56 bytes of fields. They are formatted
 *    and parsed back: every name and every field comes back exactly, which
 *    checks that the escape and its undoing agree on every byte.
 *
 * Built and run by `make fuzz` (build-fuzz/, seeds in
 * tests/fuzz/corpus/sidecar). It must never touch the filesystem.
 */
#define TU_INTERNAL
#include "fuzz.h"
#include "hashstore.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned warnings;

static void count_warning(unsigned line, const char *why, void *ctx)
{
	(void)line;
	(void)why;
	(void)ctx;
	warnings++;
}

static bool same_rec(const struct tu_hashrec *a, const struct tu_hashrec *b)
{
	return !memcmp(a->digest, b->digest, 16) && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns && a->ino == b->ino &&
	       a->hashed_ns == b->hashed_ns;
}

/* Every record of A is in B, the same; and they have as many. */
static void same_sidecar(struct tu_sidecar *a, struct tu_sidecar *b, char **names, size_t n)
{
	if (tu_sidecar_count(a) != tu_sidecar_count(b))
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct tu_hashrec *ra = tu_sidecar_find(a, names[i]);
		const struct tu_hashrec *rb = tu_sidecar_find(b, names[i]);
		if (!ra != !rb || (ra && !same_rec(ra, rb)))
			abort();
	}
}

/* Parse TEXT into a new sidecar; abort if it warns and QUIET. */
static struct tu_sidecar *parse(const char *text, size_t len, bool quiet)
{
	struct tu_sidecar *s = tu_sidecar_new();
	if (!s)
		abort();
	warnings = 0;
	tu_sidecar_parse(s, text, len, count_warning, NULL);
	if (quiet && (warnings || tu_sidecar_dirty(s)))
		abort();
	return s;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The names parsed from TEXT, by taking each record line's seventh field
   and looking it up: the names a sidecar holds cannot be listed otherwise. */
static size_t names_of(struct tu_sidecar *s, const char *text, size_t len, char ***out)
{
	size_t n = 0, cap = 0;
	char **names = NULL;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *f = p;
		for (int k = 0; k < 6 && f; k++) {
			f = memchr(f, ' ', (size_t)(le - f));
			f = f ? f + 1 : NULL;
		}
		const char *fe = f ? memchr(f, ' ', (size_t)(le - f)) : NULL;
		if (f && fe) {
			/* Undo the escape by hand: \xHH, else the byte. */
			char *name = malloc((size_t)(fe - f) + 1);
			size_t o = 0;
			for (const char *c = f; c < fe; c++) {
				unsigned v;
				if (*c == '\\' && fe - c >= 4 && sscanf(c + 2, "%2x", &v) == 1) {
					name[o++] = (char)v;
					c += 3;
				} else {
					name[o++] = *c;
				}
			}
			name[o] = '\0';
			if (strlen(name) == o && tu_sidecar_find(s, name)) {
				if (n == cap) {
					cap = cap ? 2 * cap : 16;
					names = realloc(names, cap * sizeof *names);
				}
				names[n++] = name;
			} else {
				free(name);
			}
		}
		p = nl ? nl + 1 : end;
	}
	*out = names;
	return n;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Parse, format, parse, format: the second text is the first. */
static void text_round_trip(const char *data, size_t size)
{
	struct tu_sidecar *a = parse(data, size, false);
	size_t l1, l2;
	char *t1 = tu_sidecar_format(a, &l1);
	if (!t1)
		abort();
	struct tu_sidecar *b = parse(t1, l1, true);
	char *t2 = tu_sidecar_format(b, &l2);
	if (!t2 || l1 != l2 || memcmp(t1, t2, l1))
		abort();
	char **names;
	size_t n = names_of(a, t1, l1, &names);
	if (n != tu_sidecar_count(a))
		abort();
	same_sidecar(a, b, names, n);
	free_names(names, n);
	free(t1);
	free(t2);
	tu_sidecar_free(a);
	tu_sidecar_free(b);
}

/* Put the records the input describes, format, parse: all come back. */
static void record_round_trip(const uint8_t *data, size_t size)
{
	struct tu_sidecar *a = tu_sidecar_new();
	char **names = NULL;
	size_t n = 0;
	while (size > 0 && n < 64) {
		const uint8_t *nul = memchr(data, 0, size);
		size_t nl = nul ? (size_t)(nul - data) : size;
		if (!nul || size - nl - 1 < 56)
			break;
		char *name = strndup((const char *)data, nl);
		const uint8_t *f = nul + 1;
		struct tu_hashrec r = { .size = le64(f + 16), .mtime_ns = (int64_t)le64(f + 24),
					.ctime_ns = (int64_t)le64(f + 32), .ino = le64(f + 40),
					.hashed_ns = (int64_t)le64(f + 48) };
		memcpy(r.digest, f, 16);
		data = f + 56;
		size -= nl + 1 + 56;
		bool ok = nl > 0 && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
		if (!ok) {
			free(name);
			continue;
		}
		if (tu_sidecar_put(a, name, &r) < 0)
			abort();
		names = realloc(names, (n + 1) * sizeof *names);
		names[n++] = name;
	}
	size_t len;
	char *text = tu_sidecar_format(a, &len);
	if (!text)
		abort();
	struct tu_sidecar *b = parse(text, len, true);
	same_sidecar(a, b, names, n);
	free(text);
	free_names(names, n);
	tu_sidecar_free(a);
	tu_sidecar_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 20)
		return 0;
	if (data[0] % 2 == 0)
		text_round_trip((const char *)data + 1, size - 1);
	else
		record_round_trip(data + 1, size - 1);
	return 0;
}
