/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_quote: libFuzzer target for how names are quoted in messages
 * (tools/common: tu_quote) and escaped in hashcache's sidecar lines
 * (lib/hashstore.c: tu_sidecar_escape).
 *
 * The input, cut at its first NUL, is a name. tu_quote's result must be
 * 'TEXT' where TEXT holds no control byte, no raw quote or backslash and
 * only valid UTF-8, and unquoting it (\' \\ \n \t \xHH, the only escapes
 * it may use) must give the name back byte for byte; the same for
 * tu_sidecar_escape (whose only escape is \xHH, and which leaves no byte
 * 0x00-0x20, 0x7f or '\\' raw). A name that cannot be read back from a
 * message can be confused with another: an attacker's name could pass for
 * a victim's in an error report.
 *
 * Built and run by `make fuzz` (seeds in tests/fuzz/corpus/quote). It must
 * never touch the filesystem.
 */
#define TU_INTERNAL
#include "fuzz.h"
#include "common.h"
#include "hashstore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Check that S (LEN bytes) is plain valid UTF-8 with no control byte and,
   where it is not an escape, none of the bytes in RAW; undo its escapes
   into OUT. ALL_ESCAPES: \' \\ \n \t too, else only \xHH. */
static size_t unescape(const char *s, size_t len, char *out, bool all_escapes)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)s + i;
		if (*u == '\\') {
			if (i + 1 >= len)
				abort();
			char e = s[i + 1];
			if (all_escapes && (e == '\'' || e == '\\')) {
				out[o++] = e;
				i += 2;
			} else if (all_escapes && (e == 'n' || e == 't')) {
				out[o++] = e == 'n' ? '\n' : '\t';
				i += 2;
			} else if (e == 'x' && i + 3 < len && hexval(s[i + 2]) >= 0 &&
				   hexval(s[i + 3]) >= 0) {
				out[o++] = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
				i += 4;
			} else {
				abort();
			}
			continue;
		}
		if (*u < 0x20 || *u == 0x7f || (all_escapes && *u == '\'') ||
		    (!all_escapes && *u == ' '))
			abort();
		size_t n = tu_utf8_len(u);
		if (n == 0 || i + n > len)
			abort();
		memcpy(out + o, u, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *name = strndup((const char *)data, size);
	size_t len = strlen(name);
	char *back = malloc(len + 1);

	char *q = tu_quote(name);
	size_t ql = strlen(q);
	if (ql < 2 || q[0] != '\'' || q[ql - 1] != '\'')
		abort();
	if (unescape(q + 1, ql - 2, back, true) != len || memcmp(back, name, len))
		abort();
	tu_quote_free(q);

	char *e = malloc(4 * len + 1);
	tu_sidecar_escape(name, e);
	if (unescape(e, strlen(e), back, false) != len || memcmp(back, name, len))
		abort();
	free(e);

	free(back);
	free(name);
	return 0;
}
