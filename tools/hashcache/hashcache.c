/* hashcache: SpookyHash V2 digests of files, cached in an xattr or a
 * .spookyhashes file per directory. The option table, then one call into the
 * library per argument; output lines, messages and the exit status are made
 * here.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_CORRUPT = 3 };	/* --check found bit rot (see hashcache(1)) */

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_hashcache_opts o;
	struct tu_hashcache_counts counts;
	struct tu_stats stats;
	bool quiet;
	bool verbose;
	bool nul;
	bool progress;
	int nargs;
	char **args;
};

enum {
	OPT_SHOW = 256,
	OPT_CLEAR,
	OPT_FIX,
	OPT_NO_STORE,
	OPT_STORE,
	OPT_PROGRESS,
};

static const struct argp_option options[] = {
	{ 0, 0, 0, 0, "What to do (default: make sure every file has a valid cached hash, "
	  "hash only those that lack one, print 'HASH  PATH' lines):", 1 },
	{ "check", 'c', 0, 0, "re-read every file and compare it with its record; print "
	  "OK, NEW, CHANGED or CORRUPT per file; exit 3 if anything is CORRUPT", 1 },
	{ "fix", OPT_FIX, 0, 0, "with --check, replace the records of CORRUPT files", 1 },
	{ "show", OPT_SHOW, 0, 0, "print the cached hashes without reading any file "
	  "('-' where there is no valid record)", 1 },
	{ "clear", OPT_CLEAR, 0, 0, "remove our records (the xattr and .spookyhashes entries)", 1 },
	{ 0, 0, 0, 0, "Where records live:", 2 },
	{ "store", OPT_STORE, "WHERE", 0, "auto (default: the user.spookyhash xattr, a "
	  ".spookyhashes file per directory where xattrs are refused), xattr or file", 2 },
	{ "no-store", OPT_NO_STORE, 0, 0, "use the records, but write and remove none", 2 },
	{ "dry-run", 'n', 0, 0, "the same as --no-store", 2 },
	{ 0, 0, 0, 0, "Output and the walk:", 3 },
	{ "quiet", 'q', 0, 0, "print no per-file lines", 3 },
	{ "null", '0', 0, 0, "end each output line with NUL instead of newline, and print "
	  "names as they are", 3 },
	{ "verbose", 'v', 0, 0, "at the end, print counts on stderr (files, cached, hashed, "
	  "bytes read, stored...)", 3 },
	{ "progress", OPT_PROGRESS, 0, 0, "show a progress line on stderr", 3 },
	{ "jobs", 'j', "N", 0, "worker threads (default: online CPUs)", 3 },
	{ "one-file-system", 'x', 0, 0, "do not enter other mounts", 3 },
	{ 0 }
};

static void set_mode(struct argp_state *state, struct cli *c, enum tu_hashcache_mode m)
{
	if (c->o.mode != TU_HASHCACHE_UPDATE && c->o.mode != m)
		argp_error(state, "--check, --show and --clear exclude each other");
	c->o.mode = m;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case 'c': set_mode(state, c, TU_HASHCACHE_CHECK); break;
	case OPT_SHOW: set_mode(state, c, TU_HASHCACHE_SHOW); break;
	case OPT_CLEAR: set_mode(state, c, TU_HASHCACHE_CLEAR); break;
	case OPT_FIX: c->o.fix = true; break;
	case OPT_STORE:
		if (tu_parse_store(arg, &c->o.store) < 0)
			argp_error(state, "invalid --store '%s': want auto, xattr or file", arg);
		break;
	case OPT_NO_STORE:
	case 'n': c->o.no_store = true; break;
	case 'q': c->quiet = true; break;
	case '0': c->nul = true; break;
	case 'v': c->verbose = true; break;
	case OPT_PROGRESS: c->progress = true; break;
	case 'j':
		if (tu_parse_jobs(arg, &c->o.jobs) < 0)
			argp_error(state, "invalid --jobs '%s': want a number from 1 to 1024", arg);
		break;
	case 'x': c->o.one_file_system = true; break;
	case ARGP_KEY_ARGS:
		c->args = state->argv + state->next;
		c->nargs = state->argc - state->next;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing PATH operand");
		break;
	case ARGP_KEY_END:
		if (c->o.fix && c->o.mode != TU_HASHCACHE_CHECK)
			argp_error(state, "--fix goes with --check");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* One output line, the md5sum way: "FIELD  PATH". A path holding a
   backslash, newline or carriage return is written with those escaped
   (\\, \n, \r) and the line starts with a backslash, as md5sum does. With
   -0 the path is written as it is and the line ends with NUL. */
static void print_line(const char *field, const char *path, bool nul)
{
	if (nul) {
		printf("%s  %s", field, path);
		putchar('\0');
		return;
	}
	if (!strpbrk(path, "\\\n\r")) {
		printf("%s  %s\n", field, path);
		return;
	}
	printf("\\%s  ", field);
	for (const char *p = path; *p; p++) {
		switch (*p) {
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		default: putchar(*p); break;
		}
	}
	putchar('\n');
}

static const char *status_word(enum tu_hash_status s)
{
	switch (s) {
	case TU_HASH_OK: return "OK";
	case TU_HASH_NEW: return "NEW";
	case TU_HASH_CHANGED: return "CHANGED";
	case TU_HASH_CORRUPT: return "CORRUPT";
	case TU_HASH_CLEARED: return "cleared";
	default: return "?";
	}
}

static void on_file(const char *path, const struct tu_hash_info *h, void *ctx)
{
	struct cli *c = ctx;
	if (c->quiet)
		return;
	switch (c->o.mode) {
	case TU_HASHCACHE_UPDATE:
		print_line(h->hex, path, c->nul);
		break;
	case TU_HASHCACHE_SHOW:
		print_line(h->have_digest ? h->hex : "-", path, c->nul);
		break;
	case TU_HASHCACHE_CHECK:
		print_line(status_word(h->status), path, c->nul);
		break;
	case TU_HASHCACHE_CLEAR:
		/* Only with -v: a cleared tree is quiet by default. */
		if (c->verbose && h->status == TU_HASH_CLEARED)
			print_line(c->o.no_store ? "would clear" : "cleared", path, c->nul);
		break;
	}
}

static uint64_t get(_Atomic uint64_t *v) { return atomic_load(v); }

static void print_counts(const struct cli *c)
{
	struct tu_hashcache_counts *n = (struct tu_hashcache_counts *)&c->counts;
	fprintf(stderr, "%s: files %llu, cached %llu, hashed %llu, bytes read %llu, "
		"stored %llu, not stored %llu, skipped %llu, errors %ld, warnings %ld\n", tu_prog,
		(unsigned long long)get(&n->files), (unsigned long long)get(&n->cached),
		(unsigned long long)get(&n->hashed), (unsigned long long)get(&n->bytes_read),
		(unsigned long long)get(&n->stored), (unsigned long long)get(&n->not_stored),
		(unsigned long long)get(&n->skipped), c->rep.errors, c->rep.warnings);
	if (c->o.mode == TU_HASHCACHE_CHECK)
		fprintf(stderr, "%s: ok %llu, new %llu, changed %llu, corrupt %llu\n", tu_prog,
			(unsigned long long)get(&n->status[TU_HASH_OK]),
			(unsigned long long)get(&n->status[TU_HASH_NEW]),
			(unsigned long long)get(&n->status[TU_HASH_CHANGED]),
			(unsigned long long)get(&n->status[TU_HASH_CORRUPT]));
}

static const struct argp argp = {
	options, parse_opt, "PATH...",
	"Print the SpookyHash V2 (128-bit) hash of every regular file in each PATH (a "
	"file, or a directory walked recursively), in md5sum format, reading only files "
	"whose cached hash is missing or outdated; or check files against their cached "
	"hashes to find silent corruption.\v"
	"A cached hash is trusted only while the file's size and mtime (in a .spookyhashes "
	"file also its ctime and inode) are unchanged, and only if the file was last "
	"modified safely before it was hashed. Symlinks are never followed inside a "
	"tree, and special files are never opened. Exit status: 0 all done; 1 some files "
	"failed (each reported); 2 bad usage; 3 --check found a CORRUPT file. "
	"See hashcache(1) for the record formats.",
	NULL, NULL, NULL
};

int main(int argc, char **argv)
{
	tu_cli_init("hashcache");
	static struct cli c;
	tu_hashcache_opts_init(&c.o);
	if (argp_parse(&argp, argc, argv, 0, NULL, &c) != 0)
		return TU_EXIT_USAGE;
	c.o.error = tu_report_error;
	c.o.warning = tu_report_warning;
	c.o.file = on_file;
	c.o.stats = &c.stats;
	c.o.counts = &c.counts;
	c.o.ctx = &c;
	struct tu_progress *p = c.progress ? tu_progress_start(&c.stats, "files", true) : NULL;
	int status = TU_EXIT_OK;
	for (int i = 0; i < c.nargs; i++) {
		long before = c.rep.errors;
		int r = tu_hashcache_tree(c.args[i], &c.o);
		if (r < 0 || c.rep.errors > before)
			status = TU_EXIT_SOME;
	}
	tu_progress_stop(p);
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		status = TU_EXIT_SOME;
	}
	if (c.verbose)
		print_counts(&c);
	if (atomic_load(&c.counts.status[TU_HASH_CORRUPT]) > 0)
		status = EXIT_CORRUPT;
	return status;
}
