/* SPDX-License-Identifier: Apache-2.0 */
/* names.c: random and temporary names, UTF-8 checks, the monotonic clock.
 *
 * Pure helpers for every module. This file must never touch a tree: no
 * file system call, no fd, no path (only getrandom and clock_gettime).
 */
#define TU_INTERNAL
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TMP_TRIES 4

int tu_random_hex(char *out, size_t nhex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t need = (nhex + 1) / 2;
	if (need > sizeof raw)
		return -EINVAL;
	size_t got = 0;
	while (got < need) {
		ssize_t r = getrandom(raw + got, need - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < nhex; i++)
		out[i] = digits[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf];
	out[nhex] = '\0';
	return 0;
}

int tu_tmp_name(char *out)
{
	char hex[TU_TMP_HEX + 1];
	int r = tu_random_hex(hex, TU_TMP_HEX);
	if (r < 0)
		return r;
	snprintf(out, TU_TMP_NAME_MAX, "%s%s", TU_TMP_PREFIX, hex);
	return 0;
}

int tu_tmp_try(char *out, int (*make)(const char *name, void *ctx), void *ctx)
{
	for (int tries = 0; tries < TMP_TRIES; tries++) {
		int r = tu_tmp_name(out);
		if (r < 0)
			return r;
		r = make(out, ctx);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

bool tu_is_tmp_name(const char *name)
{
	size_t p = sizeof(TU_TMP_PREFIX) - 1;
	if (strncmp(name, TU_TMP_PREFIX, p) != 0)
		return false;
	for (size_t i = 0; i < TU_TMP_HEX; i++) {
		char c = name[p + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return name[p + TU_TMP_HEX] == '\0';
}

size_t tu_utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2; min = 0x80; c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; min = 0x800; c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4; min = 0x10000; c &= 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

double tu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
