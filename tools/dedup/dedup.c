/* SPDX-License-Identifier: Apache-2.0 */
/* dedup: replace identical files with hard links (or shared extents), list
 * duplicate groups, list hard-link groups, find every path of one inode.
 * The option table, then one call into the library; output lines, messages
 * and the exit status are made here.
 */
#include "common.h"

#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum what { DEDUP, LIST, LINKS, PATHS_OF };

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_dedup_opts o;
	struct tu_dedup_counts counts;
	struct tu_stats stats;
	enum what what;
	const char *paths_of;
	bool verbose;
	bool quiet;
	bool nul;
	bool tty;		/* --list: standard output is a terminal */
	bool json;		/* --list as JSON */
	bool sizes;		/* --list --size */
	const char **exclude;	/* --exclude patterns, o.exclude */
	bool progress;
	int nargs;
	char **args;
	uint64_t outside;	/* --paths-of: links found elsewhere */
	size_t found;
	/* --list: groups come from worker threads in no fixed order, so they
	   are kept and printed sorted at the end. */
	struct listed {
		char **paths;
		size_t n;
		uint64_t size;
		bool have_digest;
		unsigned char digest[16];
	} *listed;
	size_t nlisted, caplisted;
	bool list_oom;
};

enum {
	OPT_LIST = 256,
	OPT_LINKS,
	OPT_PATHS_OF,
	OPT_KEEP,
	OPT_REFLINK,
	OPT_TRUST_HASH,
	OPT_STORE,
	OPT_PROGRESS,
	OPT_EXCLUDE,
	OPT_INCLUDE_GIT,
	OPT_JSON,
	OPT_SIZE,
};

static const struct argp_option options[] = {
	{ 0, 0, 0, 0, "What to do (default: replace duplicates with hard links and print a "
	  "summary):", 1 },
	{ "list", OPT_LIST, 0, 0, "print the groups of identical files, one path a line, "
	  "groups separated by a blank line; change nothing", 1 },
	{ "size", OPT_SIZE, 0, 0, "with --list: before each group, 'N bytes each:' as fdupes "
	  "-S prints it", 1 },
	{ "json", OPT_JSON, 0, 0, "the same as --list, as JSON: each group's size, digest and "
	  "paths", 1 },
	{ "links", OPT_LINKS, 0, 0, "print every hard-link group under the DIRs: a line "
	  "'# links N, outside M', then its paths; change nothing", 1 },
	{ "paths-of", OPT_PATHS_OF, "FILE", 0, "print every path under the DIRs that is the "
	  "same inode as FILE; change nothing", 1 },
	{ 0, 0, 0, 0, "Matching (content and xattrs always; user.spookyhash never counts):", 2 },
	{ "ignore-owner", 'o', 0, 0, "owner and group need not match (as root: see dedup(1) "
	  "for whose file is kept)", 2 },
	{ "ignore-mode", 'p', 0, 0, "permission bits need not match", 2 },
	{ "ignore-time", 't', 0, 0, "modification times need not match", 2 },
	{ "content", 'c', 0, 0, "only content and xattrs must match: -o -p -t", 2 },
	{ "min-size", 's', "SIZE", 0, "leave out smaller files (default 1: empty "
	  "files are left out; 0 takes them); suffixes K, M, G, T (powers of 1024)", 2 },
	{ "max-size", 'S', "SIZE", 0, "leave out larger files", 2 },
	{ "trust-hash", OPT_TRUST_HASH, 0, 0, "link on equal 128-bit hashes, without "
	  "comparing the bytes", 2 },
	{ "store", OPT_STORE, "WHERE", 0, "where hash records are kept, as hashcache(1): auto "
	  "(default: the user.spookyhash xattr, else the directory's .spookyhashes file; "
	  "read from both), xattr or file", 2 },
	{ 0, 0, 0, 0, "Replacing:", 3 },
	{ "keep", OPT_KEEP, "WHICH", 0, "the file kept: most-linked (default; ties go to the "
	  "oldest), oldest, newest or first (first DIR, then path order)", 3 },
	{ "reflink", OPT_REFLINK, "WHEN", OPTION_ARG_OPTIONAL, "share extents with "
	  "FIDEDUPERANGE instead of linking (btrfs, xfs): names, inodes and metadata stay; "
	  "WHEN is always (the default) or auto (hard links where the filesystem cannot); "
	  "never means hard links, as without this option", 3 },
	{ "dry-run", 'n', 0, 0, "change nothing (not even ctime: no hash records are "
	  "stored); say what would be done", 3 },
	{ 0, 0, 0, 0, "Output and the walk:", 4 },
	{ "verbose", 'v', 0, 0, "print each action", 4 },
	{ "quiet", 'q', 0, 0, "no summary line (messages still go to stderr)", 4 },
	{ "null", '0', 0, 0, "with --list, --links and --paths-of: end each path with NUL, "
	  "print names as they are, and end each group with an empty record; with -v (or "
	  "-n -v): each action as three NUL-ended fields, what, path and kept file, and the "
	  "summary on stderr", 4 },
	{ "progress", OPT_PROGRESS, 0, 0, "show a progress line on stderr, when it is a terminal", 4 },
	{ "jobs", 'j', "N", 0, "worker threads (default: online CPUs)", 4 },
	{ "one-file-system", 'x', 0, 0, "do not enter other mounts below a DIR", 4 },
	{ "exclude", OPT_EXCLUDE, "PATTERN", 0, "leave out files and directories whose name "
	  "matches the shell PATTERN (may be repeated)", 4 },
	{ "include-git", OPT_INCLUDE_GIT, 0, 0, "enter directories named .git (left out by "
	  "default: linking git's own files can corrupt a repository)", 4 },
	{ 0 }
};

/* SIZE with an optional suffix K, M, G, T or P (powers of 1024; "KiB" and
   "k" are taken too). 0 or -1. */
static int parse_size(const char *arg, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)arg[0]))
		return -1;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno)
		return -1;
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case 'P': shift = 50; break;
	default: return -1;
	}
	if (*end) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
			end += strlen(end);
	}
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void set_what(struct argp_state *state, struct cli *c, enum what w)
{
	if (c->what != DEDUP && c->what != w)
		argp_error(state, "--list, --links and --paths-of exclude each other");
	c->what = w;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case OPT_LIST: set_what(state, c, LIST); break;
	case OPT_SIZE: c->sizes = true; break;
	case OPT_JSON:
		set_what(state, c, LIST);
		c->json = true;
		break;
	case OPT_LINKS: set_what(state, c, LINKS); break;
	case OPT_PATHS_OF:
		set_what(state, c, PATHS_OF);
		if (!arg[0])
			argp_error(state, "--paths-of wants a FILE");
		c->paths_of = arg;
		break;
	case OPT_KEEP:
		if (strcmp(arg, "most-linked") == 0)
			c->o.keep = TU_KEEP_MOST_LINKED;
		else if (strcmp(arg, "oldest") == 0)
			c->o.keep = TU_KEEP_OLDEST;
		else if (strcmp(arg, "newest") == 0)
			c->o.keep = TU_KEEP_NEWEST;
		else if (strcmp(arg, "first") == 0)
			c->o.keep = TU_KEEP_FIRST;
		else
			argp_error(state, "invalid --keep '%s': want most-linked, oldest, newest "
				   "or first", arg);
		break;
	case OPT_REFLINK:
		/* The value set every tool shares; never = hard links, as
		   without the option. */
		switch (tu_parse_reflink(state, arg)) {
		case TU_REFLINK_ALWAYS: c->o.reflink = TU_DEDUP_REFLINK; break;
		case TU_REFLINK_AUTO: c->o.reflink = TU_DEDUP_REFLINK_AUTO; break;
		case TU_REFLINK_NEVER: c->o.reflink = TU_DEDUP_HARDLINK; break;
		}
		break;
	case 's':
		if (parse_size(arg, &c->o.min_size) < 0)
			argp_error(state, "invalid --min-size '%s'", arg);
		break;
	case 'S':
		if (parse_size(arg, &c->o.max_size) < 0)
			argp_error(state, "invalid --max-size '%s'", arg);
		break;
	case 'o': c->o.ignore_owner = true; break;
	case 'p': c->o.ignore_mode = true; break;
	case 't': c->o.ignore_time = true; break;
	case 'c':
		c->o.ignore_owner = c->o.ignore_mode = c->o.ignore_time = true;
		break;
	case 'q': c->quiet = true; break;
	case OPT_TRUST_HASH: c->o.trust_hash = true; break;
	case OPT_STORE:
		if (tu_parse_store(arg, &c->o.store) < 0)
			argp_error(state, "invalid --store '%s': want auto, xattr or file", arg);
		break;
	case 'n': c->o.dry_run = true; break;
	case 'v': c->verbose = true; break;
	case '0': c->nul = true; break;
	case OPT_PROGRESS: c->progress = true; break;
	case 'j':
		if (tu_parse_jobs(arg, &c->o.jobs) < 0)
			argp_error(state, "invalid --jobs '%s': want a number from 1 to 1024", arg);
		break;
	case 'x': c->o.one_file_system = true; break;
	case OPT_EXCLUDE: {
		const char **p = realloc(c->exclude, (c->o.nexclude + 1) * sizeof *p);
		if (!p)
			argp_failure(state, TU_EXIT_USAGE, ENOMEM, "--exclude");
		p[c->o.nexclude++] = arg;
		c->exclude = p;
		c->o.exclude = p;
		break;
	}
	case OPT_INCLUDE_GIT: c->o.include_git = true; break;
	case ARGP_KEY_ARGS:
		c->args = state->argv + state->next;
		c->nargs = state->argc - state->next;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing DIR operand");
		break;
	case ARGP_KEY_END:
		if (c->o.min_size > c->o.max_size)
			argp_error(state, "--min-size is larger than --max-size");
		if (c->nul && c->what == DEDUP && !c->verbose)
			argp_error(state, "-0 goes with -v, --list, --links or --paths-of");
		if ((c->o.nexclude || c->o.include_git) && (c->what == LINKS || c->what == PATHS_OF))
			argp_error(state, "--exclude and --include-git go with a run or --list, "
				   "not --links or --paths-of");
		if (c->sizes && (c->what != LIST || c->json || c->nul))
			argp_error(state, "--size goes with --list, without -0 or --json");
		if (c->json && c->nul)
			argp_error(state, "--json and -0 exclude each other");
		if (c->quiet && c->verbose)
			argp_error(state, "-q and -v go against each other");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void end_group(const struct cli *c)
{
	if (c->nul)
		putchar('\0');
	else
		putchar('\n');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	return strcmp(x->paths[0], y->paths[0]);
}

static void on_group(const char *const *paths, size_t n, uint64_t size,
		     const unsigned char *digest, void *ctx)
{
	struct cli *c = ctx;
	if (c->what != LIST || n == 0 || c->list_oom)
		return;
	if (c->nlisted == c->caplisted) {
		size_t cap = c->caplisted ? c->caplisted * 2 : 64;
		struct listed *l = realloc(c->listed, cap * sizeof *l);
		if (!l) {
			c->list_oom = true;
			return;
		}
		c->listed = l;
		c->caplisted = cap;
	}
	char **copy = calloc(n, sizeof *copy);
	for (size_t i = 0; copy && i < n; i++) {
		copy[i] = strdup(paths[i]);
		if (!copy[i]) {
			while (i-- > 0)
				free(copy[i]);
			free(copy);
			copy = NULL;
		}
	}
	if (!copy) {
		c->list_oom = true;
		return;
	}
	/* The kept file stays first; the others follow in byte order. */
	qsort(copy + 1, n - 1, sizeof *copy, cmp_str);
	struct listed *l = &c->listed[c->nlisted++];
	*l = (struct listed){ copy, n, size, digest != NULL, { 0 } };
	if (digest)
		memcpy(l->digest, digest, 16);
}

/* Length of the valid UTF-8 sequence at S (a byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* PATH for a terminal, in a form a shell takes back as the same name, as
   GNU ls's shell-escape style: as it is when nothing in it is special to a
   shell, else in single quotes, or as $'...' where it holds control
   characters or bytes that are not UTF-8. */
static void print_shell_quoted(FILE *f, const char *path)
{
	const unsigned char *p = (const unsigned char *)path;
	bool plain = *p != '\0', odd = false;
	for (const unsigned char *q = p; *q; q++) {
		if (*q < 0x20 || *q == 0x7f) {
			odd = true;
		} else if (*q >= 0x80) {
			size_t n = utf8_seq(q);
			if (n == 0)
				odd = true;
			else
				q += n - 1;
			plain = false;
		} else if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_./,:+@%=-", *q)) {
			plain = false;
		}
	}
	if (plain && !odd) {
		fprintf(f, "%s\n", path);
		return;
	}
	if (!odd) {
		fputc('\'', f);
		for (const unsigned char *q = p; *q; q++)
			*q == '\'' ? fputs("'\\''", f) : fputc(*q, f);
		fputs("'\n", f);
		return;
	}
	fputs("$'", f);
	for (const unsigned char *q = p; *q; q++) {
		size_t n = *q >= 0x80 ? utf8_seq(q) : 1;
		if (*q == '\n')
			fputs("\\n", f);
		else if (*q == '\t')
			fputs("\\t", f);
		else if (*q == '\\' || *q == '\'')
			fprintf(f, "\\%c", *q);
		else if (*q < 0x20 || *q == 0x7f || n == 0)
			fprintf(f, "\\x%02x", *q);
		else {
			fwrite(q, 1, n, f);
			q += n - 1;
		}
	}
	fputs("'\n", f);
}

/* PATH as a JSON string. Bytes that are not UTF-8 become "\udcHH", as
   Python's surrogateescape decodes them (os.fsencode() gives the name
   back). */
static void print_json_string(FILE *f, const char *path)
{
	fputc('"', f);
	for (const unsigned char *q = (const unsigned char *)path; *q; q++) {
		size_t n = *q >= 0x80 ? utf8_seq(q) : 1;
		if (*q == '"' || *q == '\\')
			fprintf(f, "\\%c", *q);
		else if (*q == '\n')
			fputs("\\n", f);
		else if (*q == '\t')
			fputs("\\t", f);
		else if (*q < 0x20 || *q == 0x7f)
			fprintf(f, "\\u%04x", *q);
		else if (n == 0)
			fprintf(f, "\\udc%02x", *q);
		else {
			fwrite(q, 1, n, f);
			q += n - 1;
		}
	}
	fputc('"', f);
}

/* --json: the groups as one JSON object, a group a line. */
static void print_json(const struct cli *c)
{
	fputs("{\"groups\": [", stdout);
	for (size_t g = 0; g < c->nlisted; g++) {
		const struct listed *l = &c->listed[g];
		printf("%s\n  {\"size\": %llu, \"digest\": ", g ? "," : "",
		       (unsigned long long)l->size);
		if (l->have_digest) {
			putchar('"');
			for (int i = 0; i < 16; i++)
				printf("%02x", l->digest[i]);
			putchar('"');
		} else {
			fputs("null", stdout);
		}
		fputs(", \"paths\": [", stdout);
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				fputs(", ", stdout);
			print_json_string(stdout, l->paths[i]);
		}
		fputs("]}", stdout);
	}
	fputs(c->nlisted ? "\n]}\n" : "]}\n", stdout);
}

/* --list: raw paths, one a line, where standard output is not a terminal,
   as fdupes and jdupes print them (what scripts read); quoted for a shell
   on a terminal; NUL-ended with -0. */
static void print_listed_path(const struct cli *c, const char *path)
{
	if (c->nul)
		tu_print_path(stdout, NULL, path, true);
	else if (c->tty)
		print_shell_quoted(stdout, path);
	else
		printf("%s\n", path);
}

/* Print the --list groups sorted: the kept file first, the others in byte
   order, groups by their kept file's name. Returns -1 if they could not all be kept in memory. */
static int print_listed(struct cli *c)
{
	qsort(c->listed, c->nlisted, sizeof *c->listed, cmp_listed);
	c->tty = isatty(STDOUT_FILENO);
	if (c->json)
		print_json(c);
	for (size_t g = 0; g < c->nlisted; g++) {
		if (c->json) {
			for (size_t i = 0; i < c->listed[g].n; i++)
				free(c->listed[g].paths[i]);
			free(c->listed[g].paths);
			continue;
		}
		if (c->sizes)
			printf("%llu byte%s each:\n", (unsigned long long)c->listed[g].size,
			       c->listed[g].size == 1 ? "" : "s");
		for (size_t i = 0; i < c->listed[g].n; i++) {
			print_listed_path(c, c->listed[g].paths[i]);
			free(c->listed[g].paths[i]);
		}
		free(c->listed[g].paths);
		end_group(c);
	}
	free(c->listed);
	return c->list_oom ? -1 : 0;
}

static void on_action(const struct tu_dedup_action *a, void *ctx)
{
	struct cli *c = ctx;
	if (!c->verbose || c->what == LIST)
		return;
	if (c->nul) {
		const char *what = a->leftover ? (c->o.dry_run ? "would remove" : "removed") :
				   a->reflink ? (c->o.dry_run ? "would reflink" : "reflinked") :
				   (c->o.dry_run ? "would link" : "linked");
		printf("%s%c%s%c%s%c", what, 0, a->path, 0, a->kept, 0);
		return;
	}
	char *p = tu_quote(a->path), *k = tu_quote(a->kept);
	tu_out_begin(stdout);	/* below a --progress line on the terminal */
	if (a->leftover)
		printf("%s %s (a link of %s left by an interrupted run)\n",
		       c->o.dry_run ? "would remove" : "removed", p, k);
	else
		printf("%s %s => %s%s\n",
		       a->reflink ? (c->o.dry_run ? "would reflink" : "reflinked") :
				    (c->o.dry_run ? "would link" : "linked"),
		       p, k, a->freed ? (c->o.dry_run ? " (would free its data)" : " (data freed)") : "");
	tu_out_end(stdout);
	tu_quote_free(p);
	tu_quote_free(k);
}

static void on_links(const char *const *paths, size_t n, uint64_t nlink, void *ctx)
{
	struct cli *c = ctx;
	if (c->what == PATHS_OF) {
		for (size_t i = 0; i < n; i++)
			tu_print_path(stdout, NULL, paths[i], c->nul);
		c->found = n;
		c->outside = nlink > n ? nlink - n : 0;
		return;
	}
	char head[64];
	snprintf(head, sizeof head, "# links %llu, outside %llu", (unsigned long long)nlink,
		 (unsigned long long)(nlink > n ? nlink - n : 0));
	if (c->nul) {
		fputs(head, stdout);
		putchar('\0');
	} else {
		puts(head);
	}
	for (size_t i = 0; i < n; i++)
		tu_print_path(stdout, NULL, paths[i], c->nul);
	end_group(c);
}

static uint64_t get(_Atomic uint64_t *v) { return atomic_load(v); }

static void human(char *buf, size_t len, double v)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void print_summary(struct cli *c, FILE *f)
{
	struct tu_dedup_counts *n = &c->counts;
	bool dry = c->o.dry_run;
	char h[32];
	human(h, sizeof h, (double)get(&n->bytes_freed));
	fprintf(f, "groups %llu, %s %llu, %s %llu (%s)", (unsigned long long)get(&n->groups),
		dry ? "files to link" : "files linked", (unsigned long long)get(&n->linked),
		dry ? "bytes to free" : "bytes freed", (unsigned long long)get(&n->bytes_freed), h);
	if (c->o.reflink != TU_DEDUP_HARDLINK) {
		human(h, sizeof h, (double)get(&n->bytes_shared));
		fprintf(f, ", %s %llu, %s %llu (%s)", dry ? "files to reflink" : "files reflinked",
			(unsigned long long)get(&n->reflinked),
			dry ? "bytes to share" : "bytes shared",
			(unsigned long long)get(&n->bytes_shared), h);
	}
	fputc('\n', f);
	if (c->verbose)
		fprintf(f, "files %llu, first blocks read %llu, hashed %llu, cached %llu, "
			"compared %llu, changed %llu, leftovers removed %llu, errors %ld, "
			"warnings %ld\n",
			(unsigned long long)get(&n->files), (unsigned long long)get(&n->prefixes),
			(unsigned long long)get(&n->hashed), (unsigned long long)get(&n->cached),
			(unsigned long long)get(&n->compared), (unsigned long long)get(&n->changed),
			(unsigned long long)get(&n->leftovers), c->rep.errors, c->rep.warnings);
}

static const struct argp argp = {
	options, parse_opt, "DIR|FILE...",
	"Find regular files under the DIRs whose content and extended attributes are "
	"identical, and replace the duplicates with hard links to one kept file (or share "
	"their extents); or list duplicate groups, hard-link groups, or the paths of one "
	"inode. A FILE operand joins the candidates itself.\v"
	"By default owner, group, mode and modification time must match too, as a hard "
	"link gives every name one of each. Symlinks and special files are never touched; "
	"files on different filesystems or mounts are never linked to each other. Each "
	"duplicate is linked under a temporary name, checked unchanged, then exchanged with "
	"its name; what came out is checked to be the duplicate, or put back. "
	"Exit status: 0 all done; 1 some files failed (each reported); 2 bad usage, or "
	"nothing could start (no DIR could be opened). "
	"See dedup(1).",
	NULL, NULL, NULL
};

int main(int argc, char **argv)
{
	tu_cli_init("dedup");
	static struct cli c;
	tu_dedup_opts_init(&c.o);
	if (argp_parse(&argp, argc, argv, 0, NULL, &c) != 0)
		return TU_EXIT_USAGE;
	const char *const *dirs = (const char *const *)c.args;
	size_t ndirs = (size_t)c.nargs;
	struct tu_progress *p = c.progress ? tu_progress_start(&c.stats, "scanned", "files", true) : NULL;
	int r;
	if (c.what == LINKS || c.what == PATHS_OF) {
		struct tu_links_opts lo;
		tu_links_opts_init(&lo);
		lo.jobs = c.o.jobs;
		lo.one_file_system = c.o.one_file_system;
		lo.error = tu_report_error;
		lo.group = on_links;
		lo.stats = &c.stats;
		lo.ctx = &c;
		r = c.what == LINKS ? tu_links(dirs, ndirs, &lo) :
				      tu_paths_of(c.paths_of, dirs, ndirs, &lo);
	} else {
		if (c.what == LIST)
			c.o.dry_run = true;
		c.o.error = tu_report_error;
		c.o.warning = tu_report_warning;
		c.o.group = on_group;
		c.o.action = on_action;
		c.o.stats = &c.stats;
		c.o.counts = &c.counts;
		c.o.ctx = &c;
		r = tu_dedup(dirs, ndirs, &c.o);
	}
	tu_progress_stop(p);
	if (c.what == PATHS_OF && r == 0 && c.outside) {
		char *q = tu_quote(c.paths_of);
		fprintf(stderr, "%s: %llu more link%s of %s lie%s outside the DIRs\n", tu_prog,
			(unsigned long long)c.outside, c.outside == 1 ? "" : "s", q,
			c.outside == 1 ? "s" : "");
		tu_quote_free(q);
	}
	uint64_t git = atomic_load(&c.counts.git_dirs);
	if (git && !c.quiet)
		tu_warn("left out %llu '.git' director%s: linking git's own files can corrupt a "
			"repository (--include-git takes them)", (unsigned long long)git,
			git == 1 ? "y" : "ies");
	bool list_failed = c.what == LIST && print_listed(&c) < 0;
	if (list_failed)
		tu_warn("out of memory: some duplicate groups were not listed");
	if (c.what == DEDUP && !c.quiet && r >= 0)	/* r < 0: nothing started */
		print_summary(&c, c.nul ? stderr : stdout);
	else if (c.what == LIST && c.verbose)
		print_summary(&c, stderr);
	int status = tu_exit_status(r, c.rep.errors > 0 || list_failed);
	free(c.exclude);
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		status = TU_EXIT_SOME;
	}
	return status;
}
