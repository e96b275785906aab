/* SPDX-License-Identifier: Apache-2.0 */
/* An LD_PRELOAD shim for tests: unlinkat() on a name equal to $TU_FAULT_NAME
 * fails with errno $TU_FAULT_ERRNO (a number) for the first $TU_FAULT_COUNT
 * calls (-1: always); so does a name that starts with $TU_FAULT_PREFIX, if
 * set (e.g. ".tu-", to follow an entry renamed away). Every call on that name is counted in the file
 * $TU_FAULT_LOG, one line each, so a test can see how often it was tried. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int calls;

int unlinkat(int dirfd, const char *name, int flags)
{
	static int (*real)(int, const char *, int);
	if (!real)
		real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
	const char *want = getenv("TU_FAULT_NAME");
	const char *prefix = getenv("TU_FAULT_PREFIX");
	if ((want && strcmp(name, want) == 0) ||
	    (prefix && strncmp(name, prefix, strlen(prefix)) == 0)) {
		const char *log = getenv("TU_FAULT_LOG");
		if (log) {
			int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			if (fd >= 0) {
				(void)!write(fd, "call\n", 5);
				close(fd);
			}
		}
		int count = atoi(getenv("TU_FAULT_COUNT") ? getenv("TU_FAULT_COUNT") : "-1");
		if (count < 0 || calls++ < count) {
			errno = atoi(getenv("TU_FAULT_ERRNO") ? getenv("TU_FAULT_ERRNO") : "16");
			return -1;
		}
	}
	return real(dirfd, name, flags);
}
