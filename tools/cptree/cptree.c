/* SPDX-License-Identifier: Apache-2.0 */
/* cptree: hierarchy copy. The option table, then one call into the library;
 * messages and exit status are made here.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
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
	OPT_CLONE_FROM,
};

static const struct argp_option options[] = {
	{ "archive", 'a', 0, 0,
	  "keep everything: owner, group, mode, times (ns), xattrs, ACLs, file flags, "
	  "hard links, special files", 0 },
	{ "atomic", OPT_ATOMIC, 0, 0,
	  "build the copy under a hidden name beside DEST and rename it into place at "
	  "the end, so DEST appears complete or not at all", 0 },
	{ "link", OPT_LINK, "HOW", 0,
	  "make a link farm: directories are made, every other entry linked to its "
	  "source: hard (like cp -al) or symbolic (like cp -rs; relative links)", 0 },
	{ "absolute", OPT_ABSOLUTE, 0, 0,
	  "with --link=symbolic, make the links absolute", 0 },
	{ "fix-symlinks", OPT_FIX_SYMLINKS, 0, 0,
	  "rewrite symlinks that point inside SOURCE to point at the same place "
	  "inside DEST (relative stay relative); -v reports each", 0 },
	{ "dereference", OPT_DEREFERENCE, "WHAT", OPTION_ARG_OPTIONAL,
	  "symbolic (the default, same as -L): copy what symlinks point to; hard: "
	  "break hard links into separate copies; all: both", 0 },
	{ 0, 'L', 0, 0, "same as --dereference=symbolic", 0 },
	{ "reflink", OPT_REFLINK, "WHEN", 0,
	  "share file extents: auto (default: where the filesystem can), always (fail "
	  "a file that cannot), never", 0 },
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
	  "show a progress line on stderr: entries, bytes, rates, and (SOURCE is "
	  "counted first) how far along, with an ETA", 0 },
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
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case 'a': c->o.archive = true; break;
	case OPT_ATOMIC: c->o.atomic = true; break;
	case OPT_LINK:
		if (strcmp(arg, "hard") == 0)
			c->o.link = TU_CPLINK_HARD;
		else if (strcmp(arg, "symbolic") == 0)
			c->o.link = TU_CPLINK_SYMBOLIC;
		else
			argp_error(state, "invalid --link '%s': want hard or symbolic", arg);
		break;
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
	case OPT_REFLINK:
		if (strcmp(arg, "auto") == 0)
			c->o.reflink = TU_REFLINK_AUTO;
		else if (strcmp(arg, "always") == 0)
			c->o.reflink = TU_REFLINK_ALWAYS;
		else if (strcmp(arg, "never") == 0)
			c->o.reflink = TU_REFLINK_NEVER;
		else
			argp_error(state, "invalid --reflink '%s': want auto, always or never", arg);
		break;
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
	if (it->how == 'r' && !c->itemize) {
		print_rewritten(c, it);
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
	fprintf(stdout, "%s%s -> %s%s\n", c->o.dry_run ? "would copy " : "", s, d,
		it->how == 'b' ? " (shared with BASE)" : "");
	tu_quote_free(s);
	tu_quote_free(d);
}

static const struct argp argp = {
	options, parse_opt, "SOURCE DEST",
	"Copy the tree SOURCE to DEST: DEST becomes the copy (never DEST/SOURCE).\v"
	"DEST must not exist, or must be an empty directory. Symlinks are copied as "
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
	c.o.clone_from = c.clone_from;
	c.o.nclone_from = c.nclone;
	if (c.verbose || c.itemize || c.o.dry_run)
		c.o.copied = on_copied;
	if (c.nul && !c.o.copied)
		tu_warn("--null only changes -v, -i and -n output");
	struct tu_stats total = { 0 };
	struct tu_progress *p = NULL;
	if (c.progress) {
		p = tu_progress_start(&stats, "copied", true);
		if (!c.o.dry_run) {
			c.o.total = &total;	/* SOURCE is counted first: an ETA */
			tu_progress_set_total(p, &total);
		}
	}
	int r = tu_cptree(c.args[0], c.args[1], &c.o);
	tu_progress_stop(p);
	int status = r == 0 ? TU_EXIT_OK : r == -EIO ? TU_EXIT_SOME : TU_EXIT_USAGE;
	if (status == TU_EXIT_OK && c.rep.errors)
		status = TU_EXIT_SOME;
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		status = TU_EXIT_SOME;
	}
	return status;
}
