/* SPDX-License-Identifier: Apache-2.0 */
/* exclude.c: the exclude rules (rules and costs in exclude.h).
 *
 * Patterns are sorted at add time into four kinds, so that matching an entry
 * costs little: literal names (a hash set), "*LIT" and "LIT*" names (one
 * comparison), other name globs (fnmatch), and path patterns (fnmatch
 * against the one suffix of the path with as many '/' as the pattern: with
 * FNM_PATHNAME nothing but a '/' of the pattern matches a '/', so no other
 * suffix could match).
 *
 * This file never touches the filesystem (the caller hands it an open file
 * for --exclude-from) and never prints.
 */
#define TU_INTERNAL
#include "exclude.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind {
	K_LITERAL,	/* no wildcard: strcmp (names go to the hash set) */
	K_SUFFIX,	/* "*LIT": the name ends with LIT */
	K_PREFIX,	/* "LIT*": the name starts with LIT */
	K_GLOB,		/* anything else: fnmatch */
};

struct pat {
	char *text;		/* the glob, without leading/trailing '/' */
	size_t len;		/* strlen(text) */
	const char *lit;	/* K_SUFFIX/K_PREFIX: the literal part */
	size_t litlen;
	enum kind kind;
	bool dir_only;
	bool anchored;		/* leading '/': the whole relative path */
	unsigned slashes;	/* '/' in text: path patterns only */
};

/* A literal name, with what it matches: bit 0 any entry, bit 1 directories
   only. */
enum { LIT_ANY = 1, LIT_DIR = 2 };
struct lit {
	char *name;
	uint32_t hash;
	unsigned what;
};

struct tu_exclude {
	struct pat *names;	/* name globs (K_SUFFIX, K_PREFIX, K_GLOB) */
	size_t nnames, capnames;
	struct pat *paths;	/* patterns with a '/' */
	size_t npaths, cappaths;
	struct lit *lits;	/* open addressing, power-of-two size */
	size_t nlits, caplits;
	size_t count;
};

int tu_exclude_new(struct tu_exclude **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : -ENOMEM;
}

void tu_exclude_free(struct tu_exclude *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->nnames; i++)
		free(x->names[i].text);
	for (size_t i = 0; i < x->npaths; i++)
		free(x->paths[i].text);
	for (size_t i = 0; i < x->caplits; i++)
		free(x->lits[i].name);
	free(x->names);
	free(x->paths);
	free(x->lits);
	free(x);
}

size_t tu_exclude_count(const struct tu_exclude *x)
{
	return x->count;
}

bool tu_exclude_needs_path(const struct tu_exclude *x)
{
	return x->npaths > 0;
}

/* FNV-1a over a NUL-terminated name. */
static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct lit *lit_slot(struct lit *tab, size_t cap, const char *name, uint32_t h)
{
	size_t i = h & (cap - 1);
	while (tab[i].name && (tab[i].hash != h || strcmp(tab[i].name, name)))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int lit_grow(struct tu_exclude *x)
{
	size_t ncap = x->caplits ? x->caplits * 2 : 16;
	struct lit *n = calloc(ncap, sizeof *n);
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < x->caplits; i++)
		if (x->lits[i].name)
			*lit_slot(n, ncap, x->lits[i].name, x->lits[i].hash) = x->lits[i];
	free(x->lits);
	x->lits = n;
	x->caplits = ncap;
	return 0;
}

static int lit_add(struct tu_exclude *x, const char *name, size_t len, bool dir_only)
{
	/* Keep the table at most half full, so probes stay short. */
	if (2 * (x->nlits + 1) > x->caplits) {
		int r = lit_grow(x);
		if (r)
			return r;
	}
	char *copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	uint32_t h = hash_name(copy);
	struct lit *l = lit_slot(x->lits, x->caplits, copy, h);
	if (l->name) {
		free(copy);
	} else {
		l->name = copy;
		l->hash = h;
		x->nlits++;
	}
	l->what |= dir_only ? LIT_DIR : LIT_ANY;
	return 0;
}

static bool has_wild(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

/* Whether S[0..LEN) holds a character fnmatch treats specially. */
static bool has_special(const char *s, size_t len)
{
	return has_wild(s, len) || memchr(s, '\\', len) != NULL;
}

static enum kind classify(struct pat *p)
{
	if (!has_wild(p->text, p->len))
		return K_LITERAL;
	if (p->len >= 2 && p->text[0] == '*' && !has_special(p->text + 1, p->len - 1)) {
		p->lit = p->text + 1;
		p->litlen = p->len - 1;
		return K_SUFFIX;
	}
	if (p->len >= 2 && p->text[p->len - 1] == '*' && !has_special(p->text, p->len - 1)) {
		p->lit = p->text;
		p->litlen = p->len - 1;
		return K_PREFIX;
	}
	return K_GLOB;
}

static int push(struct pat **arr, size_t *n, size_t *cap, const struct pat *p)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct pat *a = realloc(*arr, ncap * sizeof *a);
		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = ncap;
	}
	(*arr)[(*n)++] = *p;
	return 0;
}

int tu_exclude_add(struct tu_exclude *x, const char *pattern)
{
	const char *s = pattern;
	/* rsync reads "- P" as the exclude P, "+ P" as an include and "!" as
	   "clear the list": the last two would mean something else here. */
	if (s[0] == '-' && s[1] == ' ')
		s += 2;
	else if ((s[0] == '+' && s[1] == ' ') || !strcmp(s, "!"))
		return -EINVAL;
	if (strstr(s, "**"))
		return -EINVAL;

	struct pat p = {0};
	size_t len = strlen(s);
	while (len && s[len - 1] == '/') {
		p.dir_only = true;
		len--;
	}
	while (len && s[0] == '/') {
		p.anchored = true;
		s++;
		len--;
	}
	if (!len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		p.slashes += s[i] == '/';

	p.text = strndup(s, len);
	if (!p.text)
		return -ENOMEM;
	p.len = len;
	p.kind = classify(&p);

	int r;
	if (p.anchored || p.slashes) {
		r = push(&x->paths, &x->npaths, &x->cappaths, &p);
	} else if (p.kind == K_LITERAL) {
		r = lit_add(x, p.text, p.len, p.dir_only);
		free(p.text);	/* the set holds its own copy */
		p.text = NULL;
	} else {
		r = push(&x->names, &x->nnames, &x->capnames, &p);
	}
	if (r) {
		free(p.text);	/* not held by anything when the push failed */
		return r;
	}
	x->count++;
	return 0;
}

int tu_exclude_add_file(struct tu_exclude *x, int fd, size_t *line)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		/* One byte always spare, for the NUL after a last line without
		   a terminator. */
		if (len + 1 >= cap) {
			if (cap >= TU_EXCLUDE_FILE_MAX) {
				free(buf);
				return -EFBIG;
			}
			char *n = realloc(buf, cap * 2);
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int err = errno;
			free(buf);
			return -err;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}

	int r = 0;
	size_t lineno = 0;
	for (size_t at = 0; at < len && !r;) {
		size_t end = at;
		while (end < len && buf[end] != '\n' && buf[end] != '\r')
			end++;
		lineno++;
		/* A CRLF pair ends one line, not two, so line numbers match what
		   an editor shows. */
		size_t next = end + 1;
		if (end + 1 < len && buf[end] == '\r' && buf[end + 1] == '\n')
			next++;
		size_t n = end - at;
		if (memchr(buf + at, '\0', n)) {
			r = -EINVAL;
		} else if (n && buf[at] != '#' && buf[at] != ';') {
			buf[end] = '\0';	/* a terminator, or the spare byte */
			r = tu_exclude_add(x, buf + at);
		}
		at = next;
		if (end == len)
			break;
	}
	free(buf);
	if (r && line)
		*line = lineno;
	return r;
}

static bool match_one(const struct pat *p, const char *s)
{
	switch (p->kind) {
	case K_LITERAL:
		return !strcmp(p->text, s);
	case K_SUFFIX: {
		size_t n = strlen(s);
		return n >= p->litlen && !memcmp(s + n - p->litlen, p->lit, p->litlen);
	}
	case K_PREFIX:
		return !strncmp(s, p->lit, p->litlen);
	case K_GLOB:
		break;
	}
	return fnmatch(p->text, s, FNM_PATHNAME) == 0;
}

/* The suffix of PATH (which holds TOTAL slashes) after its
   (TOTAL - WANT)-th '/', i.e. the part with exactly WANT slashes. */
static const char *suffix_with(const char *path, unsigned total, unsigned want)
{
	unsigned skip = total - want;
	const char *s = path;
	while (skip) {
		s = strchr(s, '/') + 1;
		skip--;
	}
	return s;
}

bool tu_exclude_match(const struct tu_exclude *x, const char *relpath, const char *name,
		      bool is_dir)
{
	if (x->nlits) {
		uint32_t h = hash_name(name);
		const struct lit *l = lit_slot(x->lits, x->caplits, name, h);
		if (l->name && ((l->what & LIT_ANY) || (is_dir && (l->what & LIT_DIR))))
			return true;
	}
	for (size_t i = 0; i < x->nnames; i++) {
		const struct pat *p = &x->names[i];
		if ((is_dir || !p->dir_only) && match_one(p, name))
			return true;
	}
	if (!x->npaths || !relpath)
		return false;
	unsigned total = 0;
	for (const char *s = relpath; *s; s++)
		total += *s == '/';
	for (size_t i = 0; i < x->npaths; i++) {
		const struct pat *p = &x->paths[i];
		if (p->dir_only && !is_dir)
			continue;
		if (p->slashes > total || (p->anchored && p->slashes != total))
			continue;
		if (match_one(p, suffix_with(relpath, total, p->slashes)))
			return true;
	}
	return false;
}
