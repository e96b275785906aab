/* SPDX-License-Identifier: Apache-2.0 */
/* hashcache: SpookyHash V2 digests of files, cached in an xattr or a
 * .spookyhashes file per directory. The option table, then one call into the
 * library per argument; output lines, messages and the exit status are made
 * here. Lines of a PATH are sorted by path before they are written, and are
 * written whole (a group of whole lines per write), so two runs diff clean
 * and two processes on one pipe never split each other's lines. -c reads
 * md5sum-style lists.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_CORRUPT = 3 };	/* --check found bit rot (see hashcache(1)) */

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_hashcache_opts o;
	struct tu_hashcache_counts counts;
	struct tu_stats stats;
	bool quiet;
	bool status_only;	/* -c --status: no output, the exit status tells */
	bool check_list;	/* -c: operands are md5sum-style lists */
	bool verbose;
	bool nul;
	bool progress;
	bool out_failed;	/* a write to stdout failed */
	const char *files0_from;
	int nargs;
	char **args;
	/* Lines of the PATH being done, sorted before they are written. */
	struct line *lines;
	size_t nlines, caplines;
	/* -c: what was found, for the closing warnings and the exit status. */
	unsigned long bad_lines, unreadable, mismatched;
};

/* One output line: its path (the sort key) and its text, whole. */
struct line {
	char *path;
	char *text;
	size_t len;
};

enum {
	OPT_CHECK = 256,
	OPT_SHOW,
	OPT_STATUS,
	OPT_FILES0_FROM,
	OPT_CLEAR,
	OPT_FIX,
	OPT_NO_STORE,
	OPT_STORE,
	OPT_PROGRESS,
};

static const struct argp_option options[] = {
	{ 0, 0, 0, 0, "What to do (default: make sure every file has a valid cached hash, "
	  "hash only those that lack one, print 'HASH  PATH' lines):", 1 },
	{ "check", OPT_CHECK, 0, 0, "re-read every file and compare it with its record; print "
	  "OK, NEW, CHANGED or CORRUPT per file; exit 3 if anything is CORRUPT", 1 },
	{ "check-list", 'c', 0, 0, "read 'HASH  NAME' lines (md5sum format; '-' or no "
	  "operand: standard input) from each operand and check the files they name, "
	  "printing 'NAME: OK' or 'NAME: FAILED'; a directory operand is checked as with "
	  "--check", 1 },
	{ "status", OPT_STATUS, 0, 0, "with -c, print nothing: the exit status tells", 1 },
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
	{ "quiet", 'q', 0, 0, "with --check or -c, print no OK lines; otherwise print no "
	  "per-file lines", 3 },
	{ "files0-from", OPT_FILES0_FROM, "FILE", 0, "take the operands from FILE, each "
	  "ended by a NUL ('-': standard input)", 3 },
	{ "null", '0', 0, 0, "end each output line with NUL instead of newline, and print "
	  "names as they are", 3 },
	{ "verbose", 'v', 0, 0, "at the end, print counts on stderr (files, cached, hashed, "
	  "bytes read, stored...)", 3 },
	{ "progress", OPT_PROGRESS, 0, 0, "show a progress line on stderr, when it is a terminal", 3 },
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
	case OPT_CHECK: set_mode(state, c, TU_HASHCACHE_CHECK); break;
	case 'c':
		set_mode(state, c, TU_HASHCACHE_CHECK);
		c->check_list = true;
		break;
	case OPT_STATUS: c->status_only = true; break;
	case OPT_FILES0_FROM: c->files0_from = arg; break;
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
		/* md5sum -c reads its list from standard input. */
		if (!c->check_list && !c->files0_from)
			argp_error(state, "missing PATH operand");
		break;
	case ARGP_KEY_END:
		if (c->o.fix && c->o.mode != TU_HASHCACHE_CHECK)
			argp_error(state, "--fix goes with --check");
		if (c->o.fix && c->check_list)
			argp_error(state, "--fix goes with --check, not with -c");
		if (c->status_only && !c->check_list)
			argp_error(state, "--status goes with -c");
		if (c->nul && c->check_list)
			argp_error(state, "-0 does not go with -c: lists are lines");
		if (c->files0_from && c->nargs > 0)
			argp_error(state, "file operands cannot be combined with --files0-from");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* A growing string, for building one line. */
struct str {
	char *p;
	size_t len, cap;
	bool oom;
};

static void str_add(struct str *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 128;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void str_puts(struct str *b, const char *s) { str_add(b, s, strlen(s)); }

/* NAME the md5sum way: a backslash, newline or carriage return in it is
   escaped (\\, \n, \r), and *ESCAPED says so (the line then starts with a
   backslash). */
static void add_escaped(struct str *b, const char *name)
{
	for (const char *p = name; *p; p++) {
		switch (*p) {
		case '\\': str_puts(b, "\\\\"); break;
		case '\n': str_puts(b, "\\n"); break;
		case '\r': str_puts(b, "\\r"); break;
		default: str_add(b, p, 1); break;
		}
	}
}

static bool needs_escape(const char *name) { return strpbrk(name, "\\\n\r") != NULL; }

/* "FIELD  PATH", the md5sum way: a path holding a backslash, newline or
   carriage return is escaped and the line starts with a backslash. With -0
   the path is as it is and the line ends with NUL. */
static void format_line(struct str *b, const char *field, const char *path, bool nul)
{
	if (nul) {
		str_puts(b, field);
		str_puts(b, "  ");
		str_puts(b, path);
		str_add(b, "", 1);
		return;
	}
	bool esc = needs_escape(path);
	if (esc)
		str_puts(b, "\\");
	str_puts(b, field);
	str_puts(b, "  ");
	if (esc)
		add_escaped(b, path);
	else
		str_puts(b, path);
	str_puts(b, "\n");
}

/* Write LEN bytes to standard output, all of them. */
static void out_write(struct cli *c, const char *p, size_t len)
{
	tu_out_begin(stdout);	/* below a --progress line on the terminal */
	while (len > 0 && !c->out_failed) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			tu_out_end(stdout);
			tu_warn("write error on standard output: %s", strerror(err));
			c->out_failed = true;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
	tu_out_end(stdout);
}

/* Keep a line of the PATH being done; NULL PATH: written at once. */
static void emit(struct cli *c, const char *path, struct str *b)
{
	if (b->oom) {
		free(b->p);
		tu_warn("out of memory for an output line");
		c->out_failed = true;
		return;
	}
	if (!path) {
		out_write(c, b->p, b->len);
		free(b->p);
		return;
	}
	if (c->nlines == c->caplines) {
		size_t ncap = c->caplines ? c->caplines * 2 : 256;
		struct line *nl = realloc(c->lines, ncap * sizeof *nl);
		if (!nl) {
			free(b->p);
			tu_warn("out of memory for an output line");
			c->out_failed = true;
			return;
		}
		c->lines = nl;
		c->caplines = ncap;
	}
	char *key = strdup(path);
	if (!key) {
		free(b->p);
		c->out_failed = true;
		return;
	}
	c->lines[c->nlines++] = (struct line){ .path = key, .text = b->p, .len = b->len };
}

/* Paths in the order of a walk that takes each directory's entries by name:
   byte order, except that '/' comes before every other byte ("a/b" before
   "a-b"), so a directory's contents stay together. */
static int path_cmp(const void *pa, const void *pb)
{
	const unsigned char *a = (const unsigned char *)((const struct line *)pa)->path;
	const unsigned char *b = (const unsigned char *)((const struct line *)pb)->path;
	for (;; a++, b++) {
		int x = *a == '/' ? 1 : *a ? *a + 1 : 0;
		int y = *b == '/' ? 1 : *b ? *b + 1 : 0;
		if (x != y)
			return x < y ? -1 : 1;
		if (!x)
			return 0;
	}
}

/* Write the lines kept so far, sorted, in groups of whole lines of at most
   PIPE_BUF bytes (a longer line alone): a write of up to PIPE_BUF bytes to a
   pipe is never interleaved with another process's. */
static void flush_lines(struct cli *c)
{
	if (c->nlines == 0)
		return;
	qsort(c->lines, c->nlines, sizeof *c->lines, path_cmp);
	char group[PIPE_BUF];
	size_t glen = 0;
	for (size_t i = 0; i < c->nlines; i++) {
		struct line *l = &c->lines[i];
		if (glen + l->len > sizeof group) {
			out_write(c, group, glen);
			glen = 0;
		}
		if (l->len > sizeof group) {
			out_write(c, l->text, l->len);
		} else {
			memcpy(group + glen, l->text, l->len);
			glen += l->len;
		}
		free(l->path);
		free(l->text);
	}
	out_write(c, group, glen);
	c->nlines = 0;
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
	bool check = c->o.mode == TU_HASHCACHE_CHECK;
	/* -q: in a check, only the OK lines go; otherwise every line. */
	if (c->quiet && (!check || h->status == TU_HASH_OK))
		return;
	const char *field = NULL;
	switch (c->o.mode) {
	case TU_HASHCACHE_UPDATE:
		field = h->hex;
		break;
	case TU_HASHCACHE_SHOW:
		field = h->have_digest ? h->hex : "-";
		break;
	case TU_HASHCACHE_CHECK:
		field = status_word(h->status);
		break;
	case TU_HASHCACHE_CLEAR:
		/* Only with -v: a cleared tree is quiet by default. */
		if (c->verbose && h->status == TU_HASH_CLEARED)
			field = c->o.no_store ? "would clear" : "cleared";
		break;
	}
	if (!field)
		return;
	struct str b = { 0 };
	format_line(&b, field, path, c->nul);
	emit(c, path, &b);
}

/* ---- -c: md5sum-style lists ------------------------------------------------------ */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Parse one list line (its newline removed) as md5sum does: an optional
   leading backslash (the name is escaped), 32 hex digits, a space, a space
   or '*' (binary mode, the same to us), the name. NAME gets the unescaped
   name (LEN + 1 bytes). False: not properly formatted. */
static bool parse_list_line(char *line, size_t len, unsigned char digest[16], char *name)
{
	bool esc = len > 0 && line[0] == '\\';
	if (esc) {
		line++;
		len--;
	}
	if (len < 35 || line[32] != ' ' || (line[33] != ' ' && line[33] != '*'))
		return false;
	for (int i = 0; i < 16; i++) {
		int hi = hexval((unsigned char)line[2 * i]), lo = hexval((unsigned char)line[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		digest[i] = (unsigned char)(hi << 4 | lo);
	}
	size_t o = 0;
	for (size_t i = 34; i < len; i++) {
		char ch = line[i];
		if (ch == '\0')
			return false;
		if (esc && ch == '\\') {
			if (++i == len)
				return false;
			if (line[i] == '\\')
				ch = '\\';
			else if (line[i] == 'n')
				ch = '\n';
			else if (line[i] == 'r')
				ch = '\r';
			else
				return false;
		}
		name[o++] = ch;
	}
	name[o] = '\0';
	return o > 0;
}

/* "NAME: WORD" as md5sum -c prints it. */
static void list_result(struct cli *c, const char *name, const char *word)
{
	if (c->status_only)
		return;
	/* md5sum -c escapes a name only for a line break in it. */
	struct str b = { 0 };
	if (strpbrk(name, "\n\r")) {
		str_puts(&b, "\\");
		add_escaped(&b, name);
	} else {
		str_puts(&b, name);
	}
	str_puts(&b, ": ");
	str_puts(&b, word);
	str_puts(&b, "\n");
	emit(c, NULL, &b);
}

/* Check the files listed in LIST ("-": standard input). False: LIST is a
   directory, to be checked as --check does. */
static bool check_list(struct cli *c, struct tu_hashcache *hc, const char *list)
{
	bool is_stdin = strcmp(list, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(list, "r");
	if (!f) {
		struct tu_err e = { .op = "open", .err = errno, .path = list };
		tu_report_error(&e, c);
		return true;
	}
	char *line = NULL, *name = NULL;
	size_t cap = 0, namecap = 0;
	ssize_t n;
	unsigned long good = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;	/* md5sum skips comments */
		if ((size_t)n + 1 > namecap) {
			char *nn = realloc(name, (size_t)n + 1);
			if (!nn)
				break;
			name = nn;
			namecap = (size_t)n + 1;
		}
		unsigned char want[16];
		if (!parse_list_line(line, len, want, name)) {
			c->bad_lines++;
			continue;
		}
		good++;
		struct tu_hash_info h;
		bool name_stdin = strcmp(name, "-") == 0;
		int r = tu_hashcache_digest_path(hc, name_stdin ? NULL : name, &h);
		if (r < 0) {
			struct tu_err e = { .op = "read", .err = -r, .path = name };
			tu_print_err(&e);
			c->unreadable++;
			list_result(c, name, "FAILED open or read");
			continue;
		}
		if (memcmp(h.digest, want, 16) != 0) {
			c->mismatched++;
			list_result(c, name, "FAILED");
		} else if (!c->quiet) {
			list_result(c, name, "OK");
		}
	}
	bool is_dir = false;
	if (ferror(f) && errno == EISDIR) {
		is_dir = true;
	} else if (ferror(f)) {
		struct tu_err e = { .op = "read", .err = errno, .path = list };
		tu_report_error(&e, c);
	} else if (good == 0) {
		char *q = tu_quote(list);
		tu_warn("%s: no properly formatted SpookyHash checksum lines found", q);
		tu_quote_free(q);
		c->rep.errors++;
	}
	free(line);
	free(name);
	if (!is_stdin)
		fclose(f);
	return !is_dir;
}

/* md5sum's closing warnings, on stderr. */
static void list_warnings(const struct cli *c)
{
	if (c->status_only)
		return;
	if (c->bad_lines)
		tu_warn("WARNING: %lu line%s improperly formatted", c->bad_lines,
			c->bad_lines == 1 ? " is" : "s are");
	if (c->unreadable)
		tu_warn("WARNING: %lu listed file%s could not be read", c->unreadable,
			c->unreadable == 1 ? "" : "s");
	if (c->mismatched)
		tu_warn("WARNING: %lu computed checksum%s did NOT match", c->mismatched,
			c->mismatched == 1 ? "" : "s");
}

/* ---- --files0-from ---------------------------------------------------------------- */

/* Read the NUL-ended names in FILE as the operands. 0, or -1 (said). */
static int read_files0(struct cli *c)
{
	bool is_stdin = strcmp(c->files0_from, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(c->files0_from, "r");
	if (!f) {
		char *q = tu_quote(c->files0_from);
		tu_warn("cannot open %s: %s", q, strerror(errno));
		tu_quote_free(q);
		return -1;
	}
	char *name = NULL;
	size_t cap = 0, nargs = 0, capargs = 0;
	char **args = NULL;
	ssize_t n;
	while ((n = getdelim(&name, &cap, '\0', f)) >= 0) {
		if (nargs == capargs) {
			capargs = capargs ? capargs * 2 : 64;
			char **na = realloc(args, capargs * sizeof *na);
			if (!na)
				break;
			args = na;
		}
		/* A last name without its NUL counts too, as with du. */
		args[nargs++] = strndup(name, (size_t)n);
	}
	int r = ferror(f) ? -1 : 0;
	if (r < 0) {
		char *q = tu_quote(c->files0_from);
		tu_warn("cannot read %s: %s", q, strerror(errno));
		tu_quote_free(q);
	}
	free(name);
	if (!is_stdin)
		fclose(f);
	c->args = args;
	c->nargs = (int)nargs;
	return r;
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
	if (c.files0_from && read_files0(&c) < 0)
		return TU_EXIT_USAGE;
	static char *from_stdin[] = { "-" };
	if (c.check_list && c.nargs == 0 && !c.files0_from) {
		c.args = from_stdin;
		c.nargs = 1;
	}
	struct tu_hashcache *hc = NULL;
	if (tu_hashcache_open(&hc, &c.o) < 0) {
		tu_warn("out of memory");
		return TU_EXIT_USAGE;
	}
	const char *verb = c.o.mode == TU_HASHCACHE_CHECK ? "checked" : "looked at";
	struct tu_progress *p = c.progress ? tu_progress_start(&c.stats, verb, "files", true) : NULL;
	int status = TU_EXIT_OK;
	for (int i = 0; i < c.nargs; i++) {
		long before = c.rep.errors;
		const char *arg = c.args[i];
		if (arg[0] == '\0' && c.files0_from) {
			tu_warn("invalid zero-length file name in %s", c.files0_from);
			status = TU_EXIT_SOME;
			continue;
		}
		if (c.check_list && check_list(&c, hc, arg)) {
			/* a list, done */
		} else if (strcmp(arg, "-") == 0 && c.o.mode == TU_HASHCACHE_UPDATE) {
			/* Standard input, as md5sum hashes it: no record. */
			struct tu_hash_info h;
			int r = tu_hashcache_digest_path(hc, NULL, &h);
			if (r < 0) {
				struct tu_err e = { .op = "read", .err = -r, .path = "-" };
				tu_report_error(&e, &c);
			} else {
				on_file("-", &h, &c);
			}
		} else {
			int r = tu_hashcache_tree(arg, &c.o);
			status = tu_exit_status_operand(status, r, false);
		}
		flush_lines(&c);
		status = tu_exit_status_operand(status, 0, c.rep.errors > before);
	}
	tu_progress_stop(p);
	tu_hashcache_close(hc);
	list_warnings(&c);
	if (c.unreadable || c.mismatched)
		status = TU_EXIT_SOME;
	if (c.out_failed)
		status = TU_EXIT_SOME;
	if (c.files0_from) {
		for (int i = 0; i < c.nargs; i++)
			free(c.args[i]);
		free(c.args);
	}
	free(c.lines);
	if (c.verbose)
		print_counts(&c);
	if (atomic_load(&c.counts.status[TU_HASH_CORRUPT]) > 0)
		status = EXIT_CORRUPT;
	return status;
}
