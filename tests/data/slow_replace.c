/* SPDX-License-Identifier: Apache-2.0 */
/* slow_replace.c: LD_PRELOAD shim for tests/hostile/dedup.bats. A rename
 * whose source is a temporary name of ours (.tu-...) waits TU_SLOW_US
 * microseconds (default 20000) first, so that a racing writer reliably
 * lands in the instant between dedup's last check of a name and its
 * replacement. It changes nothing else and never fails a call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void wait_if_ours(const char *oldname)
{
	const char *base = strrchr(oldname, '/');
	base = base ? base + 1 : oldname;
	if (strncmp(base, ".tu-", 4) != 0)
		return;
	const char *us = getenv("TU_SLOW_US");
	usleep(us ? (useconds_t)atoi(us) : 20000);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	static int (*real)(int, const char *, int, const char *);
	if (!real)
		real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
	wait_if_ours(oldpath);
	return real(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	static int (*real)(int, const char *, int, const char *, unsigned int);
	if (!real)
		real = (int (*)(int, const char *, int, const char *, unsigned int))
			dlsym(RTLD_NEXT, "renameat2");
	wait_if_ours(oldpath);
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}
