/* SPDX-License-Identifier: Apache-2.0 */
/* tu-example.c: the smallest complete user of libtreeutils, built against
 * the installed library through pkg-config (tests/cli/abi.bats builds it
 * both shared and static):
 *
 *	cc tu-example.c $(pkg-config --cflags --libs treeutils)
 *
 * tu-example hash PATH   print the SpookyHash V2 of each file under PATH
 * tu-example cp SRC DST  copy the tree SRC to DST, keeping everything (-a)
 * tu-example rm DIR      remove DIR and everything below it
 *
 * It shows the return convention (0 or -errno), the per-entry error
 * callback and the counters. It must never print from a callback anything
 * but its own report.
 */
#include <treeutils.h>

#include <stdio.h>
#include <string.h>

static int on_error(const struct tu_err *e, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "tu-example: cannot %s '%s': %s%s%s%s\n", e->op, e->path,
		strerror(e->err), e->detail ? " (" : "", e->detail ? e->detail : "",
		e->detail ? ")" : "");
	return TU_CONTINUE;
}

static void on_file(const char *path, const struct tu_hash_info *h, void *ctx)
{
	(void)ctx;
	if (h->have_digest)
		printf("%s  %s\n", h->hex, path);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc != (strcmp(argv[1], "cp") == 0 ? 4 : 3)) {
		fprintf(stderr, "usage: tu-example hash PATH | cp SRC DST | rm DIR\n");
		return 2;
	}
	int r;
	if (strcmp(argv[1], "cp") == 0) {
		struct tu_cptree_opts o;
		tu_cptree_opts_init(&o);
		o.archive = true;
		o.error = on_error;
		r = tu_cptree(argv[2], argv[3], &o);
	} else if (strcmp(argv[1], "hash") == 0) {
		struct tu_hashcache_opts o;
		tu_hashcache_opts_init(&o);
		o.no_store = true;	/* read records, write none */
		o.error = on_error;
		o.file = on_file;
		r = tu_hashcache_tree(argv[2], &o);
	} else if (strcmp(argv[1], "rm") == 0) {
		struct tu_stats stats = { 0 };
		struct tu_rmtree_opts o;
		tu_rmtree_opts_init(&o);
		o.error = on_error;
		o.stats = &stats;
		r = tu_rmtree(argv[2], &o);
		if (r == 0)
			printf("removed %llu entries\n", (unsigned long long)stats.entries);
	} else {
		fprintf(stderr, "tu-example: unknown command '%s'\n", argv[1]);
		return 2;
	}
	if (r < 0)
		fprintf(stderr, "tu-example: %s\n", strerror(-r));
	return r == 0 ? 0 : 1;
}
