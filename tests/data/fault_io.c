/* SPDX-License-Identifier: Apache-2.0 */
/* An LD_PRELOAD shim for tests: data calls that fail, as on a FUSE or network
 * filesystem that answers EAGAIN, EINTR or EBUSY now and then.
 *
 *   TU_FAULT_FN     the call to fail: copy_file_range, pwrite (pwrite64 too)
 *                   or write
 *   TU_FAULT_PATH   only calls on a file whose /proc/self/fd path contains
 *                   this (for copy_file_range: the source's or the copy's;
 *                   for pwrite and write: the file written, which for an
 *                   O_TMPFILE is "DIR/#INODE (deleted)")
 *   TU_FAULT_ERRNO  the errno to fail with (a number; default 11, EAGAIN)
 *   TU_FAULT_SKIP   let this many matching calls through first (default 0)
 *   TU_FAULT_COUNT  then fail this many (default -1: all the rest)
 *   TU_FAULT_LOG    a file that gets one line per matching call
 *   TU_FAULT_NO_CFR set: copy_file_range always fails with EXDEV, so the
 *                   program falls back to read/write (not logged)
 *
 * Thread-safe: the count is shared by every thread of the process. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static long calls;

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? atol(v) : dflt;
}

static int fd_matches(int fd)
{
	const char *want = getenv("TU_FAULT_PATH");
	if (!want)
		return 1;
	char proc[64], path[4096];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, path, sizeof path - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, want) != NULL;
}

/* Should this call (of FN, on FD, and FD2 unless -1) fail? Then errno is set. */
static int fault(const char *fn, int fd, int fd2)
{
	const char *want = getenv("TU_FAULT_FN");
	if (!want || strcmp(want, fn) != 0)
		return 0;
	if (!fd_matches(fd) && (fd2 < 0 || !fd_matches(fd2)))
		return 0;
	int saved = errno;
	const char *log = getenv("TU_FAULT_LOG");
	if (log) {
		int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (lfd >= 0) {
			(void)!syscall(SYS_write, lfd, "call\n", 5);
			close(lfd);
		}
	}
	long n = __atomic_fetch_add(&calls, 1, __ATOMIC_SEQ_CST);
	long skip = env_long("TU_FAULT_SKIP", 0), count = env_long("TU_FAULT_COUNT", -1);
	if (n < skip || (count >= 0 && n >= skip + count)) {
		errno = saved;
		return 0;
	}
	errno = (int)env_long("TU_FAULT_ERRNO", EAGAIN);
	return 1;
}

ssize_t copy_file_range(int in, off_t *oin, int out, off_t *oout, size_t len, unsigned flags)
{
	static ssize_t (*real)(int, off_t *, int, off_t *, size_t, unsigned);
	if (!real)
		real = (ssize_t (*)(int, off_t *, int, off_t *, size_t, unsigned))dlsym(
			RTLD_NEXT, "copy_file_range");
	if (getenv("TU_FAULT_NO_CFR")) {
		errno = EXDEV;
		return -1;
	}
	if (fault("copy_file_range", in, out))
		return -1;
	return real(in, oin, out, oout, len, flags);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (fault("pwrite", fd, -1))
		return -1;
	return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (fault("write", fd, -1))
		return -1;
	return real(fd, buf, len);
}
