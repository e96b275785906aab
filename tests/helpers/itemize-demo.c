/* SPDX-License-Identifier: Apache-2.0 */
/* itemize-demo: the itemize record an update would print for one entry, as
 * lib/compare.c and lib/itemize.c decide it, for the rsync oracle
 * (tests/cli/itemize-oracle.bats).
 *
 *   itemize-demo [-a] [-c] [-0] [-H FIRST] SRC DEST PATH
 *
 * Compares SRC/PATH with DEST/PATH (never following either) and prints the
 * record, or nothing when nothing differs: "*deleting" when only DEST has
 * PATH, new when only SRC has it. -a compares owner, group, mode, xattrs,
 * ACLs and flags too; -c compares content (by reading both files), as
 * --checksum does; -0 ends the record with NUL; -H FIRST says the entry is
 * placed as a hard link to FIRST (a name of its group already done). Valid
 * UTF-8 is printed as it is when the locale's charset is UTF-8. Test helper:
 * it opens the entries by path, which the library never does.
 */
#define TU_INTERNAL
#include "compare.h"
#include "itemize.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const char *path, int err)
{
	fprintf(stderr, "itemize-demo: %s '%s': %s\n", what, path, strerror(err));
	exit(1);
}

/* PATH opened O_PATH|O_NOFOLLOW with its statx, or fd -1 when absent. */
static int open_entry(const char *top, const char *rel, struct statx *stx)
{
	char *p;
	if (asprintf(&p, "%s/%s", top, rel) < 0)
		exit(1);
	int fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		die("cannot open", p, errno);
	if (fd >= 0 && statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, stx))
		die("cannot stat", p, errno);
	free(p);
	return fd;
}

/* Whether the two regular files hold the same bytes. */
static bool same_content(int a, int b)
{
	char pa[64], pb[64];
	snprintf(pa, sizeof pa, "/proc/self/fd/%d", a);
	snprintf(pb, sizeof pb, "/proc/self/fd/%d", b);
	FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
	if (!fa || !fb)
		die("cannot read", !fa ? pa : pb, errno);
	int ca, cb;
	do {
		ca = getc(fa);
		cb = getc(fb);
	} while (ca == cb && ca != EOF);
	fclose(fa);
	fclose(fb);
	return ca == cb;
}

int main(int argc, char **argv)
{
	unsigned what = 0, flags = 0;
	bool checksum = false;
	const char *first = NULL;
	int c;
	setlocale(LC_CTYPE, "");
	if (!strcmp(nl_langinfo(CODESET), "UTF-8"))
		flags |= TU_ITEMIZE_UTF8;
	while ((c = getopt(argc, argv, "ac0H:")) != -1) {
		switch (c) {
		case 'a': what = TU_CMP_ARCHIVE; break;
		case 'c': checksum = true; break;
		case '0': flags |= TU_ITEMIZE_NUL; break;
		case 'H': first = optarg; break;
		default: return 2;
		}
	}
	if (optind + 3 != argc) {
		fprintf(stderr, "usage: itemize-demo [-a] [-c] [-0] [-H FIRST] SRC DEST PATH\n");
		return 2;
	}
	const char *src = argv[optind], *dst = argv[optind + 1], *rel = argv[optind + 2];
	struct statx sx, dx;
	int sfd = open_entry(src, rel, &sx);
	int dfd = open_entry(dst, rel, &dx);
	struct tu_item it = { .path = rel };
	char target[4096];
	if (sfd < 0 && dfd < 0) {
		fprintf(stderr, "itemize-demo: '%s' is in neither tree\n", rel);
		return 1;
	}
	if (sfd < 0) {
		it.how = TU_ITEM_DELETED;
		it.type = tu_itemize_type(dx.stx_mode);
	} else {
		struct tu_cmp_entry s = { sfd, &sx }, d = { dfd, &dx };
		struct tu_cmp cmp;
		int r = tu_compare(&s, dfd < 0 ? NULL : &d, what, &cmp);
		if (r)
			die("cannot compare", rel, -r);
		if (checksum && S_ISREG(sx.stx_mode) && !(cmp.changed & (TU_CHG_NEW | TU_CHG_TYPE | TU_CHG_SIZE)))
			tu_compare_content(&cmp, same_content(sfd, dfd));
		if (!cmp.changed && !first)
			return 0;
		it.type = tu_itemize_type(sx.stx_mode);
		it.changed = cmp.changed;
		it.how = tu_itemize_how(it.type, cmp.changed, cmp.data, first != NULL);
		if (first) {
			it.link = first;
		} else if (S_ISLNK(sx.stx_mode)) {
			ssize_t n = readlinkat(sfd, "", target, sizeof target - 1);
			if (n < 0)
				die("cannot read link", rel, errno);
			target[n] = '\0';
			it.link = target;
		}
	}
	char line[16384];
	size_t n = tu_itemize_line(line, sizeof line, &it, flags);
	if (n >= sizeof line) {
		fprintf(stderr, "itemize-demo: record too long\n");
		return 1;
	}
	fwrite(line, 1, n, stdout);
	return 0;
}
