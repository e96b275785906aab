/* SPDX-License-Identifier: Apache-2.0 */
/* spooky.c - SpookyHash V2 (Bob Jenkins, 2012): 128-bit hash, one-shot and streaming.
 *
 * Written for treeutils from the published description of the algorithm; the
 * reference vectors in tests/data/spookyhash-v2.txt are the judge. The output must
 * never change (stored hashes depend on it). This file never allocates, prints or
 * exits, and never reads a byte outside the caller's buffer: every load is a memcpy,
 * so unaligned input is safe and the compiler still emits a plain load.
 *
 * The shape of the algorithm:
 * - A message shorter than 192 bytes goes through the "short" hash: a 4-word state,
 *   32 bytes a round, the last 0..15 bytes added zero-padded with the length.
 * - Anything longer mixes each whole 96-byte block into a 12-word state, then adds
 *   the final partial block (0..95 bytes, zero-padded, its length in the last byte)
 *   and runs the end mix. An exact multiple of 96 still ends with an empty block.
 */
#include "spooky.h"

#include <string.h>

enum {
	SC_NUMVARS = 12,               /* words of state */
	SC_BLOCKSIZE = 8 * SC_NUMVARS, /* 96 bytes mixed per block */
	SC_BUFSIZE = 2 * SC_BLOCKSIZE, /* below this length, the short hash is used */
};

/* A constant that is not zero, odd, and has an irregular bit pattern. */
static const uint64_t SC_CONST = 0xdeadbeefdeadbeefULL;

static inline uint64_t rot64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Little-endian 64-bit load from any alignment. */
static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof v);
}

/* ---- long messages: 12-word state, 96-byte blocks ---- */

/* One mixing round per 96-byte block. The state lives in locals so the compiler
 * keeps all twelve words in registers across the whole loop; this loop is where
 * the time goes for large inputs. */
static void mix_blocks(uint64_t h[SC_NUMVARS], const unsigned char *p, size_t nblocks)
{
	uint64_t s0 = h[0], s1 = h[1], s2 = h[2], s3 = h[3];
	uint64_t s4 = h[4], s5 = h[5], s6 = h[6], s7 = h[7];
	uint64_t s8 = h[8], s9 = h[9], s10 = h[10], s11 = h[11];

	for (size_t i = 0; i < nblocks; i++, p += SC_BLOCKSIZE) {
		s0 += load64(p + 0);   s2 ^= s10; s11 ^= s0;  s0 = rot64(s0, 11);  s11 += s1;
		s1 += load64(p + 8);   s3 ^= s11; s0 ^= s1;   s1 = rot64(s1, 32);  s0 += s2;
		s2 += load64(p + 16);  s4 ^= s0;  s1 ^= s2;   s2 = rot64(s2, 43);  s1 += s3;
		s3 += load64(p + 24);  s5 ^= s1;  s2 ^= s3;   s3 = rot64(s3, 31);  s2 += s4;
		s4 += load64(p + 32);  s6 ^= s2;  s3 ^= s4;   s4 = rot64(s4, 17);  s3 += s5;
		s5 += load64(p + 40);  s7 ^= s3;  s4 ^= s5;   s5 = rot64(s5, 28);  s4 += s6;
		s6 += load64(p + 48);  s8 ^= s4;  s5 ^= s6;   s6 = rot64(s6, 39);  s5 += s7;
		s7 += load64(p + 56);  s9 ^= s5;  s6 ^= s7;   s7 = rot64(s7, 57);  s6 += s8;
		s8 += load64(p + 64);  s10 ^= s6; s7 ^= s8;   s8 = rot64(s8, 55);  s7 += s9;
		s9 += load64(p + 72);  s11 ^= s7; s8 ^= s9;   s9 = rot64(s9, 54);  s8 += s10;
		s10 += load64(p + 80); s0 ^= s8;  s9 ^= s10;  s10 = rot64(s10, 22); s9 += s11;
		s11 += load64(p + 88); s1 ^= s9;  s10 ^= s11; s11 = rot64(s11, 46); s10 += s0;
	}

	h[0] = s0; h[1] = s1; h[2] = s2;   h[3] = s3;   h[4] = s4;   h[5] = s5;
	h[6] = s6; h[7] = s7; h[8] = s8;   h[9] = s9;   h[10] = s10; h[11] = s11;
}

/* One pass of the final mix; every input bit reaches every state word after the
 * three passes that end_block() runs. */
static inline void end_partial(uint64_t h[SC_NUMVARS])
{
	h[11] += h[1];  h[2] ^= h[11]; h[1] = rot64(h[1], 44);
	h[0] += h[2];   h[3] ^= h[0];  h[2] = rot64(h[2], 15);
	h[1] += h[3];   h[4] ^= h[1];  h[3] = rot64(h[3], 34);
	h[2] += h[4];   h[5] ^= h[2];  h[4] = rot64(h[4], 21);
	h[3] += h[5];   h[6] ^= h[3];  h[5] = rot64(h[5], 38);
	h[4] += h[6];   h[7] ^= h[4];  h[6] = rot64(h[6], 33);
	h[5] += h[7];   h[8] ^= h[5];  h[7] = rot64(h[7], 10);
	h[6] += h[8];   h[9] ^= h[6];  h[8] = rot64(h[8], 13);
	h[7] += h[9];   h[10] ^= h[7]; h[9] = rot64(h[9], 38);
	h[8] += h[10];  h[11] ^= h[8]; h[10] = rot64(h[10], 53);
	h[9] += h[11];  h[0] ^= h[9];  h[11] = rot64(h[11], 42);
	h[10] += h[0];  h[1] ^= h[10]; h[0] = rot64(h[0], 54);
}

/* Finish a long hash: TAIL holds the last LEN (0..95) bytes of the message. V2 adds
 * the padded block to the state (V1 mixed it), then mixes three times. */
static void end_block(uint64_t h[SC_NUMVARS], const unsigned char *tail, size_t len,
		      uint64_t *h1, uint64_t *h2)
{
	unsigned char block[SC_BLOCKSIZE] = { 0 };

	memcpy(block, tail, len);
	block[SC_BLOCKSIZE - 1] = (unsigned char)len;
	for (int i = 0; i < SC_NUMVARS; i++)
		h[i] += load64(block + 8 * i);
	end_partial(h);
	end_partial(h);
	end_partial(h);
	*h1 = h[0];
	*h2 = h[1];
}

/* The starting state of a long hash: the seeds and the constant, interleaved. */
static void long_state_init(uint64_t h[SC_NUMVARS], uint64_t seed1, uint64_t seed2)
{
	for (int i = 0; i < SC_NUMVARS; i += 3) {
		h[i] = seed1;
		h[i + 1] = seed2;
		h[i + 2] = SC_CONST;
	}
}

/* ---- short messages (< 192 bytes): 4-word state, 32 bytes a round ---- */

static inline void short_mix(uint64_t *h0, uint64_t *h1, uint64_t *h2, uint64_t *h3)
{
	uint64_t a = *h0, b = *h1, c = *h2, d = *h3;

	c = rot64(c, 50); c += d; a ^= c;
	d = rot64(d, 52); d += a; b ^= d;
	a = rot64(a, 30); a += b; c ^= a;
	b = rot64(b, 41); b += c; d ^= b;
	c = rot64(c, 54); c += d; a ^= c;
	d = rot64(d, 48); d += a; b ^= d;
	a = rot64(a, 38); a += b; c ^= a;
	b = rot64(b, 37); b += c; d ^= b;
	c = rot64(c, 62); c += d; a ^= c;
	d = rot64(d, 34); d += a; b ^= d;
	a = rot64(a, 5);  a += b; c ^= a;
	b = rot64(b, 36); b += c; d ^= b;
	*h0 = a; *h1 = b; *h2 = c; *h3 = d;
}

static inline void short_end(uint64_t *h0, uint64_t *h1, uint64_t *h2, uint64_t *h3)
{
	uint64_t a = *h0, b = *h1, c = *h2, d = *h3;

	d ^= c; c = rot64(c, 15); d += c;
	a ^= d; d = rot64(d, 52); a += d;
	b ^= a; a = rot64(a, 26); b += a;
	c ^= b; b = rot64(b, 51); c += b;
	d ^= c; c = rot64(c, 28); d += c;
	a ^= d; d = rot64(d, 9);  a += d;
	b ^= a; a = rot64(a, 47); b += a;
	c ^= b; b = rot64(b, 54); c += b;
	d ^= c; c = rot64(c, 32); d += c;
	a ^= d; d = rot64(d, 25); a += d;
	b ^= a; a = rot64(a, 63); b += a;
	*h0 = a; *h1 = b; *h2 = c; *h3 = d;
}

static void short_hash(const unsigned char *p, size_t len, uint64_t *h1, uint64_t *h2)
{
	uint64_t a = *h1, b = *h2, c = SC_CONST, d = SC_CONST;
	size_t rest = len;

	/* Messages of 0..15 bytes skip the rounds entirely. */
	if (len >= 16) {
		for (; rest >= 32; rest -= 32, p += 32) {
			c += load64(p);
			d += load64(p + 8);
			short_mix(&a, &b, &c, &d);
			a += load64(p + 16);
			b += load64(p + 24);
		}
		if (rest >= 16) {
			c += load64(p);
			d += load64(p + 8);
			short_mix(&a, &b, &c, &d);
			rest -= 16;
			p += 16;
		}
	}

	/* The length goes into the top byte of d (len < 192 fits). The last 1..15
	 * bytes are added as one zero-padded little-endian 16-byte number, low half to
	 * c, high half to d; with none left, both get the constant instead. */
	d += (uint64_t)len << 56;
	if (rest == 0) {
		c += SC_CONST;
		d += SC_CONST;
	} else {
		unsigned char last[16] = { 0 };

		memcpy(last, p, rest);
		c += load64(last);
		d += load64(last + 8);
	}
	short_end(&a, &b, &c, &d);
	*h1 = a;
	*h2 = b;
}

/* ---- public API ---- */

void tu_spooky_hash128(const void *data, size_t len, uint64_t *h1, uint64_t *h2)
{
	const unsigned char *p = data;
	uint64_t h[SC_NUMVARS];
	size_t nblocks = len / SC_BLOCKSIZE;

	if (len < SC_BUFSIZE) {
		short_hash(p, len, h1, h2);
		return;
	}
	long_state_init(h, *h1, *h2);
	mix_blocks(h, p, nblocks);
	/* The partial last block (possibly empty) always goes through end_block(). */
	end_block(h, p + nblocks * SC_BLOCKSIZE, len % SC_BLOCKSIZE, h1, h2);
}

void tu_spooky_init(struct tu_spooky *s, uint64_t seed1, uint64_t seed2)
{
	memset(s, 0, sizeof *s);
	s->seed1 = seed1;
	s->seed2 = seed2;
}

/* Invariants: while s->length < 192 every byte is in s->u.buf (the short hash may
 * still be needed) and s->h is unused. From 192 bytes on, s->h holds every whole
 * block of the message so far and s->u.buf the 0..95 bytes after them, so
 * s->buffered == s->length % 96. */
void tu_spooky_update(struct tu_spooky *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char *buf = s->u.buf;
	size_t nblocks;

	if (len == 0)
		return;

	if (s->length < SC_BUFSIZE) {
		if (len < SC_BUFSIZE - s->buffered) {
			memcpy(buf + s->buffered, p, len);
			s->buffered += len;
			s->length += len;
			return;
		}
		/* Now at least 192 bytes: switch to the long hash. Fill the buffer to a
		 * whole number of blocks (one or two; len is large enough for either)
		 * and mix them. */
		long_state_init(s->h, s->seed1, s->seed2);
	}
	s->length += len;

	if (s->buffered > 0) {
		size_t want = (s->buffered <= SC_BLOCKSIZE ? SC_BLOCKSIZE : SC_BUFSIZE) - s->buffered;

		if (len < want) {
			memcpy(buf + s->buffered, p, len);
			s->buffered += len;
			return;
		}
		memcpy(buf + s->buffered, p, want);
		mix_blocks(s->h, buf, (s->buffered + want) / SC_BLOCKSIZE);
		s->buffered = 0;
		p += want;
		len -= want;
	}

	/* Whole blocks straight from the caller's memory; only the tail is copied. */
	nblocks = len / SC_BLOCKSIZE;
	mix_blocks(s->h, p, nblocks);
	p += nblocks * SC_BLOCKSIZE;
	len -= nblocks * SC_BLOCKSIZE;
	memcpy(buf, p, len);
	s->buffered = len;
}

void tu_spooky_final(const struct tu_spooky *s, uint64_t *h1, uint64_t *h2)
{
	uint64_t h[SC_NUMVARS];

	*h1 = s->seed1;
	*h2 = s->seed2;
	if (s->length < SC_BUFSIZE) {
		short_hash(s->u.buf, s->buffered, h1, h2);
		return;
	}
	/* Work on a copy so the caller may keep updating after final(). */
	memcpy(h, s->h, sizeof h);
	end_block(h, s->u.buf, s->buffered, h1, h2);
}

void tu_spooky_digest(uint64_t h1, uint64_t h2, unsigned char out[16])
{
	store64(out, h1);
	store64(out + 8, h2);
}

void tu_spooky_hex(const unsigned char digest[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 0x0f];
	}
	out[32] = '\0';
}
