/* SPDX-License-Identifier: Apache-2.0 */
/* exclude-demo: what a copy of DIR would take under exclude rules, as
 * decided by lib/exclude.c, for the rsync oracle (tests/cli/exclude-oracle.bats).
 *
 *   exclude-demo [-e PATTERN]... [-f FILE]... DIR
 *
 * Prints the path relative to DIR of every entry a copy would take, one a
 * line, directories with a trailing '/', in no particular order; an
 * excluded directory is not entered. -e adds a pattern (--exclude), -f the
 * patterns of FILE (--exclude-from). A refused pattern: a message and exit
 * status 2. Test data only: it never follows a symlink (lstat types), and
 * walks by path, which is fine for the small trees of the tests.
 */
#define TU_INTERNAL
#include "exclude.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct tu_exclude *x;

static void walk(const char *top, const char *rel)
{
	char *path;
	if (asprintf(&path, "%s%s%s", top, *rel ? "/" : "", rel) < 0)
		exit(1);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "exclude-demo: cannot open '%s': %s\n", path, strerror(errno));
		exit(1);
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *sub, *full;
		if (asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0 ||
		    asprintf(&full, "%s/%s", top, sub) < 0)
			exit(1);
		struct stat st;
		if (lstat(full, &st)) {
			fprintf(stderr, "exclude-demo: cannot stat '%s': %s\n", full, strerror(errno));
			exit(1);
		}
		bool is_dir = S_ISDIR(st.st_mode);
		if (!tu_exclude_match(x, sub, e->d_name, is_dir)) {
			printf("%s%s\n", sub, is_dir ? "/" : "");
			if (is_dir)
				walk(top, sub);
		}
		free(sub);
		free(full);
	}
	closedir(d);
	free(path);
}

int main(int argc, char **argv)
{
	if (tu_exclude_new(&x))
		return 1;
	int c;
	while ((c = getopt(argc, argv, "e:f:")) != -1) {
		int r;
		size_t line = 0;
		if (c == 'e') {
			r = tu_exclude_add(x, optarg);
		} else if (c == 'f') {
			int fd = open(optarg, O_RDONLY | O_CLOEXEC);
			r = fd < 0 ? -errno : tu_exclude_add_file(x, fd, &line);
			if (fd >= 0)
				close(fd);
		} else {
			return 2;
		}
		if (r) {
			fprintf(stderr, "exclude-demo: '%s'%s: %s\n", optarg,
				line ? " (a line)" : "", strerror(-r));
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: exclude-demo [-e PATTERN]... [-f FILE]... DIR\n");
		return 2;
	}
	walk(argv[optind], "");
	tu_exclude_free(x);
	return 0;
}
