/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_xattr: libFuzzer target for the user.spookyhash value decoder
 * (lib/hashstore.c: tu_xattr_decode, tu_xattr_encode).
 *
 * Any bytes are decoded. The decoder says 0, -EPROTO or -EBADMSG and
 * nothing else; it reads only LEN bytes (ASan sees the input's end); a
 * value it accepts is exactly 41 (version 1) or 49 (version 2) bytes, and
 * encoding what it decoded gives the input back (version 2), or the
 * version 1 fields with a zero written time (version 1).
 *
 * Built and run by `make fuzz` (seeds in tests/fuzz/corpus/xattr). It must
 * never touch the filesystem.
 */
#define TU_INTERNAL
#include "fuzz.h"
#include "hashstore.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly SIZE bytes, so a read past the value is caught
	   even for the inputs libFuzzer hands over in a larger buffer. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct tu_hashrec r;
	memset(&r, 0xa5, sizeof r);
	int rc = tu_xattr_decode(buf, size, &r);
	if (rc != 0 && rc != -EPROTO && rc != -EBADMSG)
		abort();
	if (rc == 0) {
		if (size != TU_XATTR_LEN && size != TU_XATTR_V1_LEN)
			abort();
		if (r.ctime_ns != 0 || r.ino != 0)
			abort();
		unsigned char out[TU_XATTR_LEN];
		if (tu_xattr_encode(&r, out) != TU_XATTR_LEN)
			abort();
		if (size == TU_XATTR_LEN && memcmp(out, buf, size))
			abort();
		if (size == TU_XATTR_V1_LEN) {
			static const unsigned char zero[8];
			if (r.written_ns != 0 || memcmp(out + 1, buf + 1, 40) ||
			    memcmp(out + 41, zero, 8))
				abort();
		}
		struct tu_hashrec back;
		if (tu_xattr_decode(out, TU_XATTR_LEN, &back) || memcmp(&back, &r, sizeof r))
			abort();
	}
	free(buf);
	return 0;
}
