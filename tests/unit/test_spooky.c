/* SPDX-License-Identifier: Apache-2.0 */
/* test_spooky.c - unit tests of lib/spooky.c (SpookyHash V2) against reference vectors.
 *
 * Every line of the vectors file ($TU_VECTORS, else tests/data/spookyhash-v2.txt
 * from the repo root) is checked one-shot and streamed in many split patterns. The
 * file must hold exactly the expected number of lines of each kind, so a truncated
 * or damaged file fails instead of passing quietly. These tests must never skip a
 * vector, and never "fix" a vector to match the code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spooky.h"

/* Lines of each kind in tests/data/spookyhash-v2.txt, counted when this test was
 * written. Change them only together with the file. */
enum {
	EXPECT_A = 513, /* lengths 0..512, seeds 0 */
	EXPECT_S = 42,  /* 14 lengths x 3 seed pairs */
	EXPECT_L = 6,   /* long messages, up to 10498105 bytes */
};

#define DEFAULT_VECTORS "tests/data/spookyhash-v2.txt"
#define MAX_REPORTED 10 /* mismatches printed per test before the summary */

struct vec {
	char kind;        /* 'A', 'S' or 'L' */
	size_t len;
	uint64_t seed1, seed2;
	char hex[33];
	int lineno;
};

struct vectors {
	const char *path;
	int open_errno;   /* nonzero if the file could not be opened */
	struct vec *v;
	size_t n;
	size_t count_a, count_s, count_l;
	int bad_lines;    /* non-comment lines that did not parse */
	int first_bad_lineno;
};

/* ---- reading the vectors file ---- */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int parse_hex32(const char *s, char out[33])
{
	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 32; i++) {
		int digit = s[i] >= '0' && s[i] <= '9';
		int lower = s[i] >= 'a' && s[i] <= 'f';

		if (!digit && !lower)
			return -1;
	}
	memcpy(out, s, 33);
	return 0;
}

/* Parse one non-comment line into V. Returns -1 if it is malformed. */
static int parse_line(char *line, struct vec *v)
{
	char *tok[6];
	int ntok = 0;
	uint64_t len;

	for (char *t = strtok(line, " \t"); t != NULL; t = strtok(NULL, " \t")) {
		if (ntok == 6)
			return -1;
		tok[ntok++] = t;
	}
	if (ntok < 3 || strlen(tok[0]) != 1)
		return -1;
	v->kind = tok[0][0];
	v->seed1 = 0;
	v->seed2 = 0;
	if (parse_u64(tok[1], &len) != 0 || len > SIZE_MAX)
		return -1;
	v->len = (size_t)len;
	switch (v->kind) {
	case 'A':
	case 'L':
		if (ntok != 3)
			return -1;
		return parse_hex32(tok[2], v->hex);
	case 'S':
		if (ntok != 5)
			return -1;
		if (parse_u64(tok[2], &v->seed1) != 0 || parse_u64(tok[3], &v->seed2) != 0)
			return -1;
		return parse_hex32(tok[4], v->hex);
	default:
		return -1;
	}
}

static void add_vector(struct vectors *vs, const struct vec *v)
{
	struct vec *grown = realloc(vs->v, (vs->n + 1) * sizeof *grown);

	assert_non_null(grown);
	vs->v = grown;
	vs->v[vs->n++] = *v;
	if (v->kind == 'A')
		vs->count_a++;
	else if (v->kind == 'S')
		vs->count_s++;
	else
		vs->count_l++;
}

static int load_vectors(void **state)
{
	struct vectors *vs = calloc(1, sizeof *vs);
	const char *env = getenv("TU_VECTORS");
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	FILE *f;
	int lineno = 0;

	if (vs == NULL)
		return -1;
	vs->path = env != NULL && *env != '\0' ? env : DEFAULT_VECTORS;
	*state = vs;
	f = fopen(vs->path, "r");
	if (f == NULL) {
		vs->open_errno = errno;
		return 0; /* reported by every test, with the path */
	}
	while ((got = getline(&line, &cap, f)) != -1) {
		struct vec v;

		lineno++;
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		if (got == 0 || line[0] == '#')
			continue;
		v.lineno = lineno;
		if (parse_line(line, &v) != 0) {
			if (vs->bad_lines++ == 0)
				vs->first_bad_lineno = lineno;
			continue;
		}
		add_vector(vs, &v);
	}
	free(line);
	fclose(f);
	return 0;
}

static int free_vectors(void **state)
{
	struct vectors *vs = *state;

	if (vs != NULL)
		free(vs->v);
	free(vs);
	return 0;
}

/* The vectors, after checking that the whole file was read. Every test starts here,
 * so none of them can pass on a missing or short file. */
static const struct vectors *vectors(void **state)
{
	const struct vectors *vs = *state;

	assert_non_null(vs);
	if (vs->open_errno != 0)
		fail_msg("cannot open vectors file '%s': %s", vs->path, strerror(vs->open_errno));
	if (vs->bad_lines != 0)
		fail_msg("'%s': %d malformed line(s), first at line %d", vs->path,
			 vs->bad_lines, vs->first_bad_lineno);
	if (vs->count_a != EXPECT_A || vs->count_s != EXPECT_S || vs->count_l != EXPECT_L)
		fail_msg("'%s' has %zu A, %zu S, %zu L lines; expected %d, %d, %d (truncated?)",
			 vs->path, vs->count_a, vs->count_s, vs->count_l,
			 EXPECT_A, EXPECT_S, EXPECT_L);
	return vs;
}

/* The message of a vector, in a buffer of exactly its length (so the sanitizers
 * catch any read past the end). A and S: byte i is (i + 128) mod 256; L: i mod 251. */
static unsigned char *make_message(const struct vec *v)
{
	unsigned char *m = malloc(v->len > 0 ? v->len : 1);

	assert_non_null(m);
	for (size_t i = 0; i < v->len; i++)
		m[i] = v->kind == 'L' ? (unsigned char)(i % 251) : (unsigned char)(i + 128);
	return m;
}

static void to_hex(uint64_t h1, uint64_t h2, char hex[33])
{
	unsigned char digest[16];

	tu_spooky_digest(h1, h2, digest);
	tu_spooky_hex(digest, hex);
}

/* ---- split patterns ---- */

/* splitmix64: a fixed, portable PRNG so a failing split pattern can be replayed. */
static uint64_t next_random(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* How a message is cut into update() calls. piece > 0: fixed pieces of that size.
 * piece == 0: random pieces of 0..max_piece bytes (empty updates included), from
 * a PRNG seeded with seed and the vector's line number. */
struct split {
	const char *name;
	size_t piece;
	size_t max_piece;
	uint64_t seed;
};

static void hash_one_shot(const unsigned char *m, const struct vec *v, uint64_t *h1, uint64_t *h2)
{
	*h1 = v->seed1;
	*h2 = v->seed2;
	tu_spooky_hash128(m, v->len, h1, h2);
}

static void hash_streamed(const unsigned char *m, const struct vec *v, const struct split *sp,
			  uint64_t *h1, uint64_t *h2)
{
	struct tu_spooky s;
	uint64_t rng = sp->seed ^ ((uint64_t)v->lineno << 32);
	size_t off = 0;

	tu_spooky_init(&s, v->seed1, v->seed2);
	tu_spooky_update(&s, m, 0); /* an empty update first: it must change nothing */
	while (off < v->len) {
		size_t n = sp->piece;

		if (n == 0)
			n = (size_t)(next_random(&rng) % (sp->max_piece + 1));
		if (n > v->len - off)
			n = v->len - off;
		tu_spooky_update(&s, m + off, n);
		off += n;
	}
	tu_spooky_final(&s, h1, h2);
}

/* Hash every vector with SP (NULL: one-shot) and compare. Fails after listing the
 * first few mismatches; on success, checks that every line of each kind was seen. */
static void check_all(void **state, const struct split *sp)
{
	const struct vectors *vs = vectors(state);
	size_t seen_a = 0, seen_s = 0, seen_l = 0, wrong = 0;
	const char *how = sp != NULL ? sp->name : "one-shot";

	for (size_t i = 0; i < vs->n; i++) {
		const struct vec *v = &vs->v[i];
		unsigned char *m = make_message(v);
		uint64_t h1, h2;
		char hex[33];

		if (sp != NULL)
			hash_streamed(m, v, sp, &h1, &h2);
		else
			hash_one_shot(m, v, &h1, &h2);
		free(m);
		to_hex(h1, h2, hex);
		if (strcmp(hex, v->hex) != 0) {
			if (wrong++ < MAX_REPORTED)
				print_error("%s: line %d (%c %zu): got %s, want %s\n", how,
					    v->lineno, v->kind, v->len, hex, v->hex);
			continue;
		}
		if (v->kind == 'A')
			seen_a++;
		else if (v->kind == 'S')
			seen_s++;
		else
			seen_l++;
	}
	if (wrong != 0)
		fail_msg("%s: %zu of %zu vectors differ", how, wrong, vs->n);
	assert_int_equal(seen_a, EXPECT_A);
	assert_int_equal(seen_s, EXPECT_S);
	assert_int_equal(seen_l, EXPECT_L);
}

/* ---- tests ---- */

static void test_vectors_file_is_complete(void **state)
{
	const struct vectors *vs = vectors(state);

	assert_int_equal(vs->n, EXPECT_A + EXPECT_S + EXPECT_L);
}

static void test_one_shot_matches_every_vector(void **state)
{
	check_all(state, NULL);
}

static void test_streamed_in_1_byte_pieces_matches_every_vector(void **state)
{
	static const struct split sp = { "1-byte pieces", 1, 0, 0 };

	check_all(state, &sp);
}

static void test_streamed_in_95_byte_pieces_matches_every_vector(void **state)
{
	static const struct split sp = { "95-byte pieces", 95, 0, 0 };

	check_all(state, &sp);
}

static void test_streamed_in_96_byte_pieces_matches_every_vector(void **state)
{
	static const struct split sp = { "96-byte pieces", 96, 0, 0 };

	check_all(state, &sp);
}

static void test_streamed_in_97_byte_pieces_matches_every_vector(void **state)
{
	static const struct split sp = { "97-byte pieces", 97, 0, 0 };

	check_all(state, &sp);
}

static void test_streamed_in_4093_byte_pieces_matches_every_vector(void **state)
{
	static const struct split sp = { "4093-byte pieces", 4093, 0, 0 };

	check_all(state, &sp);
}

static void test_streamed_in_random_pieces_matches_every_vector(void **state)
{
	static const struct split patterns[] = {
		{ "random pieces of 0..16 bytes", 0, 16, 0x5eed0001 },
		{ "random pieces of 0..300 bytes", 0, 300, 0x5eed0002 },
		{ "random pieces of 0..300 bytes, second seed", 0, 300, 0x5eed0003 },
		{ "random pieces of 0..70000 bytes", 0, 70000, 0x5eed0004 },
	};

	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		check_all(state, &patterns[i]);
}

/* The whole message in one update() call (after the empty one every split has). */
static void test_streamed_in_one_piece_matches_every_vector(void **state)
{
	static const struct split sp = { "one piece", SIZE_MAX, 0, 0 };

	check_all(state, &sp);
}

/* Input at any address hashes the same: the library must not assume alignment. */
static void test_unaligned_input_gives_the_same_hash(void **state)
{
	const struct vectors *vs = vectors(state);
	static const struct split sp = { "97-byte pieces, unaligned", 97, 0, 0 };

	for (size_t i = 0; i < vs->n; i++) {
		const struct vec *v = &vs->v[i];
		unsigned char *m = make_message(v);

		if (v->len > 70000) {
			free(m);
			continue;
		}
		for (size_t off = 1; off < 8; off++) {
			unsigned char *buf = malloc(v->len + off);
			uint64_t h1, h2;
			char hex[33];

			assert_non_null(buf);
			memcpy(buf + off, m, v->len);
			hash_one_shot(buf + off, v, &h1, &h2);
			to_hex(h1, h2, hex);
			assert_string_equal(hex, v->hex);
			hash_streamed(buf + off, v, &sp, &h1, &h2);
			to_hex(h1, h2, hex);
			assert_string_equal(hex, v->hex);
			free(buf);
		}
		free(m);
	}
}

/* final() leaves the state alone: it can be repeated, and update() can go on.
 * Cut points cover both sides of the 192-byte switch to the long hash. */
static void test_final_can_be_called_mid_stream(void **state)
{
	static const size_t cuts[] = { 0, 1, 15, 16, 95, 96, 97, 191, 192, 193, 300, 511 };
	static const struct vec whole = { 'A', 512, 0, 0, "", 0 };
	unsigned char *m;

	(void)vectors(state); /* the one-shot oracle is only trusted with the vectors */
	m = make_message(&whole);
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		struct tu_spooky s;
		uint64_t a1, a2, b1 = 0, b2 = 0, c1, c2, d1 = 0, d2 = 0;

		tu_spooky_init(&s, 0, 0);
		tu_spooky_update(&s, m, cuts[i]);
		tu_spooky_final(&s, &a1, &a2);
		tu_spooky_hash128(m, cuts[i], &b1, &b2);
		assert_true(a1 == b1 && a2 == b2);
		tu_spooky_final(&s, &c1, &c2);
		assert_true(c1 == a1 && c2 == a2);

		tu_spooky_update(&s, m + cuts[i], whole.len - cuts[i]);
		tu_spooky_final(&s, &c1, &c2);
		tu_spooky_hash128(m, whole.len, &d1, &d2);
		assert_true(c1 == d1 && c2 == d2);
	}
	free(m);
}

/* Copying the state forks the hash: the two copies go on independently. */
static void test_copied_state_hashes_independently(void **state)
{
	static const struct vec whole = { 'L', 5000, 0, 0, "", 0 };
	unsigned char *m = make_message(&whole);
	struct tu_spooky s, fork;
	uint64_t a1, a2, b1 = 0, b2 = 0, c1, c2, d1 = 0, d2 = 0;

	(void)vectors(state);
	tu_spooky_init(&s, 7, 9);
	tu_spooky_update(&s, m, 1000);
	fork = s;
	tu_spooky_update(&s, m + 1000, 4000);
	tu_spooky_update(&fork, m + 1000, 10);
	tu_spooky_final(&s, &a1, &a2);
	tu_spooky_final(&fork, &c1, &c2);
	b1 = 7;
	b2 = 9;
	tu_spooky_hash128(m, 5000, &b1, &b2);
	d1 = 7;
	d2 = 9;
	tu_spooky_hash128(m, 1010, &d1, &d2);
	assert_true(a1 == b1 && a2 == b2);
	assert_true(c1 == d1 && c2 == d2);
	free(m);
}

/* An empty update with a NULL pointer is allowed and changes nothing. */
static void test_empty_input_may_be_null(void **state)
{
	struct tu_spooky s;
	uint64_t h1 = 0, h2 = 0;
	char hex[33];

	(void)state;
	tu_spooky_hash128(NULL, 0, &h1, &h2);
	to_hex(h1, h2, hex);
	assert_string_equal(hex, "1909f56bfc062723c751e8b465ee728b"); /* line A 0 */

	tu_spooky_init(&s, 0, 0);
	tu_spooky_update(&s, NULL, 0);
	tu_spooky_final(&s, &h1, &h2);
	to_hex(h1, h2, hex);
	assert_string_equal(hex, "1909f56bfc062723c751e8b465ee728b");
}

/* The reference test's 32-bit values (low 32 bits of hash1, seed 0, message A),
 * as quoted in the vectors file's header. */
static void test_hash32_check_values_match_the_reference(void **state)
{
	static const uint32_t expect[] = { 0x6bf50919, 0x70de1d26, 0xa2b37298, 0x35bc5fbf };
	static const unsigned char msg[] = { 128, 129, 130 };

	(void)state;
	for (size_t len = 0; len < sizeof expect / sizeof expect[0]; len++) {
		uint64_t h1 = 0, h2 = 0;

		tu_spooky_hash128(msg, len, &h1, &h2);
		assert_int_equal((uint32_t)h1, expect[len]);
	}
}

/* Digest bytes are hash1 little-endian, then hash2 little-endian, on any host. */
static void test_digest_is_h1_then_h2_little_endian(void **state)
{
	static const unsigned char expect[16] = {
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
	};
	unsigned char digest[16];

	(void)state;
	tu_spooky_digest(0x0123456789abcdefULL, 0xfedcba9876543210ULL, digest);
	assert_memory_equal(digest, expect, sizeof expect);
}

/* The hex form is 32 lowercase digits, two per byte, high nibble first, then NUL. */
static void test_hex_is_32_lowercase_digits(void **state)
{
	unsigned char digest[16];
	char hex[34];

	(void)state;
	for (int i = 0; i < 16; i++)
		digest[i] = (unsigned char)(0x0f + 0x10 * i);
	memset(hex, 'X', sizeof hex);
	tu_spooky_hex(digest, hex);
	assert_string_equal(hex, "0f1f2f3f4f5f6f7f8f9fafbfcfdfefff");
	assert_int_equal(hex[33], 'X'); /* writes exactly 33 bytes */

	for (int b = 0; b < 256; b += 16) {
		char want[33];

		for (int i = 0; i < 16; i++)
			digest[i] = (unsigned char)(b + i);
		tu_spooky_hex(digest, hex);
		for (int i = 0; i < 16; i++)
			snprintf(want + 2 * i, 3, "%02x", (unsigned)(b + i) & 0xffu);
		assert_string_equal(hex, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_file_is_complete),
		cmocka_unit_test(test_one_shot_matches_every_vector),
		cmocka_unit_test(test_streamed_in_1_byte_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_95_byte_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_96_byte_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_97_byte_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_4093_byte_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_random_pieces_matches_every_vector),
		cmocka_unit_test(test_streamed_in_one_piece_matches_every_vector),
		cmocka_unit_test(test_unaligned_input_gives_the_same_hash),
		cmocka_unit_test(test_final_can_be_called_mid_stream),
		cmocka_unit_test(test_copied_state_hashes_independently),
		cmocka_unit_test(test_empty_input_may_be_null),
		cmocka_unit_test(test_hash32_check_values_match_the_reference),
		cmocka_unit_test(test_digest_is_h1_then_h2_little_endian),
		cmocka_unit_test(test_hex_is_32_lowercase_digits),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
