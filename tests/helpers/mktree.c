/* SPDX-License-Identifier: Apache-2.0 */
/* mktree: fast tree generator for tests and benchmarks.
 *
 *   mktree flat   DIR N            DIR/f0000000 ... N empty files in one directory
 *   mktree spread DIR DIRS FILES   DIR/d000000 ... DIRS directories, each with FILES
 *                                  empty files f0000000 ...
 *   mktree chain  DIR DEPTH        DIR/d/d/d/... DEPTH directories; each holds one
 *                                  small file "f" (works far beyond PATH_MAX)
 *   mktree wide   DIR N            DIR/d0000000 ... N empty subdirectories
 *   mktree sized  DIR N SIZE       DIR/f0000000 ... N files of SIZE bytes each
 *                                  (suffix K, M or G = KiB, MiB, GiB) with
 *                                  pseudo-random content from a fixed seed: the
 *                                  same command always writes the same bytes, and
 *                                  no two files are alike
 *
 * DIR is created if missing (its parent must exist); an existing directory is
 * used as it is, but an entry mktree wants to create must not exist yet.
 * Everything is created relative to held directory fds (mkdirat, openat,
 * mknodat), never through long path strings. Numbers are zero-padded so names
 * sort in creation order; they widen beyond 7 digits when needed.
 * Prints nothing on success; on error, a message on stderr and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MODE 0644
#define DIR_MODE 0755

static const char *root_name; /* DIR as given, for messages */

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mktree: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Message for a failed call on entry NAME at depth DEPTH below DIR. */
static void die_at(const char *what, unsigned long long depth, const char *name, int err)
{
    if (depth > 1)
        die("%s %s/.../%s (depth %llu): %s", what, root_name, name, depth, strerror(err));
    die("%s %s/%s: %s", what, root_name, name, strerror(err));
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mktree flat   DIR N\n"
            "       mktree spread DIR DIRS FILES\n"
            "       mktree chain  DIR DEPTH\n"
            "       mktree wide   DIR N\n"
            "       mktree sized  DIR N SIZE[K|M|G]\n");
    exit(1);
}

static unsigned long long parse_count(const char *s, const char *what, int suffixes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-' || s[0] == '+')
        die("bad %s '%s': expected a non-negative integer", what, s);
    if (suffixes && *end) {
        unsigned shift = 0;
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: break;
        }
        if (shift && end[1] == '\0') {
            if (v > (ULLONG_MAX >> shift))
                die("bad %s '%s': too large", what, s);
            return v << shift;
        }
    }
    if (*end)
        die("bad %s '%s': expected a non-negative integer%s", what, s,
            suffixes ? " with optional K, M or G" : "");
    return v;
}

/* Open DIR, creating it if needed. */
static int open_root(const char *dir)
{
    if (mkdir(dir, DIR_MODE) != 0 && errno != EEXIST)
        die("cannot create directory %s: %s", dir, strerror(errno));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open directory %s: %s", dir, strerror(errno));
    return fd;
}

/* Create an empty regular file NAME in DFD. mknodat is one system call where
   open+close is two; fall back to open where mknod of a regular file is refused. */
static int mknod_ok = 1;
static void make_empty(int dfd, const char *name, unsigned long long depth)
{
    if (mknod_ok) {
        if (mknodat(dfd, name, S_IFREG | FILE_MODE, 0) == 0)
            return;
        if (errno != EPERM && errno != EINVAL && errno != EOPNOTSUPP)
            die_at("cannot create file", depth, name, errno);
        mknod_ok = 0;
    }
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
    if (fd < 0)
        die_at("cannot create file", depth, name, errno);
    if (close(fd) != 0)
        die_at("cannot close file", depth, name, errno);
}

static void write_all(int fd, const void *buf, size_t len, unsigned long long depth,
                      const char *name)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_at("cannot write", depth, name, errno);
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Create NAME in DFD holding LEN bytes of BUF. */
static void make_file(int dfd, const char *name, unsigned long long depth, const void *buf,
                      size_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
    if (fd < 0)
        die_at("cannot create file", depth, name, errno);
    write_all(fd, buf, len, depth, name);
    if (close(fd) != 0)
        die_at("cannot close file", depth, name, errno);
}

static void make_dir(int dfd, const char *name, unsigned long long depth)
{
    if (mkdirat(dfd, name, DIR_MODE) != 0)
        die_at("cannot create directory", depth, name, errno);
}

static int open_dir(int dfd, const char *name, unsigned long long depth)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        die_at("cannot open directory", depth, name, errno);
    return fd;
}

static void fill_empty_files(int dfd, unsigned long long n, unsigned long long depth)
{
    char name[32];
    for (unsigned long long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "f%07llu", i);
        make_empty(dfd, name, depth);
    }
}

static void cmd_flat(int root, unsigned long long n) { fill_empty_files(root, n, 1); }

static void cmd_spread(int root, unsigned long long dirs, unsigned long long files)
{
    char name[32];
    for (unsigned long long d = 0; d < dirs; d++) {
        snprintf(name, sizeof name, "d%06llu", d);
        make_dir(root, name, 1);
        int fd = open_dir(root, name, 1);
        fill_empty_files(fd, files, 2);
        close(fd);
    }
}

static void cmd_wide(int root, unsigned long long n)
{
    char name[32];
    for (unsigned long long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "d%07llu", i);
        make_dir(root, name, 1);
    }
}

static void cmd_chain(int root, unsigned long long depth)
{
    char content[64];
    int fd = root;
    for (unsigned long long level = 1; level <= depth; level++) {
        make_dir(fd, "d", level);
        int next = open_dir(fd, "d", level);
        if (fd != root)
            close(fd);
        fd = next;
        int len = snprintf(content, sizeof content, "level %llu\n", level);
        make_file(fd, "f", level, content, (size_t)len);
    }
    if (fd != root)
        close(fd);
}

/* xoshiro256** seeded through splitmix64: fast, and the same bytes on every run. */
static uint64_t rng_s[4];

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng_s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(void)
{
    uint64_t *s = rng_s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_fill(unsigned char *buf, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = rng_next();
        memcpy(buf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = rng_next();
        memcpy(buf + i, &v, len - i);
    }
}

static void cmd_sized(int root, unsigned long long n, unsigned long long size)
{
    enum { BUF = 1 << 20 };
    unsigned char *buf = malloc(BUF);
    char name[32];
    if (!buf)
        die("out of memory");
    rng_seed(0x74726565757469ULL); /* "treeuti" */
    for (unsigned long long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "f%07llu", i);
        int fd = openat(root, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                        FILE_MODE);
        if (fd < 0)
            die_at("cannot create file", 1, name, errno);
        for (unsigned long long left = size; left > 0;) {
            size_t chunk = left < BUF ? (size_t)left : BUF;
            rng_fill(buf, chunk);
            write_all(fd, buf, chunk, 1, name);
            left -= chunk;
        }
        if (close(fd) != 0)
            die_at("cannot close file", 1, name, errno);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    int nargs = argc - 3; /* numbers after DIR */
    if (argc < 3)
        usage();
    root_name = argv[2];

    if (strcmp(mode, "flat") == 0 && nargs == 1) {
        unsigned long long n = parse_count(argv[3], "N", 0);
        cmd_flat(open_root(argv[2]), n);
    } else if (strcmp(mode, "spread") == 0 && nargs == 2) {
        unsigned long long dirs = parse_count(argv[3], "DIRS", 0);
        unsigned long long files = parse_count(argv[4], "FILES", 0);
        cmd_spread(open_root(argv[2]), dirs, files);
    } else if (strcmp(mode, "chain") == 0 && nargs == 1) {
        unsigned long long depth = parse_count(argv[3], "DEPTH", 0);
        cmd_chain(open_root(argv[2]), depth);
    } else if (strcmp(mode, "wide") == 0 && nargs == 1) {
        unsigned long long n = parse_count(argv[3], "N", 0);
        cmd_wide(open_root(argv[2]), n);
    } else if (strcmp(mode, "sized") == 0 && nargs == 2) {
        unsigned long long n = parse_count(argv[3], "N", 0);
        unsigned long long size = parse_count(argv[4], "SIZE", 1);
        cmd_sized(open_root(argv[2]), n, size);
    } else {
        usage();
    }
    return 0;
}
