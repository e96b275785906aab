/* SPDX-License-Identifier: Apache-2.0 */
/* swapper: the symlink-race attacker used by the hostile tests.
 *
 *   swapper [-n MAX_SWAPS] [-t SECONDS] [-v] PATH_A PATH_B
 *
 * Exchanges PATH_A and PATH_B atomically with renameat2(RENAME_EXCHANGE), as fast
 * as it can, until MAX_SWAPS swaps have succeeded, SECONDS have passed (default
 * 10, fractions allowed; 0 = no time limit), or SIGTERM/SIGINT arrives. Then it
 * prints the number of successful swaps on stdout and exits 0.
 *
 * Typical use: PATH_A is a subdirectory inside a tree that a tool is deleting or
 * copying, PATH_B is a symlink pointing at a canary directory outside the tree.
 * Every swap puts the symlink where the directory was (and back). An odd count
 * means the two paths are left exchanged.
 *
 * Failures that the tool under attack causes (ENOENT: A or B already removed;
 * ENOTDIR, EBUSY, ESTALE and the like) are counted and retried after a
 * sched_yield() until the limit. Failures that mean the attack cannot work at
 * all (ENOSYS: no renameat2; EINVAL: the filesystem lacks RENAME_EXCHANGE or one
 * path contains the other; EXDEV: different mounts) stop it at once with a
 * message on stderr and exit status 1, so a hostile test never passes vacuously.
 * -v prints a summary of the failures on stderr at the end.
 *
 * Exit status: 0 done, 1 the attack cannot run, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stop.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif


static int exchange(const char *a, const char *b)
{
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

static void usage(FILE *f)
{
    fprintf(f, "usage: swapper [-n MAX_SWAPS] [-t SECONDS] [-v] PATH_A PATH_B\n"
               "  exchange PATH_A and PATH_B with renameat2(RENAME_EXCHANGE) in a loop;\n"
               "  -n stop after MAX_SWAPS successful swaps (default: no limit)\n"
               "  -t stop after SECONDS (default 10; 0 = no limit, then stop on SIGTERM)\n"
               "  -v print a failure summary on stderr\n"
               "  prints the number of successful swaps on stdout\n");
}

int main(int argc, char **argv)
{
    unsigned long long max_swaps = ULLONG_MAX;
    double limit = 10.0;
    int verbose = 0;
    int opt;

    while ((opt = getopt(argc, argv, "n:t:vh")) != -1) {
        char *end;
        switch (opt) {
        case 'n':
            errno = 0;
            max_swaps = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "swapper: bad -n value '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            errno = 0;
            limit = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(limit >= 0) || isinf(limit)) {
                fprintf(stderr, "swapper: bad -t value '%s'\n", optarg);
                return 2;
            }
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *a = argv[optind], *b = argv[optind + 1];

    catch_stop_signals();

    const double deadline = limit > 0 ? now_s() + limit : INFINITY;
    unsigned long long swaps = 0, enoent = 0, other = 0, attempts = 0;
    int last_other = 0, status = 0;

    while (!stop_requested && swaps < max_swaps) {
        /* clock_gettime is a vDSO call: checking every time costs little
           next to the rename, and keeps the limit tight. */
        if (now_s() >= deadline)
            break;
        attempts++;
        if (exchange(a, b) == 0) {
            swaps++;
            continue;
        }
        int e = errno;
        if (e == ENOSYS || e == EINVAL || e == EXDEV) {
            fprintf(stderr, "swapper: renameat2(%s, %s, RENAME_EXCHANGE): %s%s\n", a, b,
                    strerror(e),
                    e == EINVAL ? " (filesystem without RENAME_EXCHANGE, or one path"
                                  " inside the other?)"
                                : "");
            status = 1;
            break;
        }
        if (e == ENOENT)
            enoent++;
        else {
            other++;
            last_other = e;
        }
        sched_yield();
    }

    printf("%llu\n", swaps);
    if (verbose) {
        fprintf(stderr, "swapper: %llu swaps, %llu attempts, %llu ENOENT, %llu other", swaps,
                attempts, enoent, other);
        if (other)
            fprintf(stderr, " (last: %s)", strerror(last_other));
        fprintf(stderr, "\n");
    }
    if (fflush(stdout) != 0) {
        perror("swapper: stdout");
        return 1;
    }
    return status;
}
