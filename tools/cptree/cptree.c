/* SPDX-License-Identifier: Apache-2.0 */
/* cptree: hierarchy copy. The option table, then one call into the library;
 * messages and exit status are made here.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_cptree_opts o;
	bool verbose;
	bool itemize;
	bool nul;
	bool progress;
	char *args[2];
	int nargs;
	/* --update's: --exclude and --exclude-from, in order given */
	const char **exclude, **exclude_from;
	size_t nexclude, nexclude_from;
	const char *clone_from[TU_CLONE_MAX];	/* --clone-from, in order */
	int nclone;
};

enum {
	OPT_ATOMIC = 256,
	OPT_TIMEOUT,
	OPT_PROGRESS,
	OPT_REFLINK,
	OPT_LINK,
	OPT_ABSOLUTE,
	OPT_FIX_SYMLINKS,
	OPT_DEREFERENCE,
	OPT_FORCE_DEST,
	OPT_DELETE,
	OPT_DELETE_EXCLUDED,
	OPT_CHECKSUM,
	OPT_EXCLUDE,
	OPT_EXCLUDE_FROM,
	OPT_CLONE_FROM,
};

static const struct argp_option options[] = {
	{ "archive", 'a', 0, 0,
	  "keep everything: owner, group, mode, times (ns), xattrs, ACLs, file flags, "
	  "hard links, special files", 0 },
	{ "atomic", OPT_ATOMIC, 0, 0,
	  "build the copy under a hidden name beside DEST and rename it into place at "
	  "the end, so DEST appears complete or not at all", 0 },
	{ "link", OPT_LINK, "HOW", OPTION_ARG_OPTIONAL,
	  "make a link farm: directories are made, every other entry linked to its "
	  "source: hard (the default, like cp -al) or symbolic (like cp -rs; relative "
	  "links)", 0 },
	{ "absolute", OPT_ABSOLUTE, 0, 0,
	  "with --link=symbolic, make the links absolute", 0 },
	{ "fix-symlinks", OPT_FIX_SYMLINKS, 0, 0,
	  "rewrite symlinks that point inside SOURCE to point at the same place "
	  "inside DEST (relative stay relative); -v reports each", 0 },
	{ "dereference", OPT_DEREFERENCE, "WHAT", OPTION_ARG_OPTIONAL,
	  "symbolic (the default, same as -L): copy what symlinks point to; hard: "
	  "break hard links into separate copies; all: both", 0 },
	{ 0, 'L', 0, 0, "same as --dereference=symbolic", 0 },
	{ "reflink", OPT_REFLINK, "WHEN", OPTION_ARG_OPTIONAL,
	  "share file extents: auto (without this option: where the filesystem can), "
	  "always (a bare --reflink, as cp's: fail a file that cannot), never", 0 },
	{ "recursive", 'r', 0, 0,
	  "accepted for cp's sake and ignored: cptree always copies the whole tree", 0 },
	{ 0, 'R', 0, 0, "same as -r", 0 },
	{ "force-dest", OPT_FORCE_DEST, 0, 0,
	  "copy into an existing DEST that another user owns or can write (with "
	  "--link=hard: beside which others can rename), refused by default", 0 },
	{ "clone-from", OPT_CLONE_FROM, "BASE", 0,
	  "make DEST, a new tree equal to SOURCE, sharing storage with BASE wherever a "
	  "file is unchanged there (a reflink, or with -a a hard link); up to 20, the "
	  "first match wins; DEST appears only when complete", 0 },
	{ "one-file-system", 'x', 0, 0,
	  "do not copy other mounts; their mount points become empty directories", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "retry busy entries, reads and writes, and files changing while copied this "
	  "long (default 10)", 0 },
	{ "dry-run", 'n', 0, 0, "list what would be copied; write nothing", 0 },
	{ "verbose", 'v', 0, 0, "print each entry copied", 0 },
	{ "itemize", 'i', 0, 0, "print one line per entry made, saying what it is", 0 },
	{ "null", '0', 0, 0, "with -v, -i or -n, end each record with NUL, names unquoted", 0 },
	{ "jobs", 'j', "N", 0,
	  "worker threads (default: online CPUs); more than one also copies large files "
	  "in pieces", 0 },
	{ "progress", OPT_PROGRESS, 0, 0,
	  "show a progress line on stderr when it is a terminal: entries, bytes, rates, "
	  "and (SOURCE is counted first) how far along, with an ETA", 0 },
	/* update (cptree(1), UPDATE RULES) */
	{ "update", 'u', 0, 0,
	  "bring an existing DEST up to date with SOURCE, changing only what differs "
	  "(type, size, mtime; with -a all metadata and hard links); each changed file is "
	  "rebuilt whole and renamed over the old one", 0 },
	{ "delete", OPT_DELETE, 0, 0,
	  "with -u, remove DEST entries SOURCE lacks (excluded ones stay)", 0 },
	{ "delete-excluded", OPT_DELETE_EXCLUDED, 0, 0,
	  "with -u, also remove DEST entries that are excluded", 0 },
	{ "checksum", OPT_CHECKSUM, 0, 0,
	  "with -u, also compare content, through the hash cache (a file with a valid "
	  "record is not read)", 0 },
	{ "exclude", OPT_EXCLUDE, "PATTERN", 0,
	  "leave out entries matching the shell glob PATTERN (a name, or with a '/' a "
	  "path below SOURCE; a trailing '/' matches directories only)", 0 },
	{ "exclude-from", OPT_EXCLUDE_FROM, "FILE", 0,
	  "the patterns of FILE, one a line ('#' and ';' lines are comments; '-' reads "
	  "standard input)", 0 },
	{ 0 }
};

/* Options that contradict each other are refused before anything starts. */
static void check_combinations(const struct cli *c, struct argp_state *state)
{
	const struct tu_cptree_opts *o = &c->o;
	if (o->absolute_links && o->link != TU_CPLINK_SYMBOLIC)
		argp_error(state, "--absolute needs --link=symbolic");
	if (o->link != TU_CPLINK_NONE && o->dereference)
		argp_error(state, "--link and --dereference (-L) cannot be combined");
	if (o->fix_symlinks && o->link != TU_CPLINK_NONE)
		argp_error(state, "--fix-symlinks copies symlinks; a link farm makes none to fix");
	if (o->fix_symlinks && (o->dereference & TU_DEREF_SYMBOLIC))
		argp_error(state, "--fix-symlinks and -L cannot be combined: -L copies no symlinks");
	if (c->nclone > 0 && o->link != TU_CPLINK_NONE)
		argp_error(state, "--clone-from and --link cannot be combined");
	if (c->nclone > 0 && (o->dereference & TU_DEREF_SYMBOLIC))
		argp_error(state, "--clone-from and -L cannot be combined");
	if (c->nclone > 0 && o->dry_run)
		argp_error(state, "--clone-from cannot be combined with -n (not built yet)");
	if (c->nclone > 0 && o->update)
		argp_error(state, "--clone-from and --update cannot be combined: a clone makes a new DEST");
	if (!o->update && (o->delete_absent || o->delete_excluded))
		argp_error(state, "--delete and --delete-excluded need --update");
	if (!o->update && o->checksum)
		argp_error(state, "--checksum needs --update");
	if (o->delete_excluded && !o->delete_absent)
		argp_error(state, "--delete-excluded needs --delete");
	if (o->update && o->atomic)
		argp_error(state, "--update and --atomic cannot be combined: an update changes "
				  "DEST in place, each file whole");
	if (o->update && o->link != TU_CPLINK_NONE)
		argp_error(state, "--update and --link cannot be combined (not built)");
	if (o->update && o->dereference)
		argp_error(state, "--update and --dereference (-L) cannot be combined (not built)");
	if (o->update && o->fix_symlinks)
		argp_error(state, "--update and --fix-symlinks cannot be combined (not built)");
}

/* One more pattern or file of patterns, kept in order. */
static void add_arg(const char ***v, size_t *n, const char *arg, struct argp_state *state)
{
	const char **nv = realloc(*v, (*n + 2) * sizeof **v);
	if (!nv)
		argp_failure(state, TU_EXIT_USAGE, ENOMEM, "options");
	nv[(*n)++] = arg;
	nv[*n] = NULL;
	*v = nv;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case 'a': c->o.archive = true; break;
	case OPT_ATOMIC: c->o.atomic = true; break;
	case OPT_FORCE_DEST: c->o.force_dest = true; break;
	case OPT_LINK: {
		/* Only --link=HOW: a bare --link never takes the next operand. */
		static const char *const hows[] = { "hard", "symbolic", NULL };
		c->o.link = !arg || tu_parse_choice(state, "--link", arg, hows) == 0
				    ? TU_CPLINK_HARD : TU_CPLINK_SYMBOLIC;
		break;
	}
	case OPT_ABSOLUTE: c->o.absolute_links = true; break;
	case OPT_FIX_SYMLINKS: c->o.fix_symlinks = true; break;
	case 'L': c->o.dereference |= TU_DEREF_SYMBOLIC; break;
	case OPT_DEREFERENCE:
		if (!arg || strcmp(arg, "symbolic") == 0)
			c->o.dereference |= TU_DEREF_SYMBOLIC;
		else if (strcmp(arg, "hard") == 0)
			c->o.dereference |= TU_DEREF_HARD;
		else if (strcmp(arg, "all") == 0)
			c->o.dereference |= TU_DEREF_SYMBOLIC | TU_DEREF_HARD;
		else
			argp_error(state, "invalid --dereference '%s': want symbolic, hard or all",
				   arg);
		break;
	case OPT_REFLINK: c->o.reflink = tu_parse_reflink(state, arg); break;
	case 'r':
	case 'R': break;	/* cp's -r: cptree is always recursive */
	case OPT_CLONE_FROM:
		if (c->nclone == TU_CLONE_MAX)
			argp_error(state, "too many --clone-from: at most %d", TU_CLONE_MAX);
		if (!arg[0])
			argp_error(state, "--clone-from wants a BASE directory");
		c->clone_from[c->nclone++] = arg;
		break;
	case 'x': c->o.one_file_system = true; break;
	case OPT_TIMEOUT:
		if (tu_parse_seconds(arg, &c->o.timeout) < 0)
			argp_error(state, "invalid --timeout '%s': want seconds, e.g. 10 or 0.5", arg);
		break;
	case 'n': c->o.dry_run = true; break;
	case 'v': c->verbose = true; break;
	case 'i': c->itemize = true; break;
	case '0': c->nul = true; break;
	case 'j':
		if (tu_parse_jobs(arg, &c->o.jobs) < 0)
			argp_error(state, "invalid --jobs '%s': want a number from 1 to 1024", arg);
		break;
	case OPT_PROGRESS: c->progress = true; break;
	case 'u': c->o.update = true; break;
	case OPT_DELETE: c->o.delete_absent = true; break;
	case OPT_DELETE_EXCLUDED: c->o.delete_excluded = true; break;
	case OPT_CHECKSUM: c->o.checksum = true; break;
	case OPT_EXCLUDE: add_arg(&c->exclude, &c->nexclude, arg, state); break;
	case OPT_EXCLUDE_FROM: add_arg(&c->exclude_from, &c->nexclude_from, arg, state); break;
	case ARGP_KEY_ARG:
		if (c->nargs == 2)
			argp_error(state, "too many operands: want SOURCE DEST");
		c->args[c->nargs++] = arg;
		break;
	case ARGP_KEY_END:
		if (c->nargs < 2)
			argp_error(state, c->nargs ? "missing DEST operand" : "missing SOURCE and DEST");
		check_combinations(c, state);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* -v: a symlink fix_symlinks rewrote, with both targets. */
static void print_rewritten(const struct cli *c, const struct tu_copy_item *it)
{
	if (c->nul) {
		fprintf(stdout, "%s%c%s%c%s%c", it->dst, '\0', it->old_target, '\0', it->target,
			'\0');
		return;
	}
	char *s = tu_quote(it->src), *d = tu_quote(it->dst);
	char *o = tu_quote(it->old_target), *n = tu_quote(it->target);
	fprintf(stdout, "%s%s -> %s (symlink rewritten: %s -> %s)\n", c->o.dry_run ? "would copy " : "",
		s, d, o, n);
	tu_quote_free(s);
	tu_quote_free(d);
	tu_quote_free(o);
	tu_quote_free(n);
}

static void on_copied(const struct tu_copy_item *it, void *ctx)
{
	struct cli *c = ctx;
	if (it->record) {	/* an update's: -i, -v and -n print it as it is */
		fwrite(it->record, 1, it->record_len, stdout);
		return;
	}
	if (it->how == 'r' && !c->itemize) {
		tu_out_begin(stdout);	/* below a --progress line on the terminal */
		print_rewritten(c, it);
		tu_out_end(stdout);
		return;
	}
	if (c->itemize && it->how == 'b')
		return;	/* shared with a BASE: unchanged, and rsync -i says nothing */
	if (c->itemize) {
		tu_print_copy_item(stdout, it, c->nul);
		return;
	}
	if (c->nul) {
		fputs(it->dst, stdout);
		fputc('\0', stdout);
		return;
	}
	char *s = tu_quote(it->src), *d = tu_quote(it->dst);
	tu_out_begin(stdout);
	fprintf(stdout, "%s%s -> %s%s\n", c->o.dry_run ? "would copy " : "", s, d,
		it->how == 'b' ? " (shared with BASE)" : "");
	tu_out_end(stdout);
	tu_quote_free(s);
	tu_quote_free(d);
}

static const struct argp argp = {
	options, parse_opt, "SOURCE DEST",
	"Copy the tree SOURCE to DEST: DEST becomes the copy (never DEST/SOURCE).\v"
	"DEST must not exist, or must be an empty directory (with -u, it may hold an "
	"earlier copy, brought up to date). Symlinks are copied as "
	"symlinks, never followed, unless -L is given. Every file is written under a temporary name and "
	"renamed into place when complete. Exit status: 0 all copied, 1 some entries "
	"failed (each reported), 2 bad usage or nothing could start (nothing written).",
	NULL, NULL, NULL
};

int main(int argc, char **argv)
{
	tu_cli_init("cptree");
	struct cli c = { 0 };
	tu_cptree_opts_init(&c.o);
	struct tu_stats stats = { 0 };
	if (argp_parse(&argp, argc, argv, 0, NULL, &c) != 0)
		return TU_EXIT_USAGE;
	c.o.error = tu_report_error;
	c.o.warning = tu_report_warning;
	c.o.ctx = &c;
	c.o.stats = &stats;
	/* SIGINT, SIGTERM, SIGHUP: the copy stops, --atomic's hidden tree
	   is removed, then we die of the signal. */
	tu_signals_catch();
	c.o.interrupted = &tu_interrupted;
	c.o.exclude = c.exclude;
	c.o.exclude_from = c.exclude_from;
	if (c.nul)
		c.o.itemize |= TU_CPTREE_ITEMIZE_NUL;
	/* rsync prints valid UTF-8 as it is in a UTF-8 locale. Only the
	   question is asked of the locale: messages stay as they were. */
	if (setlocale(LC_CTYPE, "") && strcmp(nl_langinfo(CODESET), "UTF-8") == 0)
		c.o.itemize |= TU_CPTREE_ITEMIZE_UTF8;
	setlocale(LC_CTYPE, "C");
	c.o.clone_from = c.clone_from;
	c.o.nclone_from = c.nclone;
	if (c.verbose || c.itemize || c.o.dry_run)
		c.o.copied = on_copied;
	if (c.nul && !c.o.copied)
		tu_warn("--null only changes -v, -i and -n output");
	struct tu_stats total = { 0 };
	struct tu_progress *p = NULL;
	if (c.progress) {
		p = tu_progress_start(&stats, "copied", "entries", true);
		if (p && !c.o.dry_run) {	/* no line drawn (not a terminal): no count */
			c.o.total = &total;	/* SOURCE is counted first: an ETA */
			tu_progress_set_total(p, &total);
		}
	}
	int r = tu_cptree(c.args[0], c.args[1], &c.o);
	tu_progress_stop(p);
	if (r == -EINTR && tu_interrupted) {
		char *d = tu_quote(c.args[1]);
		if (c.o.dry_run)
			tu_warn("interrupted by %s", strsignal(tu_interrupted));
		else
			tu_warn("interrupted by %s: %s %s", strsignal(tu_interrupted), d,
				c.o.atomic ? "was not made" : "is incomplete");
		tu_quote_free(d);
		tu_signals_reraise();
	}
	tu_report_summary(&c.rep);
	int status = tu_exit_status(r, c.rep.errors > 0);
	free(c.exclude);
	free(c.exclude_from);
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		status = TU_EXIT_SOME;
	}
	return status;
}
