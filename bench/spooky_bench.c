/* SPDX-License-Identifier: Apache-2.0 */
/* spooky_bench.c - throughput of lib/spooky.c: one-shot and streamed in 1 MiB pieces.
 *
 * Usage: spooky_bench [SIZE_MIB [ROUNDS]]   (defaults: 64 MiB, 20 rounds)
 * Prints the median GB/s (10^9 bytes per second) of each mode. A standalone program:
 * it measures only, it must never be part of the test suite's pass/fail decisions,
 * and it never writes anything but its report to stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spooky.h"

#define PIECE ((size_t)1 << 20)

/* Results go here so the compiler cannot drop the hashing as dead code. */
static volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (x < y)
		return -1;
	return x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	if (n % 2 == 1)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void hash_one_shot(const unsigned char *buf, size_t len, uint64_t *h1, uint64_t *h2)
{
	*h1 = 0;
	*h2 = 0;
	tu_spooky_hash128(buf, len, h1, h2);
}

static void hash_streamed(const unsigned char *buf, size_t len, uint64_t *h1, uint64_t *h2)
{
	struct tu_spooky s;

	tu_spooky_init(&s, 0, 0);
	for (size_t off = 0; off < len; off += PIECE)
		tu_spooky_update(&s, buf + off, len - off < PIECE ? len - off : PIECE);
	tu_spooky_final(&s, h1, h2);
}

/* Median GB/s of ROUNDS runs of FN over BUF, after one warm-up run. */
static double measure(void (*fn)(const unsigned char *, size_t, uint64_t *, uint64_t *),
		      const unsigned char *buf, size_t len, int rounds, char hex[33])
{
	double *rate = malloc((size_t)rounds * sizeof *rate);
	unsigned char digest[16];
	uint64_t h1, h2;
	double r;

	if (rate == NULL)
		return 0;
	fn(buf, len, &h1, &h2);
	for (int i = 0; i < rounds; i++) {
		double t0 = now();

		fn(buf, len, &h1, &h2);
		rate[i] = (double)len / (now() - t0) / 1e9;
		sink ^= h1 ^ h2;
	}
	tu_spooky_digest(h1, h2, digest);
	tu_spooky_hex(digest, hex);
	r = median(rate, rounds);
	free(rate);
	return r;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 64;
	int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20;
	size_t len;
	unsigned char *buf;
	char hex1[33], hex2[33];
	double one, streamed;

	if (mib <= 0 || rounds <= 0) {
		fprintf(stderr, "usage: spooky_bench [SIZE_MIB [ROUNDS]]\n");
		return 2;
	}
	len = (size_t)mib << 20;
	buf = malloc(len);
	if (buf == NULL) {
		fprintf(stderr, "spooky_bench: cannot allocate %ld MiB\n", mib);
		return 2;
	}
	/* Non-constant content, touched once so page faults stay out of the timing. */
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);

	one = measure(hash_one_shot, buf, len, rounds, hex1);
	streamed = measure(hash_streamed, buf, len, rounds, hex2);
	if (strcmp(hex1, hex2) != 0) {
		fprintf(stderr, "spooky_bench: one-shot %s != streamed %s\n", hex1, hex2);
		return 1;
	}
	printf("spookyhash v2, %ld MiB buffer, %d rounds, median:\n", mib, rounds);
	printf("  one-shot (tu_spooky_hash128)      %6.2f GB/s\n", one);
	printf("  streamed (1 MiB tu_spooky_update) %6.2f GB/s\n", streamed);
	printf("  digest %s\n", hex1);
	free(buf);
	return 0;
}
