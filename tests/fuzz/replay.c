/* SPDX-License-Identifier: Apache-2.0 */
/* replay: runs one tests/fuzz target over saved inputs without libFuzzer,
 * for `make check` (normal and ASan builds): every file named, and every
 * file in every directory named, is passed to LLVMFuzzerTestOneInput once.
 * A target reports a broken property by abort(), so a bad input fails the
 * run with its name printed first. Test code only: it reads the inputs and
 * never writes anything.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Targets without an initializer get this one. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			unsigned char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return 1;
	}
	fprintf(stderr, "replay %s\n", path);
	/* An exact-size copy, so a read past the input is caught. */
	unsigned char *exact = malloc(len ? len : 1);
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;
	long inputs = 0;
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]);
			inputs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			size_t l = strlen(argv[i]) + strlen(e->d_name) + 2;
			char *p = malloc(l);
			snprintf(p, l, "%s/%s", argv[i], e->d_name);
			bad |= run_file(p);
			inputs++;
			free(p);
		}
		if (d)
			closedir(d);
	}
	printf("%ld inputs replayed\n", inputs);
	return bad;
}
