/* SPDX-License-Identifier: Apache-2.0 */
/* spooky.h - SpookyHash V2 (Bob Jenkins, 2012), 128-bit, one-shot and streaming.
 *
 * This is the content hash of the hash cache (design.md section 5). Its output must
 * stay bit-identical to the public-domain reference implementation: a change here
 * silently invalidates every stored hash. This module never allocates, never prints,
 * never exits, and never reads outside the bytes it is given.
 *
 * Byte order: the algorithm reads its input as little-endian 64-bit words. The
 * 16-byte digest is hash1 little-endian followed by hash2 little-endian, on any host.
 *
 * Usage, streaming:
 *
 *     struct tu_spooky s;
 *     uint64_t h1, h2;
 *     unsigned char digest[16];
 *     char hex[33];
 *
 *     tu_spooky_init(&s, 0, 0);
 *     while ((n = read(fd, buf, sizeof buf)) > 0)
 *             tu_spooky_update(&s, buf, (size_t)n);
 *     tu_spooky_final(&s, &h1, &h2);
 *     tu_spooky_digest(h1, h2, digest);
 *     tu_spooky_hex(digest, hex);
 *
 * Usage, one-shot (h1 and h2 carry the seeds in and the hash out):
 *
 *     uint64_t h1 = 0, h2 = 0;
 *     tu_spooky_hash128(buf, len, &h1, &h2);
 *
 * Any split of a message into update() calls, including empty ones, gives the same
 * hash as the one-shot call on the whole message.
 */
#ifndef TU_SPOOKY_H
#define TU_SPOOKY_H

#include <stddef.h>
#include <stdint.h>

/* Streaming state. Plain data: no heap, no fds; it may be copied with memcpy or
 * assignment to fork a hash, and needs no release. The fields are private to
 * spooky.c. */
struct tu_spooky {
	uint64_t h[12];          /* mixing state, valid once 192 bytes have been seen */
	uint64_t seed1, seed2;
	uint64_t length;         /* total bytes passed to update() */
	size_t buffered;         /* bytes waiting in buf: < 192 before, < 96 after */
	union {                  /* union only to give buf 8-byte alignment */
		unsigned char buf[192];
		uint64_t align_;
	} u;
};

/* Start a hash with the two 64-bit seeds (the hash cache uses 0 and 0). */
void tu_spooky_init(struct tu_spooky *s, uint64_t seed1, uint64_t seed2);

/* Add LEN bytes at DATA (any alignment; LEN may be 0, and DATA may then be NULL).
 * Large pieces are hashed in place; only a partial 96-byte block is copied. */
void tu_spooky_update(struct tu_spooky *s, const void *data, size_t len);

/* Store the hash of everything added so far in *H1 and *H2. The state is not
 * modified: final() may be called again, or update() may continue, and a later
 * final() gives the hash of the longer message. */
void tu_spooky_final(const struct tu_spooky *s, uint64_t *h1, uint64_t *h2);

/* Hash LEN bytes at DATA (any alignment; NULL if LEN is 0) in one call. *H1 and *H2
 * hold the seeds on entry and the hash on return. */
void tu_spooky_hash128(const void *data, size_t len, uint64_t *h1, uint64_t *h2);

/* The 16-byte digest: H1 little-endian, then H2 little-endian. */
void tu_spooky_digest(uint64_t h1, uint64_t h2, unsigned char out[16]);

/* DIGEST as 32 lowercase hex digits and a terminating NUL. */
void tu_spooky_hex(const unsigned char digest[16], char out[33]);

#endif /* TU_SPOOKY_H */
