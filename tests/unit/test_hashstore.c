/* SPDX-License-Identifier: Apache-2.0 */
/* test_hashstore.c: unit tests of lib/hashstore.c, the record formats and
 * where records live (the xattr user.spookyhash, the .spookyhashes sidecar).
 *
 * Every parse test checks what is kept, what is dropped, what is warned
 * about (with line numbers), and that the sidecar is marked for a rewrite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define TU_INTERNAL
#include "hashstore.h"
#include "spooky.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

/* ---- helpers ---- */

struct warnings {
	int n;
	unsigned lines[16];
	char why[16][128];
};

static void collect(unsigned line, const char *why, void *ctx)
{
	struct warnings *w = ctx;
	if (w->n < 16) {
		w->lines[w->n] = line;
		snprintf(w->why[w->n], sizeof w->why[0], "%s", why);
	}
	w->n++;
}

static struct tu_hashrec rec(unsigned char fill, uint64_t ino)
{
	struct tu_hashrec r;
	memset(&r, 0, sizeof r);
	memset(r.digest, fill, 16);
	r.digest[15] = (unsigned char)(fill ^ 0x5a);
	r.size = 1000 + fill;
	r.mtime_ns = 1700000000123456789LL + fill;
	r.ctime_ns = 1700000001987654321LL + fill;
	r.ino = ino;
	r.hashed_ns = 1700000002000000000LL + fill;
	return r;
}

static bool same_rec(const struct tu_hashrec *a, const struct tu_hashrec *b)
{
	return memcmp(a->digest, b->digest, 16) == 0 && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns && a->ino == b->ino &&
	       a->hashed_ns == b->hashed_ns;
}

static struct tu_sidecar *parse(const char *text, struct warnings *w)
{
	struct tu_sidecar *s = tu_sidecar_new();
	assert_non_null(s);
	memset(w, 0, sizeof *w);
	tu_sidecar_parse(s, text, strlen(text), collect, w);
	return s;
}

/* Text of a sidecar holding the given records under the given names. */
static char *format_of(const char **names, const struct tu_hashrec *recs, int n)
{
	struct tu_sidecar *s = tu_sidecar_new();
	for (int i = 0; i < n; i++)
		assert_int_equal(tu_sidecar_put(s, names[i], &recs[i]), 0);
	size_t len;
	char *text = tu_sidecar_format(s, &len);
	assert_non_null(text);
	char *z = strndup(text, len);
	free(text);
	tu_sidecar_free(s);
	return z;
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test_hashstore.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void rmdir_flat(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

static int count_entries(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fdopendir(fd);
	int n = 0;
	struct dirent *e;
	rewinddir(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- the xattr record ---- */

static void xattr_encoding_round_trips(void **state)
{
	(void)state;
	struct tu_hashrec r = rec(7, 0), back;
	r.mtime_ns = -5;	/* before 1970 */
	r.written_ns = 1234567890123456789LL;
	unsigned char buf[TU_XATTR_LEN];
	assert_int_equal(tu_xattr_encode(&r, buf), 49);
	assert_int_equal(buf[0], 2);
	assert_memory_equal(buf + 1, r.digest, 16);
	assert_int_equal(buf[17], (1007) & 0xff);	/* size, little-endian */
	assert_int_equal(buf[18], (1007) >> 8);
	assert_int_equal(buf[41], 1234567890123456789LL & 0xff);	/* written */
	assert_int_equal(tu_xattr_decode(buf, sizeof buf, &back), 0);
	r.ctime_ns = 0;		/* not in an xattr */
	r.ino = 0;
	assert_true(same_rec(&r, &back));
	assert_true(back.written_ns == r.written_ns);
}

/* A version 1 record (41 bytes, before the written time) still decodes,
   with written_ns 0, which hashcache.c takes as "read it again". */
static void xattr_version_1_records_decode_without_a_written_time(void **state)
{
	(void)state;
	struct tu_hashrec r = rec(3, 0), back;
	r.written_ns = 99;
	unsigned char buf[TU_XATTR_LEN];
	tu_xattr_encode(&r, buf);
	buf[0] = 1;
	assert_int_equal(tu_xattr_decode(buf, TU_XATTR_V1_LEN, &back), 0);
	assert_true(back.written_ns == 0);
	assert_memory_equal(back.digest, r.digest, 16);
	assert_int_equal(tu_xattr_decode(buf, TU_XATTR_LEN, &back), -EBADMSG);
}

static void xattr_decoding_refuses_what_is_not_ours(void **state)
{
	(void)state;
	struct tu_hashrec r = rec(1, 0), back;
	unsigned char buf[TU_XATTR_LEN + 1];
	tu_xattr_encode(&r, buf);
	assert_int_equal(tu_xattr_decode(buf, 0, &back), -EBADMSG);
	assert_int_equal(tu_xattr_decode(buf, 41, &back), -EBADMSG);
	assert_int_equal(tu_xattr_decode(buf, 48, &back), -EBADMSG);
	assert_int_equal(tu_xattr_decode(buf, 50, &back), -EBADMSG);
	buf[0] = 3;
	assert_int_equal(tu_xattr_decode(buf, 49, &back), -EPROTO);
}

static void xattr_calls_by_name_and_by_fd_agree(void **state)
{
	(void)state;
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = openat(dfd, "f", O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	struct tu_hashrec r = rec(3, 0), back;
	struct stat before, after;
	fstat(fd, &before);
	int e = tu_xattr_set_fd(fd, &r);
	if (e == -EOPNOTSUPP) {
		close(fd);
		close(dfd);
		rmdir_flat(dir);
		free(dir);
		skip();
	}
	assert_int_equal(e, 0);
	fstat(fd, &after);
	/* Setting the record must never move mtime. */
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	r.ctime_ns = 0;
	r.ino = 0;
	for (int at = 1; at >= 0; at--) {
		tu_xattr_use_at_calls(at);
		memset(&back, 0, sizeof back);
		e = tu_xattr_get_at(dfd, "f", &back);
		if (at) {
			assert_int_equal(e, 0);
			assert_true(same_rec(&r, &back));
		} else {
			assert_int_equal(e, -ENOSYS);
		}
		memset(&back, 0, sizeof back);
		assert_int_equal(tu_xattr_get_fd(fd, &back), 0);
		assert_true(same_rec(&r, &back));
	}
	tu_xattr_use_at_calls(true);
	/* Someone else's value under our name is refused, not misread. */
	assert_int_equal(fsetxattr(fd, TU_XATTR_NAME, "\x01junk", 5, 0), 0);
	assert_int_equal(tu_xattr_get_fd(fd, &back), -EBADMSG);
	assert_int_equal(tu_xattr_get_at(dfd, "f", &back), -EBADMSG);
	char big[200];
	memset(big, 1, sizeof big);
	assert_int_equal(fsetxattr(fd, TU_XATTR_NAME, big, sizeof big, 0), 0);
	assert_int_equal(tu_xattr_get_fd(fd, &back), -EBADMSG);
	/* Removing, by name and by fd. */
	assert_int_equal(tu_xattr_remove_at(dfd, "f"), 0);
	assert_int_equal(tu_xattr_remove_at(dfd, "f"), -ENODATA);
	assert_int_equal(tu_xattr_get_at(dfd, "f", &back), -ENODATA);
	assert_int_equal(tu_xattr_set_fd(fd, &r), 0);
	assert_int_equal(tu_xattr_remove_fd(fd), 0);
	assert_int_equal(tu_xattr_get_fd(fd, &back), -ENODATA);
	/* A symlink is never followed: the target's record is not seen. */
	assert_int_equal(tu_xattr_set_fd(fd, &r), 0);
	assert_int_equal(symlinkat("f", dfd, "link"), 0);
	e = tu_xattr_get_at(dfd, "link", &back);
	assert_true(e == -ENODATA || e == -EPERM || e == -EOPNOTSUPP);
	close(fd);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

/* ---- sidecar text ---- */

static void names_are_escaped_readably(void **state)
{
	(void)state;
	char out[128];
	tu_sidecar_escape("plain.txt", out);
	assert_string_equal(out, "plain.txt");
	tu_sidecar_escape("a b\nc\\d", out);
	assert_string_equal(out, "a\\x20b\\x0ac\\x5cd");
	tu_sidecar_escape("caf\xc3\xa9", out);	/* valid UTF-8 stays */
	assert_string_equal(out, "caf\xc3\xa9");
	tu_sidecar_escape("bad\xff\xc3", out);	/* invalid bytes do not */
	assert_string_equal(out, "bad\\xff\\xc3");
	tu_sidecar_escape("\x7f\x01", out);
	assert_string_equal(out, "\\x7f\\x01");
}

static void sidecar_text_round_trips_odd_names(void **state)
{
	(void)state;
	const char *names[] = { "f", "new\nline", "bad\xff\xfe", "back\\slash", "sp ace",
				"caf\xc3\xa9", "-", "...", "\x01" };
	enum { N = sizeof names / sizeof names[0] };
	struct tu_hashrec recs[N];
	for (int i = 0; i < N; i++)
		recs[i] = rec((unsigned char)i, 100 + (uint64_t)i);
	recs[1].mtime_ns = INT64_MIN;
	recs[2].size = UINT64_MAX;
	recs[3].ino = UINT64_MAX;
	char *text = format_of(names, recs, N);
	assert_memory_equal(text, "spookyhashes 1\n", 15);
	struct warnings w;
	struct tu_sidecar *s = parse(text, &w);
	assert_int_equal(w.n, 0);
	assert_false(tu_sidecar_dirty(s));
	assert_int_equal(tu_sidecar_count(s), N);
	for (int i = 0; i < N; i++) {
		const struct tu_hashrec *r = tu_sidecar_find(s, names[i]);
		assert_non_null(r);
		assert_true(same_rec(r, &recs[i]));
	}
	/* Formatting what was parsed gives the same text back. */
	size_t len;
	char *again = tu_sidecar_format(s, &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(again, text, len);
	free(again);
	free(text);
	tu_sidecar_free(s);
}

static void sidecar_bad_lines_are_dropped_with_warnings(void **state)
{
	(void)state;
	const char *names[] = { "a", "b", "c" };
	struct tu_hashrec recs[3] = { rec(1, 11), rec(2, 12), rec(3, 13) };
	char *good = format_of(names, recs, 3);
	/* Lines 2..4 are a, b, c. Damage b's digest (the check no longer
	   fits), and add garbage and a line with a bad number. */
	char *text = malloc(strlen(good) + 200);
	strcpy(text, good);
	char *b = strstr(text, "\n") + 1;
	b = strstr(b, "\n") + 1;		/* line 3: b */
	b[0] = b[0] == '0' ? '1' : '0';
	strcat(text, "garbage\n");
	char *cline = strstr(good, " c ");
	while (cline > good && cline[-1] != '\n')
		cline--;
	size_t cl = (size_t)(strchr(cline, '\n') - cline);
	strncat(text, cline, cl);
	char *lead = text + strlen(text) - cl;
	lead[33] = '0';				/* size "0003": a leading zero */
	strcat(text, "\n");
	struct warnings w;
	struct tu_sidecar *s = parse(text, &w);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.lines[0], 3);
	assert_string_equal(w.why[0], "bad check value");
	assert_int_equal(w.lines[1], 5);
	assert_string_equal(w.why[1], "not a record");
	assert_int_equal(w.lines[2], 6);
	assert_true(tu_sidecar_dirty(s));
	assert_non_null(tu_sidecar_find(s, "a"));
	assert_null(tu_sidecar_find(s, "b"));
	assert_non_null(tu_sidecar_find(s, "c"));
	assert_int_equal(tu_sidecar_count(s), 2);
	tu_sidecar_free(s);
	free(text);
	free(good);
}

static void sidecar_truncated_last_line_is_dropped(void **state)
{
	(void)state;
	const char *names[] = { "a", "b" };
	struct tu_hashrec recs[2] = { rec(1, 11), rec(2, 12) };
	char *text = format_of(names, recs, 2);
	size_t len = strlen(text);
	/* Every cut inside the last line loses only that record. */
	char *last = text + len - 1;
	while (last[-1] != '\n')
		last--;
	for (char *cut = last + 1; cut < text + len; cut++) {
		struct tu_sidecar *s = tu_sidecar_new();
		struct warnings w = { 0 };
		tu_sidecar_parse(s, text, (size_t)(cut - text), collect, &w);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.lines[0], 3);
		assert_non_null(strstr(w.why[0], "truncated"));
		assert_non_null(tu_sidecar_find(s, "a"));
		assert_null(tu_sidecar_find(s, "b"));
		assert_true(tu_sidecar_dirty(s));
		tu_sidecar_free(s);
	}
	free(text);
}

static void sidecar_duplicate_names_are_all_dropped(void **state)
{
	(void)state;
	const char *names[] = { "a", "b" };
	struct tu_hashrec recs[2] = { rec(1, 11), rec(2, 12) };
	char *text = format_of(names, recs, 2);
	char *aline = strchr(text, '\n') + 1;
	size_t al = (size_t)(strchr(aline, '\n') - aline) + 1;
	char *three = malloc(strlen(text) + 2 * al + 1);
	sprintf(three, "%s%.*s%.*s", text, (int)al, aline, (int)al, aline);
	struct warnings w;
	struct tu_sidecar *s = parse(three, &w);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.lines[0], 4);
	assert_int_equal(w.lines[1], 5);
	assert_non_null(strstr(w.why[0], "duplicate"));
	assert_null(tu_sidecar_find(s, "a"));
	assert_non_null(tu_sidecar_find(s, "b"));
	assert_int_equal(tu_sidecar_count(s), 1);
	/* A name put afresh is trusted again. */
	struct tu_hashrec r = rec(9, 11);
	assert_int_equal(tu_sidecar_put(s, "a", &r), 0);
	assert_non_null(tu_sidecar_find(s, "a"));
	tu_sidecar_free(s);
	free(three);
	free(text);
}

static void sidecar_header_must_name_version_1(void **state)
{
	(void)state;
	const char *names[] = { "a" };
	struct tu_hashrec recs[1] = { rec(1, 11) };
	char *text = format_of(names, recs, 1);
	const char *heads[] = { "spookyhashes 2\n", "spookyhashes 01\n", "spookyhashes\n",
				"SPOOKYHASHES 1\n", "\n" };
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		char *t = malloc(strlen(text) + 32);
		sprintf(t, "%s%s", heads[i], strchr(text, '\n') + 1);
		struct warnings w;
		struct tu_sidecar *s = parse(t, &w);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.lines[0], 1);
		assert_int_equal(tu_sidecar_count(s), 0);
		assert_true(tu_sidecar_dirty(s));
		if (i == 0)
			assert_non_null(strstr(w.why[0], "unknown version 2"));
		tu_sidecar_free(s);
		free(t);
	}
	struct warnings w;
	struct tu_sidecar *s = parse("", &w);
	assert_int_equal(w.n, 1);
	assert_true(tu_sidecar_dirty(s));
	tu_sidecar_free(s);
	free(text);
}

static void sidecar_refuses_names_that_cannot_be(void **state)
{
	(void)state;
	/* Lines with a right check value but a name format() never writes.
	   The last one is fine, to show the check value is computed right. */
	const char *names[] = { "a/b", ".", "..", "x\\x00y", "x\\x2fy", "x\\q1", "x\\x4",
				"x y", "ok\\x0a" };
	enum { N = sizeof names / sizeof names[0] };
	for (size_t i = 0; i < N; i++) {
		char body[128], text[256];
		snprintf(body, sizeof body, "00112233445566778899aabbccddeeff 1 2 3 4 5 %s",
			 names[i]);
		uint64_t h1 = 0, h2 = 0;
		tu_spooky_hash128(body, strlen(body), &h1, &h2);
		snprintf(text, sizeof text, "spookyhashes 1\n%s %08x\n", body, (unsigned)(uint32_t)h1);
		struct warnings w;
		struct tu_sidecar *s = parse(text, &w);
		if (i == N - 1) {
			assert_int_equal(w.n, 0);
			assert_non_null(tu_sidecar_find(s, "ok\n"));
		} else {
			assert_int_equal(w.n, 1);
			assert_int_equal(tu_sidecar_count(s), 0);
			if (i < N - 2)
				assert_string_equal(w.why[0], "bad name");
		}
		tu_sidecar_free(s);
	}
}

static void sidecar_records_by_name_and_by_inode(void **state)
{
	(void)state;
	struct tu_sidecar *s = tu_sidecar_new();
	struct tu_hashrec a = rec(1, 42), b = rec(2, 42), c = rec(3, 7);
	assert_int_equal(tu_sidecar_put(s, "a", &a), 0);
	assert_int_equal(tu_sidecar_put(s, "b", &b), 0);
	assert_int_equal(tu_sidecar_put(s, "c", &c), 0);
	/* Two names of inode 42, found one after the other. */
	const struct tu_hashrec *r1 = tu_sidecar_find_ino(s, 42, NULL);
	const struct tu_hashrec *r2 = tu_sidecar_find_ino(s, 42, r1);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_ptr_not_equal(r1, r2);
	assert_null(tu_sidecar_find_ino(s, 42, r2));
	assert_null(tu_sidecar_find_ino(s, 99, NULL));
	/* A new inode under a name replaces its record. */
	struct tu_hashrec a2 = rec(4, 43);
	assert_int_equal(tu_sidecar_put(s, "a", &a2), 0);
	assert_int_equal(tu_sidecar_count(s), 3);
	assert_true(same_rec(tu_sidecar_find(s, "a"), &a2));
	assert_non_null(tu_sidecar_find_ino(s, 42, NULL));
	assert_null(tu_sidecar_find_ino(s, 42, tu_sidecar_find_ino(s, 42, NULL)));
	/* Many records: the tables grow and everything is still found. */
	char name[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		struct tu_hashrec r = rec((unsigned char)i, 1000 + (uint64_t)i);
		assert_int_equal(tu_sidecar_put(s, name, &r), 0);
	}
	for (int i = 0; i < 5000; i += 7) {
		snprintf(name, sizeof name, "n%d", i);
		const struct tu_hashrec *r = tu_sidecar_find(s, name);
		assert_non_null(r);
		assert_int_equal(r->ino, 1000 + (uint64_t)i);
		assert_ptr_equal(tu_sidecar_find_ino(s, 1000 + (uint64_t)i, NULL), r);
	}
	assert_true(tu_sidecar_del(s, "n10"));
	assert_false(tu_sidecar_del(s, "n10"));
	assert_null(tu_sidecar_find(s, "n10"));
	assert_int_equal(tu_sidecar_count(s), 5002);
	tu_sidecar_free(s);
}

static void sidecar_prune_keeps_only_seen_names(void **state)
{
	(void)state;
	const char *names[] = { "keep", "gone", "also" };
	struct tu_hashrec recs[3] = { rec(1, 1), rec(2, 2), rec(3, 3) };
	char *text = format_of(names, recs, 3);
	struct warnings w;
	struct tu_sidecar *s = parse(text, &w);
	assert_false(tu_sidecar_dirty(s));
	tu_sidecar_seen(s, "keep");
	tu_sidecar_seen(s, "also");
	tu_sidecar_seen(s, "never-there");
	assert_int_equal(tu_sidecar_prune(s), 1);
	assert_true(tu_sidecar_dirty(s));
	assert_null(tu_sidecar_find(s, "gone"));
	assert_int_equal(tu_sidecar_count(s), 2);
	tu_sidecar_free(s);
	free(text);
}

/* ---- sidecar on disk ---- */

static void sidecar_write_and_load(void **state)
{
	(void)state;
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct tu_sidecar *s;
	struct warnings w = { 0 };
	assert_int_equal(tu_sidecar_load(dfd, &s, collect, &w), 0);
	assert_false(tu_sidecar_exists(s));
	assert_int_equal(tu_sidecar_count(s), 0);
	struct tu_hashrec a = rec(1, 5);
	assert_int_equal(tu_sidecar_put(s, "new\nline", &a), 0);
	assert_int_equal(tu_sidecar_write(dfd, s), 0);
	assert_false(tu_sidecar_dirty(s));
	tu_sidecar_free(s);
	struct stat st;
	assert_int_equal(fstatat(dfd, TU_SIDECAR_NAME, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_entries(dfd), 1);	/* no temporary left */
	/* Loaded again: the same record; a mode set by the user is kept on
	   the next rewrite, which replaces the inode. */
	fchmodat(dfd, TU_SIDECAR_NAME, 0640, 0);
	assert_int_equal(tu_sidecar_load(dfd, &s, collect, &w), 0);
	assert_int_equal(w.n, 0);
	assert_true(tu_sidecar_exists(s));
	assert_true(same_rec(tu_sidecar_find(s, "new\nline"), &a));
	struct tu_hashrec b = rec(2, 6);
	assert_int_equal(tu_sidecar_put(s, "b", &b), 0);
	assert_int_equal(tu_sidecar_write(dfd, s), 0);
	struct stat st2;
	assert_int_equal(fstatat(dfd, TU_SIDECAR_NAME, &st2, 0), 0);
	assert_int_equal(st2.st_mode & 0777, 0640);
	assert_true(st2.st_ino != st.st_ino);
	/* With no records left, the file goes. */
	tu_sidecar_del(s, "b");
	tu_sidecar_del(s, "new\nline");
	assert_int_equal(tu_sidecar_write(dfd, s), 0);
	assert_int_equal(count_entries(dfd), 0);
	tu_sidecar_free(s);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

/* Write TEXT as DFD's sidecar with MODE and owner UID, and load it. */
static struct tu_sidecar *planted(int dfd, const char *text, mode_t mode, uid_t uid)
{
	unlinkat(dfd, TU_SIDECAR_NAME, 0);
	int fd = openat(dfd, TU_SIDECAR_NAME, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	if (uid != geteuid())
		assert_int_equal(fchown(fd, uid, (gid_t)-1), 0);
	close(fd);
	struct tu_sidecar *s = NULL;
	assert_int_equal(tu_sidecar_load(dfd, &s, NULL, NULL), 0);
	return s;
}

/* Issue 12, hole 4: forged sidecar records are trusted. A record is believed
   only from a file owned by root or by the described file's owner, and
   writable by neither group nor others; a refusal is said once. */
static void forged_sidecar_records_are_trusted_only_as_owner_and_mode_allow(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();		/* chown to another user */
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct tu_sidecar *w = tu_sidecar_new();
	struct tu_hashrec a = rec(1, 5);
	assert_int_equal(tu_sidecar_put(w, "a", &a), 0);
	size_t len;
	char *text = tu_sidecar_format(w, &len);
	tu_sidecar_free(w);
	/* Root's, 0600: trusted for everyone's files. */
	struct tu_sidecar *s = planted(dfd, text, 0600, 0);
	const struct tu_hashrec *r = tu_sidecar_find(s, "a");
	assert_non_null(r);
	assert_true(tu_sidecar_trusted(s, r, 1000));
	assert_false(tu_sidecar_take_distrust(s));
	tu_sidecar_free(s);
	/* Root's but group-writable: nobody's records. */
	s = planted(dfd, text, 0620, 0);
	r = tu_sidecar_find(s, "a");
	assert_false(tu_sidecar_trusted(s, r, 0));
	assert_true(tu_sidecar_take_distrust(s));
	assert_false(tu_sidecar_trusted(s, r, 0));
	assert_false(tu_sidecar_take_distrust(s));	/* said once */
	tu_sidecar_free(s);
	/* User 65534's: trusted for their own files only. */
	s = planted(dfd, text, 0644, 65534);
	r = tu_sidecar_find(s, "a");
	assert_false(tu_sidecar_trusted(s, r, 0));
	assert_true(tu_sidecar_trusted(s, r, 65534));
	/* A record put in this session is ours, whoever owns the file. */
	struct tu_hashrec b = rec(2, 6);
	assert_int_equal(tu_sidecar_put(s, "b", &b), 0);
	assert_true(tu_sidecar_trusted(s, tu_sidecar_find(s, "b"), 0));
	tu_sidecar_free(s);
	free(text);
	unlinkat(dfd, TU_SIDECAR_NAME, 0);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

/* Issue 12, hole 3: a digest goes only where everyone who can read the
   sidecar can read the file. */
static void digests_are_never_published_to_users_who_cannot_read_the_file(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();		/* a directory of another user's */
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	/* Root's directory: the sidecar will be root's, 0600. */
	struct tu_sidecar *s = NULL;
	assert_int_equal(tu_sidecar_load(dfd, &s, NULL, NULL), 0);
	assert_true(tu_sidecar_may_publish(s, 0, 0, S_IFREG | 0600));
	tu_sidecar_free(s);
	/* User 65534's directory: theirs, 0600. */
	assert_int_equal(fchown(dfd, 65534, 65534), 0);
	assert_int_equal(tu_sidecar_load(dfd, &s, NULL, NULL), 0);
	assert_false(tu_sidecar_may_publish(s, 0, 0, S_IFREG | 0600));
	assert_false(tu_sidecar_may_publish(s, 0, 0, S_IFREG | 0640));
	assert_true(tu_sidecar_may_publish(s, 0, 0, S_IFREG | 0644));
	assert_true(tu_sidecar_may_publish(s, 65534, 0, S_IFREG | 0600));
	assert_false(tu_sidecar_may_publish(s, 65534, 0, S_IFREG | 0200));
	tu_sidecar_free(s);
	/* Their own 0644 sidecar is their choice: world-readable records only. */
	s = planted(dfd, "spookyhashes 1\n", 0644, 65534);
	assert_false(tu_sidecar_may_publish(s, 65534, 0, S_IFREG | 0600));
	assert_true(tu_sidecar_may_publish(s, 65534, 0, S_IFREG | 0604));
	tu_sidecar_free(s);
	/* One planted by someone else is not: 0600 for the owner again. */
	s = planted(dfd, "spookyhashes 1\n", 0644, 1234);
	assert_true(tu_sidecar_may_publish(s, 65534, 0, S_IFREG | 0600));
	assert_int_equal(tu_sidecar_write(dfd, s), 0);	/* no records: removed */
	tu_sidecar_free(s);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

/* Issue 12, hole 5: sidecars are read whole. One larger than its directory
   could need is not read, reported as damaged, and replaced. */
static void sidecars_are_read_within_a_bound_set_by_the_directory(void **state)
{
	(void)state;
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = openat(dfd, TU_SIDECAR_NAME, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "spookyhashes 1\n", 15), 15);
	assert_int_equal(ftruncate(fd, 1024L * 1024 * 1024), 0);	/* sparse */
	close(fd);
	struct warnings w = { 0 };
	struct tu_sidecar *s = NULL;
	assert_int_equal(tu_sidecar_load(dfd, &s, collect, &w), 0);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.why[0], "damaged"));
	assert_true(tu_sidecar_exists(s));
	assert_true(tu_sidecar_dirty(s));
	assert_int_equal(tu_sidecar_count(s), 0);
	tu_sidecar_free(s);
	unlinkat(dfd, TU_SIDECAR_NAME, 0);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

static void sidecar_load_refuses_symlinks_and_fifos(void **state)
{
	(void)state;
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct tu_sidecar *s = NULL;
	assert_int_equal(symlinkat("/etc/passwd", dfd, TU_SIDECAR_NAME), 0);
	assert_int_equal(tu_sidecar_load(dfd, &s, NULL, NULL), -ELOOP);
	assert_null(s);
	unlinkat(dfd, TU_SIDECAR_NAME, 0);
	/* A FIFO must neither block nor be read. */
	assert_int_equal(mkfifoat(dfd, TU_SIDECAR_NAME, 0644), 0);
	assert_int_equal(tu_sidecar_load(dfd, &s, NULL, NULL), -EINVAL);
	unlinkat(dfd, TU_SIDECAR_NAME, 0);
	assert_int_equal(mkdirat(dfd, TU_SIDECAR_NAME, 0755), 0);
	assert_int_not_equal(tu_sidecar_load(dfd, &s, NULL, NULL), 0);
	unlinkat(dfd, TU_SIDECAR_NAME, AT_REMOVEDIR);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

static void sidecar_write_failure_leaves_no_temporary(void **state)
{
	(void)state;
	/* The rename over a directory of that name fails (as root too): the
	   error comes back, nothing is replaced, and no temporary stays. */
	char *dir = tmpdir();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(mkdirat(dfd, TU_SIDECAR_NAME, 0755), 0);
	struct tu_sidecar *s = tu_sidecar_new();
	struct tu_hashrec a = rec(1, 5);
	tu_sidecar_put(s, "a", &a);
	int r = tu_sidecar_write(dfd, s);
	assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
	assert_true(tu_sidecar_dirty(s));
	assert_int_equal(count_entries(dfd), 1);
	unlinkat(dfd, TU_SIDECAR_NAME, AT_REMOVEDIR);
	tu_sidecar_free(s);
	close(dfd);
	rmdir_flat(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forged_sidecar_records_are_trusted_only_as_owner_and_mode_allow),
		cmocka_unit_test(digests_are_never_published_to_users_who_cannot_read_the_file),
		cmocka_unit_test(sidecars_are_read_within_a_bound_set_by_the_directory),
		cmocka_unit_test(xattr_encoding_round_trips),
		cmocka_unit_test(xattr_version_1_records_decode_without_a_written_time),
		cmocka_unit_test(xattr_decoding_refuses_what_is_not_ours),
		cmocka_unit_test(xattr_calls_by_name_and_by_fd_agree),
		cmocka_unit_test(names_are_escaped_readably),
		cmocka_unit_test(sidecar_text_round_trips_odd_names),
		cmocka_unit_test(sidecar_bad_lines_are_dropped_with_warnings),
		cmocka_unit_test(sidecar_truncated_last_line_is_dropped),
		cmocka_unit_test(sidecar_duplicate_names_are_all_dropped),
		cmocka_unit_test(sidecar_header_must_name_version_1),
		cmocka_unit_test(sidecar_refuses_names_that_cannot_be),
		cmocka_unit_test(sidecar_records_by_name_and_by_inode),
		cmocka_unit_test(sidecar_prune_keeps_only_seen_names),
		cmocka_unit_test(sidecar_write_and_load),
		cmocka_unit_test(sidecar_load_refuses_symlinks_and_fifos),
		cmocka_unit_test(sidecar_write_failure_leaves_no_temporary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
