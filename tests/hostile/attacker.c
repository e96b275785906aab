/* SPDX-License-Identifier: Apache-2.0 */
/* attacker: the one hostile user of the race tests, for every tool.
 *
 *   attacker [-s SEED] [-t SECONDS] [-n ACTIONS] [-a ATTACKS] [-H HOLD]
 *            [-b BAIT] [-P PLANTS] [-l LOG] [-r READY] [-v] TREE CANARY
 *
 * Run as an unprivileged user (tests/lib/attack.bash starts it through
 * setpriv as nobody) while a tool works on TREE. Until ACTIONS actions were
 * tried, SECONDS passed (default 5, fractions allowed; 0 = no limit) or
 * SIGTERM/SIGINT arrives, it picks an entry of TREE at random (a random
 * descent from the top) and one attack of ATTACKS (default "xmfsp"):
 *
 *   x  exchange the entry with a symlink to CANARY (directories) or to a
 *      file in it, with renameat2(RENAME_EXCHANGE), hold, exchange back;
 *   m  move a subtree away (into HOLD, or elsewhere in TREE without -H)
 *      and back;
 *   f  exchange a non-directory with a FIFO, a hard link (to BAIT, a file
 *      outside TREE, where the kernel allows it, else to another file of
 *      TREE) or another file, hold, exchange back;
 *   s  save a regular file by rename: write a new file beside it, with the
 *      same mode, holding "saved SEED N\n", and rename it over the name
 *      (never undone: a save is a real change);
 *   p  plant a .spookyhashes (forged records, garbage, a FIFO, a directory,
 *      a symlink to a canary file, a hard link) or a .tu- name (file,
 *      directory, FIFO, symlink to CANARY); at most PLANTS (default 64),
 *      left in place.
 *
 * "Hold" is a seeded choice between no wait, a few sched_yield()s and up to
 * 2 ms of sleep. An action whose undo fails because the tool removed or
 * moved something is counted, not retried; a stop request waits for the
 * action under way to be undone. Its own temporary names start ".atk-".
 *
 * With the same SEED and the same tree the choices are the same; the timing
 * of the tool is not, so a seed reproduces the kind of run, not every step.
 * -l writes one line per action to LOG (for a reproducer); -r creates the
 * file READY once SIGTERM stops it cleanly (wait for it before starting the
 * tool). At the end it
 * prints one line on stdout:
 *   actions N, exchange N, move N, swap N, save N, plant N, undone N, failed N
 * and exits 0 (a test checks the counts, so it never passes vacuously); 1
 * when RENAME_EXCHANGE never worked here (the filesystem lacks it); 2 on bad
 * usage.
 *
 * It must never touch CANARY: it only makes symlinks to it and (where the
 * kernel allows) hard links to BAIT, and it never writes through either.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/stop.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define ATK_PREFIX ".atk-"

static const char *tree, *canary, *hold_dir, *bait;
static unsigned long long seed;
static uint64_t rng_state;
static FILE *log_file;

static struct {
	unsigned long long actions, exchange, move, swap, save, plant, undone, failed;
	unsigned long long exdev_inval;
} n;

/* splitmix64: small, seedable, good enough to pick entries. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned k)
{
	return k ? (unsigned)(rnd() % k) : 0;
}

static void logmsg(const char *fmt, ...)
{
	if (!log_file)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(log_file, "%llu ", n.actions);
	vfprintf(log_file, fmt, ap);
	fputc('\n', log_file);
	va_end(ap);
}

static int exchange(const char *a, const char *b)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static int rename_noreplace(const char *a, const char *b)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE);
}

/* Give the tool a moment with the attack in place. */
static void hold(void)
{
	switch (rnd_below(3)) {
	case 0:
		break;
	case 1:
		for (unsigned i = rnd_below(16) + 1; i; i--)
			sched_yield();
		break;
	default: {
		struct timespec ts = { 0, (long)rnd_below(2000) * 1000 };
		nanosleep(&ts, NULL);
	}
	}
}

/* Exchange A and B back after an attack. If the tool removed what lay at A
   meanwhile, B is renamed back to A instead. Counted as undone or failed. */
static void undo_exchange(const char *a, const char *b)
{
	if (exchange(a, b) == 0 || (errno == ENOENT && rename_noreplace(b, a) == 0))
		n.undone++;
	else
		n.failed++;
}

/* A fresh name of ours in DIR: DIR/.atk-HEX. 0, or -1 if too long. */
static int tmp_name(char *out, size_t cap, const char *dir)
{
	int k = snprintf(out, cap, "%s/" ATK_PREFIX "%016llx", dir, (unsigned long long)rnd());
	return k < 0 || (size_t)k >= cap ? -1 : 0;
}

struct pick {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct stat st;
};

/* A random entry below TREE (never TREE itself, never one of ours). WANT
   is 0 (anything), S_IFDIR or S_IFREG. Returns 0 or -1. */
static int pick(struct pick *p, mode_t want)
{
	snprintf(p->dir, sizeof p->dir, "%s", tree);
	for (int depth = 0; depth < 256; depth++) {
		DIR *d = opendir(p->dir);
		if (!d && depth > 0 && want != S_IFREG) {
			/* A directory we may not read (a tool's, still 0700):
			   attack it as a whole. */
			char *slash = strrchr(p->dir, '/');
			*slash = '\0';
			return 0;
		}
		if (!d)
			return -1;
		char name[NAME_MAX + 1] = "";
		unsigned seen = 0;
		struct dirent *e;
		/* Reservoir sampling: one entry, each as likely as the next. */
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    !strncmp(e->d_name, ATK_PREFIX, strlen(ATK_PREFIX)))
				continue;
			if (rnd_below(++seen) == 0)
				snprintf(name, sizeof name, "%s", e->d_name);
		}
		closedir(d);
		if (!seen)
			return -1;
		if ((size_t)snprintf(p->path, sizeof p->path, "%s/%s", p->dir, name) >=
		    sizeof p->path)
			return -1;
		if (lstat(p->path, &p->st) < 0)
			return -1;
		int is_dir = S_ISDIR(p->st.st_mode);
		if (is_dir && (want == S_IFREG || rnd_below(3) != 0)) {
			snprintf(p->dir, sizeof p->dir, "%s", p->path);
			continue;
		}
		if (!want || (p->st.st_mode & S_IFMT) == want)
			return 0;
		return -1;
	}
	return -1;
}

/* x: exchange with a symlink to the canary, and back. */
static int attack_exchange(void)
{
	struct pick p;
	if (pick(&p, 0) < 0)
		return -1;
	char target[PATH_MAX], link[PATH_MAX];
	if (S_ISDIR(p.st.st_mode) || rnd_below(2))
		snprintf(target, sizeof target, "%s", canary);
	else
		snprintf(target, sizeof target, "%s/file", canary);
	if (tmp_name(link, sizeof link, p.dir) < 0 || symlink(target, link) < 0)
		return -1;
	if (exchange(p.path, link) < 0) {
		if (errno == EINVAL || errno == ENOSYS)
			n.exdev_inval++;
		unlink(link);
		return -1;
	}
	n.exchange++;
	logmsg("exchange %s %s", p.path, target);
	hold();
	undo_exchange(p.path, link);
	/* Ours again, or gone; never anything of the tool's. */
	char buf[PATH_MAX];
	ssize_t k = readlink(link, buf, sizeof buf - 1);
	if (k >= 0) {
		buf[k] = '\0';
		if (!strcmp(buf, target))
			unlink(link);
	}
	return 0;
}

/* m: move a subtree away and back. */
static int attack_move(void)
{
	struct pick p;
	if (pick(&p, rnd_below(4) ? S_IFDIR : 0) < 0)
		return -1;
	char away[PATH_MAX];
	struct pick q;
	if (!hold_dir && pick(&q, 0) < 0)
		return -1;
	if (tmp_name(away, sizeof away, hold_dir ? hold_dir : q.dir) < 0 ||
	    rename_noreplace(p.path, away) < 0)
		return -1;
	n.move++;
	logmsg("move %s %s", p.path, away);
	hold();
	if (rename_noreplace(away, p.path) == 0)
		n.undone++;
	else
		n.failed++;	/* the name was taken meanwhile: left away */
	return 0;
}

/* A replacement for a regular file in DIR: a FIFO, a hard link or another
   file. Returns 0 with its name in OUT. */
static int make_replacement(char *out, size_t cap, const char *dir, const char *self)
{
	if (tmp_name(out, cap, dir) < 0)
		return -1;
	switch (rnd_below(3)) {
	case 0:
		return mkfifo(out, 0666);
	case 1: {
		if (bait && link(bait, out) == 0)
			return 0;
		struct pick q;
		if (pick(&q, S_IFREG) == 0 && strcmp(q.path, self) && link(q.path, out) == 0)
			return 0;
		/* No link possible: another file then. */
		__attribute__((fallthrough));
	}
	default: {
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		static const char other[] = "attacker's file\n";
		if (write(fd, other, sizeof other - 1) < 0) {
			close(fd);
			unlink(out);
			return -1;
		}
		return close(fd);
	}
	}
}

/* f: swap a file (or a FIFO, a symlink, a device: any non-directory) for
   a FIFO, a hard link or another file, and back. */
static int attack_swap(void)
{
	struct pick p;
	if (pick(&p, rnd_below(2) ? S_IFREG : 0) < 0 || S_ISDIR(p.st.st_mode))
		return -1;
	char r[PATH_MAX];
	if (make_replacement(r, sizeof r, p.dir, p.path) < 0)
		return -1;
	if (exchange(p.path, r) < 0) {
		unlink(r);
		return -1;
	}
	n.swap++;
	logmsg("swap %s %s", p.path, r);
	hold();
	undo_exchange(p.path, r);
	/* R is the replacement again (or the tool removed it): drop it,
	   unless it is now the tool's file. */
	struct stat st;
	if (lstat(r, &st) == 0 && (st.st_dev != p.st.st_dev || st.st_ino != p.st.st_ino))
		unlink(r);
	return 0;
}

/* s: save a file by rename, as an editor does. */
static int attack_save(void)
{
	struct pick p;
	if (pick(&p, S_IFREG) < 0)
		return -1;
	char tmp[PATH_MAX];
	if (tmp_name(tmp, sizeof tmp, p.dir) < 0)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	char text[64];
	int len = snprintf(text, sizeof text, "saved %llu %llu\n", seed, n.save);
	if (write(fd, text, (size_t)len) != len || fchmod(fd, p.st.st_mode & 07777) < 0 ||
	    close(fd) < 0) {
		unlink(tmp);
		return -1;
	}
	n.save++;
	logmsg("save %s", p.path);
	if (rename(tmp, p.path) < 0) {
		unlink(tmp);
		n.failed++;
	}
	return 0;
}

/* p: plant a .spookyhashes or a .tu- name, left in place. */
static int attack_plant(unsigned long long max_plants)
{
	if (n.plant >= max_plants)
		return -1;
	struct pick p;
	if (pick(&p, S_IFDIR) < 0)
		return -1;
	char at[PATH_MAX], target[PATH_MAX];
	int k = rnd_below(2) ? snprintf(at, sizeof at, "%s/.spookyhashes", p.path)
			     : snprintf(at, sizeof at, "%s/.tu-%016llx%016llx", p.path,
					(unsigned long long)rnd(), (unsigned long long)rnd());
	if (k < 0 || (size_t)k >= sizeof at)
		return -1;
	snprintf(target, sizeof target, "%s/file", canary);
	int kind = (int)rnd_below(5), r = -1;
	switch (kind) {
	case 0:
		r = symlink(rnd_below(2) ? target : canary, at);
		break;
	case 1:
		r = mkfifo(at, 0666);
		break;
	case 2:
		r = mkdir(at, 0777);
		break;
	case 3:
		r = bait ? link(bait, at) : -1;
		if (r == 0)
			break;
		__attribute__((fallthrough));
	default: {
		/* Records that parse but lie, and garbage. A planted file
		   replaces nothing: it is made under our name and renamed
		   only where the name is free. */
		char tmp[PATH_MAX];
		if (tmp_name(tmp, sizeof tmp, p.path) < 0)
			return -1;
		FILE *f = fopen(tmp, "wx");
		if (!f)
			return -1;
		fprintf(f, "spookyhashes 1\n");
		for (unsigned i = rnd_below(8); i; i--)
			fprintf(f, "%016llx%016llx %u 0 0 %u 0 f%u %08x\n",
				(unsigned long long)rnd(), (unsigned long long)rnd(),
				rnd_below(100), rnd_below(1000), rnd_below(100), (unsigned)rnd());
		if (rnd_below(2))
			fprintf(f, "not a record \\x\n\001\002");
		if (fclose(f) != 0) {
			unlink(tmp);
			return -1;
		}
		r = rename_noreplace(tmp, at);
		if (r < 0)
			unlink(tmp);
	}
	}
	if (r < 0)
		return -1;
	n.plant++;
	logmsg("plant %s kind %d", at, kind);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: attacker [-s SEED] [-t SECONDS] [-n ACTIONS] [-a xmfsp] [-H HOLD]\n"
		   "                [-b BAIT] [-P PLANTS] [-l LOG] [-r READY] [-v] TREE CANARY\n");
}

static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long max_actions = ULLONG_MAX, max_plants = 64;
	double limit = 5.0;
	const char *attacks = "xmfsp", *log_path = NULL, *ready = NULL;
	int verbose = 0, opt;
	seed = (unsigned long long)time(NULL) ^ (unsigned long long)getpid();

	while ((opt = getopt(argc, argv, "s:t:n:a:H:b:P:l:r:vh")) != -1) {
		char *end;
		switch (opt) {
		case 's':
			if (parse_ull(optarg, &seed) < 0)
				goto bad;
			break;
		case 't':
			errno = 0;
			limit = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(limit >= 0) || isinf(limit))
				goto bad;
			break;
		case 'n':
			if (parse_ull(optarg, &max_actions) < 0)
				goto bad;
			break;
		case 'a':
			attacks = optarg;
			if (!*attacks || strspn(attacks, "xmfsp") != strlen(attacks))
				goto bad;
			break;
		case 'H':
			hold_dir = optarg;
			break;
		case 'b':
			bait = optarg;
			break;
		case 'P':
			if (parse_ull(optarg, &max_plants) < 0)
				goto bad;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'r':
			ready = optarg;
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
		continue;
bad:
		fprintf(stderr, "attacker: bad -%c value '%s'\n", opt, optarg);
		return 2;
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	tree = argv[optind];
	canary = argv[optind + 1];
	rng_state = seed;
	if (log_path && !(log_file = fopen(log_path, "we"))) {
		perror("attacker: log");
		return 2;
	}
	if (log_file)
		setvbuf(log_file, NULL, _IOLBF, 0);

	catch_stop_signals();
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror("attacker: ready file");
			return 2;
		}
		close(fd);
	}

	const double deadline = limit > 0 ? now_s() + limit : INFINITY;
	size_t nattacks = strlen(attacks);
	while (!stop_requested && n.actions < max_actions && now_s() < deadline) {
		n.actions++;
		int r;
		switch (attacks[rnd_below((unsigned)nattacks)]) {
		case 'x': r = attack_exchange(); break;
		case 'm': r = attack_move(); break;
		case 'f': r = attack_swap(); break;
		case 's': r = attack_save(); break;
		default: r = attack_plant(max_plants); break;
		}
		if (r < 0)
			sched_yield();	/* nothing to attack just now */
	}

	printf("actions %llu, exchange %llu, move %llu, swap %llu, save %llu, plant %llu, "
	       "undone %llu, failed %llu\n",
	       n.actions, n.exchange, n.move, n.swap, n.save, n.plant, n.undone, n.failed);
	if (verbose)
		fprintf(stderr, "attacker: seed %llu\n", seed);
	if (log_file)
		fclose(log_file);
	if (fflush(stdout) != 0)
		return 1;
	if (n.exdev_inval && !n.undone) {
		fprintf(stderr, "attacker: RENAME_EXCHANGE is not supported here\n");
		return 1;
	}
	return 0;
}
