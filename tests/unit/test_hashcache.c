/* SPDX-License-Identifier: Apache-2.0 */
/* test_hashcache.c: unit tests of lib/hashcache.c through the library API:
 * tu_hashcache_get_fd() as dedup and cptree will call it, and
 * tu_hashcache_tree() with both ways of reading xattrs (getxattrat, and the
 * open-the-file fallback of older kernels).
 *
 * Timing-sensitive cases (the racy rule) are made deterministic by doing the
 * write and the hash within microseconds, and by setting mtimes explicitly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "unit.h"

#define TU_INTERNAL
#include "hashstore.h"
#include "spooky.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	int dfd;
	struct tu_hashcache_opts o;
	struct tu_hashcache_counts counts;
	int warnings, errors;
};

static int on_warning(const struct tu_err *e, void *ctx)
{
	(void)e;
	((struct fixture *)ctx)->warnings++;
	return TU_CONTINUE;
}

static int on_error(const struct tu_err *e, void *ctx)
{
	(void)e;
	((struct fixture *)ctx)->errors++;
	return TU_CONTINUE;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/test_hashcache.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	tu_hashcache_opts_init(&f->o);
	f->o.counts = &f->counts;
	f->o.warning = on_warning;
	f->o.error = on_error;
	f->o.ctx = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tu_hash_read_hook = NULL;
	tu_xattr_use_at_calls(true);
	unit_rm_rf(f->dfd);
	close(f->dfd);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Move NAME's mtime back by SECONDS (so no record of it is racy). */
static void age(int dfd, const char *name, int seconds)
{
	struct stat st;
	assert_int_equal(fstatat(dfd, name, &st, 0), 0);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	ts[1].tv_sec -= seconds;
	assert_int_equal(utimensat(dfd, name, ts, 0), 0);
}

static void set_mtime(int dfd, const char *name, struct timespec m)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, m };
	assert_int_equal(utimensat(dfd, name, ts, 0), 0);
}

static void expect_digest(const struct tu_hash_info *h, const void *data, size_t len)
{
	uint64_t h1 = 0, h2 = 0;
	unsigned char d[16];
	tu_spooky_hash128(data, len, &h1, &h2);
	tu_spooky_digest(h1, h2, d);
	assert_true(h->have_digest);
	assert_memory_equal(h->digest, d, 16);
	char hex[33];
	tu_spooky_hex(d, hex);
	assert_string_equal(h->hex, hex);
}

/* Hash NAME through the API, with a sidecar handle when HD. */
static int get(struct fixture *f, struct tu_hashcache *hc, struct tu_hashdir *hd,
	       const char *name, struct tu_hash_info *h)
{
	int fd = openat(f->dfd, name, O_RDONLY | O_NOATIME);
	assert_true(fd >= 0);
	int r = tu_hashcache_get_fd(hc, hd, fd, name, h);
	close(fd);
	return r;
}

static bool xattrs_work(struct fixture *f)
{
	unit_write_file(f->dfd, "probe", "x", 1);
	int fd = openat(f->dfd, "probe", O_RDONLY);
	bool ok = fsetxattr(fd, "user.probe", "1", 1, 0) == 0;
	close(fd);
	unlinkat(f->dfd, "probe", 0);
	return ok;
}

/* ---- the per-file API ---- */

static void digests_are_spookyhash_of_the_content(void **state)
{
	struct fixture *f = *state;
	/* Around the 1 MiB read buffer, and a few small sizes. */
	size_t sizes[] = { 0, 1, 191, 192, 193, (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
			   3 * (1 << 20) + 17 };
	unsigned char *data = malloc(sizes[8]);
	for (size_t i = 0; i < sizes[8]; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 11));
	struct tu_hashcache *hc;
	f->o.no_store = true;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unit_write_file(f->dfd, "f", data, sizes[i]);
		struct tu_hash_info h;
		assert_int_equal(get(f, hc, NULL, "f", &h), 0);
		assert_int_equal(h.status, TU_HASH_HASHED);
		assert_int_equal(h.size, sizes[i]);
		expect_digest(&h, data, sizes[i]);
	}
	tu_hashcache_close(hc);
	free(data);
}

static void a_stored_record_answers_without_reading(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	unit_write_file(f->dfd, "f", "hello", 5);
	age(f->dfd, "f", 60);
	struct stat before, after;
	fstatat(f->dfd, "f", &before, 0);
	struct tu_hashcache *hc;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	struct tu_hash_info h;
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	assert_true(h.stored);
	fstatat(f->dfd, "f", &after, 0);
	/* Storing the xattr never moves mtime. */
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	uint64_t read_before = f->counts.bytes_read;
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	expect_digest(&h, "hello", 5);
	assert_int_equal(f->counts.bytes_read, read_before);
	assert_int_equal(f->counts.cached, 1);
	assert_int_equal(f->counts.hashed, 1);
	tu_hashcache_close(hc);
}

static void racy_rewrite_in_the_same_tick_is_not_a_hit(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	struct tu_hashcache *hc;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	struct tu_hash_info h;
	/* Written and hashed at once: the record is racy. */
	unit_write_file(f->dfd, "f", "aaaa", 4);
	struct stat st;
	fstatat(f->dfd, "f", &st, 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	/* Rewritten with the same size, and given the same mtime, as a
	   second write within one timestamp tick would be. */
	unit_write_file(f->dfd, "f", "bbbb", 4);
	set_mtime(f->dfd, "f", st.st_mtim);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	expect_digest(&h, "bbbb", 4);
	/* Once the file is older than the granularity, a fresh record is
	   trusted: the rule does not simply always rehash. */
	struct timespec old = st.st_mtim;
	old.tv_sec -= 5;
	set_mtime(f->dfd, "f", old);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	expect_digest(&h, "bbbb", 4);
	tu_hashcache_close(hc);
}

static void whole_second_mtimes_get_a_two_second_margin(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	struct tu_hashcache *hc;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	struct tu_hash_info h;
	unit_write_file(f->dfd, "f", "aaaa", 4);
	/* An mtime of a whole second, one second ago: on a filesystem that
	   keeps only seconds a write now could still get it. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct timespec m = { now.tv_sec - 1, 0 };
	set_mtime(f->dfd, "f", m);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	/* Three seconds back is safe. */
	m.tv_sec -= 2;
	set_mtime(f->dfd, "f", m);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	tu_hashcache_close(hc);
}

static int grow_fd = -1;

static void grow_hook(int fd, uint64_t done)
{
	(void)fd;
	if (done == (1 << 20))
		assert_int_equal(write(grow_fd, "more", 4), 4);
}

static void a_file_growing_while_hashed_is_not_stored(void **state)
{
	struct fixture *f = *state;
	size_t len = 3 << 20;
	char *data = calloc(1, len);
	unit_write_file(f->dfd, "f", data, len);
	free(data);
	age(f->dfd, "f", 60);
	grow_fd = openat(f->dfd, "f", O_WRONLY | O_APPEND);
	tu_hash_read_hook = grow_hook;
	for (int store = TU_STORE_XATTR; store <= TU_STORE_FILE; store++) {
		f->o.store = store;
		struct tu_hashcache *hc;
		struct tu_hashdir *hd;
		assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
		assert_int_equal(tu_hashdir_open(hc, f->dfd, NULL, &hd), 0);
		struct tu_hash_info h;
		assert_int_equal(get(f, hc, hd, "f", &h), -EAGAIN);
		assert_int_equal(tu_hashdir_close(hd), 0);
		tu_hashcache_close(hc);
	}
	tu_hash_read_hook = NULL;
	close(grow_fd);
	char v[64];
	assert_int_equal(getxattr(f->dir, "user.spookyhash", v, sizeof v), -1);
	int fd = openat(f->dfd, "f", O_RDONLY);
	assert_int_equal(fgetxattr(fd, "user.spookyhash", v, sizeof v), -1);
	assert_true(errno == ENODATA || errno == EOPNOTSUPP);
	close(fd);
	assert_int_equal(faccessat(f->dfd, ".spookyhashes", F_OK, 0), -1);
}

static void check_mode_tells_ok_new_changed_corrupt(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	struct tu_hashcache *hc;
	struct tu_hash_info h;
	f->o.mode = TU_HASHCACHE_CHECK;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	unit_write_file(f->dfd, "f", "abcdef", 6);
	age(f->dfd, "f", 60);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_NEW);
	assert_true(h.stored);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_OK);
	assert_false(h.stored);
	/* Bit rot: content differs, size and mtime do not. */
	struct stat st;
	fstatat(f->dfd, "f", &st, 0);
	unit_write_file(f->dfd, "f", "abcdeF", 6);
	set_mtime(f->dfd, "f", st.st_mtim);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CORRUPT);
	assert_false(h.stored);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CORRUPT);	/* the record was kept */
	/* A normal change: CHANGED, and the record follows. */
	unit_write_file(f->dfd, "f", "abcdefg", 7);
	age(f->dfd, "f", 30);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CHANGED);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_OK);
	tu_hashcache_close(hc);
	/* --fix replaces a corrupt record. */
	fstatat(f->dfd, "f", &st, 0);
	unit_write_file(f->dfd, "f", "ABCDEFG", 7);
	set_mtime(f->dfd, "f", st.st_mtim);
	f->o.fix = true;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CORRUPT);
	assert_true(h.stored);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_OK);
	tu_hashcache_close(hc);
	assert_int_equal(f->counts.status[TU_HASH_CORRUPT], 3);
}

static void sidecar_records_check_inode_and_ctime(void **state)
{
	struct fixture *f = *state;
	f->o.store = TU_STORE_FILE;
	struct tu_hashcache *hc;
	struct tu_hashdir *hd;
	struct tu_hash_info h;
	unit_write_file(f->dfd, "f", "one!", 4);
	unit_write_file(f->dfd, "g", "two!", 4);
	age(f->dfd, "f", 60);
	struct stat st;
	fstatat(f->dfd, "f", &st, 0);
	set_mtime(f->dfd, "g", st.st_mtim);
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(tu_hashdir_open(hc, f->dfd, f->dir, &hd), 0);
	assert_int_equal(get(f, hc, hd, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	assert_int_equal(tu_hashdir_close(hd), 0);
	assert_int_equal(faccessat(f->dfd, ".spookyhashes", F_OK, 0), 0);
	/* A new session: the record is read back from the file. */
	assert_int_equal(tu_hashdir_open(hc, f->dfd, f->dir, &hd), 0);
	assert_int_equal(get(f, hc, hd, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	/* g, same size and mtime, renamed over f: another inode. */
	assert_int_equal(renameat(f->dfd, "g", f->dfd, "f"), 0);
	assert_int_equal(get(f, hc, hd, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	expect_digest(&h, "two!", 4);
	assert_int_equal(tu_hashdir_close(hd), 0);
	tu_hashcache_close(hc);
	assert_int_equal(f->errors, 0);
}

static void show_mode_reads_no_data(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	struct tu_hashcache *hc;
	struct tu_hash_info h;
	unit_write_file(f->dfd, "f", "abc", 3);
	unit_write_file(f->dfd, "g", "xyz", 3);
	age(f->dfd, "f", 60);
	age(f->dfd, "g", 60);
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	tu_hashcache_close(hc);
	uint64_t read = f->counts.bytes_read;
	f->o.mode = TU_HASHCACHE_SHOW;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_SHOWN);
	expect_digest(&h, "abc", 3);
	assert_int_equal(get(f, hc, NULL, "g", &h), 0);
	assert_int_equal(h.status, TU_HASH_MISSING);
	assert_false(h.have_digest);
	assert_int_equal(f->counts.bytes_read, read);
	tu_hashcache_close(hc);
	char v[64];
	int fd = openat(f->dfd, "g", O_RDONLY);
	assert_int_equal(fgetxattr(fd, "user.spookyhash", v, sizeof v), -1);
	close(fd);
}

static void only_regular_files_are_hashed(void **state)
{
	struct fixture *f = *state;
	struct tu_hashcache *hc;
	struct tu_hash_info h;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(tu_hashcache_get_fd(hc, NULL, f->dfd, NULL, &h), -EINVAL);
	assert_int_equal(mkfifoat(f->dfd, "fifo", 0644), 0);
	int fd = openat(f->dfd, "fifo", O_RDONLY | O_NONBLOCK);
	assert_int_equal(tu_hashcache_get_fd(hc, NULL, fd, "fifo", &h), -EINVAL);
	close(fd);
	tu_hashcache_close(hc);
}

/* ---- by name, without opening: tu_hashcache_get_at() ---- */

static struct tu_hash_state state_of(struct fixture *f, const char *name)
{
	struct stat st;
	assert_int_equal(fstatat(f->dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return (struct tu_hash_state){
		.size = (uint64_t)st.st_size,
		.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec,
		.ino = st.st_ino, .uid = st.st_uid,
	};
}

/* Opens of NAME since the watch was set, as inotify saw them. */
static int opens_seen(int ifd)
{
	char buf[4096] __attribute__((aligned(8)));
	int n = 0;
	ssize_t len;
	while ((len = read(ifd, buf, sizeof buf)) > 0)
		for (char *p = buf; p < buf + len; p += sizeof(struct inotify_event) +
						      ((struct inotify_event *)p)->len)
			if (((struct inotify_event *)p)->mask & IN_OPEN)
				n++;
	return n;
}

static void get_at_answers_from_a_valid_record_without_opening(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	unit_write_file(f->dfd, "f", "hello", 5);
	age(f->dfd, "f", 60);
	struct tu_hashcache *hc;
	struct tu_hash_info h;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_true(h.stored);
	tu_hashcache_close(hc);
	uint64_t read_before = f->counts.bytes_read, hashed_before = f->counts.hashed;

	char path[128];
	snprintf(path, sizeof path, "%s/f", f->dir);
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(ifd >= 0);
	assert_true(inotify_add_watch(ifd, path, IN_OPEN) >= 0);
	/* Any mode: show and check read no data here either. */
	for (int mode = TU_HASHCACHE_UPDATE; mode <= TU_HASHCACHE_SHOW; mode++) {
		f->o.mode = mode;
		assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
		struct tu_hash_state st = state_of(f, "f");
		assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), 0);
		assert_int_equal(h.status, TU_HASH_CACHED);
		assert_int_equal(h.size, 5);
		expect_digest(&h, "hello", 5);
		tu_hashcache_close(hc);
	}
	/* getxattrat (Linux 6.13) reads the record by name: never opened. */
	if (tu_xattr_get_at(f->dfd, "f", &(struct tu_hashrec){ 0 }) != -ENOSYS)
		assert_int_equal(opens_seen(ifd), 0);
	assert_int_equal(f->counts.bytes_read, read_before);
	assert_int_equal(f->counts.hashed, hashed_before);
	assert_int_equal(f->counts.cached, 3);
	assert_int_equal(f->counts.status[TU_HASH_CACHED], 3);

	/* An old kernel's way: the file is opened for its xattr, and must
	   still be the inode the caller saw. */
	tu_xattr_use_at_calls(false);
	f->o.mode = TU_HASHCACHE_UPDATE;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	struct tu_hash_state st = state_of(f, "f");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	expect_digest(&h, "hello", 5);
	assert_int_equal(opens_seen(ifd), 1);
	st.ino++;
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), -ENODATA);
	tu_hashcache_close(hc);
	tu_xattr_use_at_calls(true);
	assert_int_equal(f->counts.bytes_read, read_before);
	close(ifd);
	assert_int_equal(f->errors, 0);
}

static void get_at_ignores_stale_missing_and_racy_records(void **state)
{
	struct fixture *f = *state;
	if (!xattrs_work(f))
		skip();
	struct tu_hashcache *hc;
	struct tu_hash_info h;
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	/* No record at all. */
	unit_write_file(f->dfd, "none", "abc", 3);
	age(f->dfd, "none", 60);
	struct tu_hash_state st = state_of(f, "none");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "none", &st, &h), -ENODATA);
	assert_int_equal(h.status, TU_HASH_MISSING);
	assert_false(h.have_digest);

	/* A valid record, then the file rewritten (same size, new mtime). */
	unit_write_file(f->dfd, "f", "aaaa", 4);
	age(f->dfd, "f", 60);
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	st = state_of(f, "f");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), 0);
	unit_write_file(f->dfd, "f", "bbbb", 4);
	age(f->dfd, "f", 30);
	st = state_of(f, "f");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), -ENODATA);
	assert_false(h.have_digest);
	/* What the caller saw decides, not the file now: an older state
	   (another size, another mtime) does not match the record either. */
	assert_int_equal(get(f, hc, NULL, "f", &h), 0);
	assert_int_equal(h.status, TU_HASH_HASHED);
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), 0);
	expect_digest(&h, "bbbb", 4);
	struct tu_hash_state other = st;
	other.size = 5;
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &other, &h), -ENODATA);
	other = st;
	other.mtime_ns += 1;
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &other, &h), -ENODATA);

	/* Racy: hashed within the granularity of its mtime. */
	unit_write_file(f->dfd, "r", "rrrr", 4);
	assert_int_equal(get(f, hc, NULL, "r", &h), 0);
	assert_true(h.stored);
	st = state_of(f, "r");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "r", &st, &h), -ENODATA);
	assert_false(h.have_digest);
	tu_hashcache_close(hc);
	assert_int_equal(f->counts.cached, 2);
	assert_int_equal(f->errors, 0);
}

static void get_at_reads_the_sidecar_with_a_directory(void **state)
{
	struct fixture *f = *state;
	f->o.store = TU_STORE_FILE;
	struct tu_hashcache *hc;
	struct tu_hashdir *hd;
	struct tu_hash_info h;
	unit_write_file(f->dfd, "f", "side", 4);
	age(f->dfd, "f", 60);
	assert_int_equal(tu_hashcache_open(&hc, &f->o), 0);
	assert_int_equal(tu_hashdir_open(hc, f->dfd, f->dir, &hd), 0);
	assert_int_equal(get(f, hc, hd, "f", &h), 0);
	assert_int_equal(tu_hashdir_close(hd), 0);
	uint64_t read_before = f->counts.bytes_read;
	assert_int_equal(tu_hashdir_open(hc, f->dfd, f->dir, &hd), 0);
	struct tu_hash_state st = state_of(f, "f");
	assert_int_equal(tu_hashcache_get_at(hc, hd, f->dfd, "f", &st, &h), 0);
	assert_int_equal(h.status, TU_HASH_CACHED);
	expect_digest(&h, "side", 4);
	/* The sidecar also holds ctime and inode. */
	st.ctime_ns += 1;
	assert_int_equal(tu_hashcache_get_at(hc, hd, f->dfd, "f", &st, &h), -ENODATA);
	/* Without the directory, only the xattr counts: there is none. */
	st = state_of(f, "f");
	assert_int_equal(tu_hashcache_get_at(hc, NULL, f->dfd, "f", &st, &h), -ENODATA);
	assert_int_equal(tu_hashdir_close(hd), 0);
	tu_hashcache_close(hc);
	assert_int_equal(f->counts.bytes_read, read_before);
	assert_int_equal(f->errors, 0);
}

/* ---- the tree operation, both ways of reading xattrs ---- */

static void tree(struct fixture *f, bool at_calls)
{
	if (!xattrs_work(f))
		skip();
	tu_xattr_use_at_calls(at_calls);
	mkdirat(f->dfd, "d", 0755);
	int sub = openat(f->dfd, "d", O_RDONLY | O_DIRECTORY);
	unit_write_file(sub, "a", "alpha", 5);
	unit_write_file(sub, "b", "beta", 4);
	unit_write_file(f->dfd, "c", "gamma", 5);
	age(sub, "a", 60);
	age(sub, "b", 60);
	age(f->dfd, "c", 60);
	assert_int_equal(symlinkat("c", f->dfd, "link"), 0);
	assert_int_equal(mkfifoat(f->dfd, "fifo", 0644), 0);
	assert_int_equal(tu_hashcache_tree(f->dir, &f->o), 0);
	assert_int_equal(f->counts.files, 3);
	assert_int_equal(f->counts.hashed, 3);
	assert_int_equal(f->counts.stored, 3);
	assert_int_equal(f->counts.skipped, 2);
	assert_int_equal(tu_hashcache_tree(f->dir, &f->o), 0);
	assert_int_equal(f->counts.files, 6);
	assert_int_equal(f->counts.hashed, 3);
	assert_int_equal(f->counts.cached, 3);
	/* A single file argument, and clearing. */
	char path[128];
	snprintf(path, sizeof path, "%s/d/a", f->dir);
	assert_int_equal(tu_hashcache_tree(path, &f->o), 0);
	assert_int_equal(f->counts.cached, 4);
	f->o.mode = TU_HASHCACHE_CLEAR;
	assert_int_equal(tu_hashcache_tree(f->dir, &f->o), 0);
	assert_int_equal(f->counts.status[TU_HASH_CLEARED], 3);
	char v[64];
	assert_int_equal(fgetxattr(sub, "user.spookyhash", v, sizeof v), -1);
	int fd = openat(sub, "a", O_RDONLY);
	assert_int_equal(fgetxattr(fd, "user.spookyhash", v, sizeof v), -1);
	close(fd);
	close(sub);
	assert_int_equal(f->errors, 0);
	assert_int_equal(f->warnings, 0);
}

static void tree_with_getxattrat(void **state) { tree(*state, true); }
static void tree_with_the_open_fallback(void **state) { tree(*state, false); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(digests_are_spookyhash_of_the_content, setup, teardown),
		cmocka_unit_test_setup_teardown(a_stored_record_answers_without_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(racy_rewrite_in_the_same_tick_is_not_a_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(whole_second_mtimes_get_a_two_second_margin, setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_growing_while_hashed_is_not_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(check_mode_tells_ok_new_changed_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(sidecar_records_check_inode_and_ctime, setup, teardown),
		cmocka_unit_test_setup_teardown(show_mode_reads_no_data, setup, teardown),
		cmocka_unit_test_setup_teardown(only_regular_files_are_hashed, setup, teardown),
		cmocka_unit_test_setup_teardown(get_at_answers_from_a_valid_record_without_opening, setup, teardown),
		cmocka_unit_test_setup_teardown(get_at_ignores_stale_missing_and_racy_records, setup, teardown),
		cmocka_unit_test_setup_teardown(get_at_reads_the_sidecar_with_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(tree_with_getxattrat, setup, teardown),
		cmocka_unit_test_setup_teardown(tree_with_the_open_fallback, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
