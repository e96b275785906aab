/* SPDX-License-Identifier: Apache-2.0 */
/* mvtree: hierarchy move that never leaves the data in neither place. The
 * option table, then one call into the library per SOURCE; messages and exit
 * status are made here. It never touches the tree itself.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_mvtree_opts o;
	bool verbose;
	bool itemize;
	bool nul;
	bool progress;
	const char *target;	/* -t DIR */
	char **args;
	int nargs;
};

enum {
	OPT_EXCHANGE = 256,
	OPT_VERIFY,
	OPT_TIMEOUT,
	OPT_PROGRESS,
	OPT_REFLINK,
	OPT_MOUNTS,
};

static const struct argp_option options[] = {
	{ "target-directory", 't', "DIR", 0,
	  "move each SOURCE to DIR/<its name> (the same rules for each)", 0 },
	{ "exchange", OPT_EXCHANGE, 0, 0,
	  "swap SOURCE and an existing DEST atomically (same filesystem only)", 0 },
	{ "verify", OPT_VERIFY, 0, 0,
	  "across filesystems, also compare the content of every file with its copy "
	  "before SOURCE is removed (SpookyHash; SOURCE's hash records are reused)", 0 },
	{ "checksum", 'c', 0, 0, "same as --verify", 0 },
	{ "one-file-system", 'x', 0, 0,
	  "mounts below SOURCE are copied as empty directories (they are never removed "
	  "from SOURCE either way)", 0 },
	{ "mounts", OPT_MOUNTS, 0, 0,
	  "move the content of mounts: of a SOURCE that is a mount point, and (unless -x) "
	  "of mounts below SOURCE; the mount points stay, each reported", 0 },
	{ "reflink", OPT_REFLINK, "WHEN", OPTION_ARG_OPTIONAL,
	  "across filesystems, share file extents: auto (without this option: where the "
	  "filesystem can, e.g. between btrfs subvolumes), always (a bare --reflink, as "
	  "cp's: fail a file that cannot), never", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "retry busy entries, reads and writes this long, copying and removing "
	  "(default 10)", 0 },
	{ "dry-run", 'n', 0, 0, "say what would be moved and how; change nothing", 0 },
	{ "verbose", 'v', 0, 0, "print each move, and each entry copied and removed", 0 },
	{ "itemize", 'i', 0, 0,
	  "print one line per entry copied, in cptree's itemized form", 0 },
	{ "null", '0', 0, 0, "with -v, -i or -n, end each record with NUL, names unquoted", 0 },
	{ "jobs", 'j', "N", 0, "worker threads (default: online CPUs)", 0 },
	{ "progress", OPT_PROGRESS, 0, 0,
	  "show a progress line on stderr when it is a terminal: entries, bytes, rates, "
	  "and how far along with an ETA (a copy across filesystems)", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case 't': c->target = arg; break;
	case OPT_EXCHANGE: c->o.exchange = true; break;
	case OPT_VERIFY:
	case 'c': c->o.verify = true; break;
	case 'x': c->o.one_file_system = true; break;
	case OPT_MOUNTS: c->o.mounts = true; break;
	case OPT_REFLINK: c->o.reflink = tu_parse_reflink(state, arg); break;
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
	case ARGP_KEY_ARGS:
		c->args = state->argv + state->next;
		c->nargs = state->argc - state->next;
		break;
	case ARGP_KEY_END:
		if (c->target) {
			if (c->nargs < 1)
				argp_error(state, "missing SOURCE operand");
			if (c->o.exchange)
				argp_error(state, "--exchange takes SOURCE DEST, not -t");
		} else if (c->nargs < 2) {
			argp_error(state, c->nargs ? "missing DEST operand" : "missing SOURCE and DEST");
		} else if (c->nargs > 2) {
			argp_error(state, "too many operands: want SOURCE DEST, or -t DIR SOURCE...");
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void on_copied(const struct tu_copy_item *it, void *ctx)
{
	struct cli *c = ctx;
	if (c->itemize) {
		tu_print_copy_item(stdout, it, c->nul);
		return;
	}
	if (!c->verbose)
		return;
	if (c->nul) {
		fputs(it->dst, stdout);
		fputc('\0', stdout);
		return;
	}
	char *s = tu_quote(it->src), *d = tu_quote(it->dst);
	fprintf(stdout, "%s%s -> %s\n", c->o.dry_run ? "would copy " : "copied ", s, d);
	tu_quote_free(s);
	tu_quote_free(d);
}

static void on_removed(const char *path, bool is_dir, void *ctx)
{
	struct cli *c = ctx;
	tu_print_path(stdout, is_dir ? "removed directory " : "removed ", path, c->nul);
}

/* -i for a move that is one rename (or exchange): nothing is copied, so one
   line, rsync's message form ("*deleting" style: the word in the 11-column
   field), naming both ends. */
static void itemize_rename(const struct cli *c, const char *source, const char *dest,
			   enum tu_move_how how)
{
	bool x = how == TU_MOVE_EXCHANGED;
	const char *code = x ? "*exchanged " : "*renamed   ";
	const char *arrow = x ? "<->" : "->";
	if (c->nul) {
		fprintf(stdout, "%s %s %s %s%c", code, source, arrow, dest, '\0');
		return;
	}
	char *s = tu_quote(source), *d = tu_quote(dest);
	fprintf(stdout, "%s %s %s %s\n", code, s, arrow, d);
	tu_quote_free(s);
	tu_quote_free(d);
}

static void on_moved(const char *source, const char *dest, enum tu_move_how how, void *ctx)
{
	struct cli *c = ctx;
	if (c->itemize && (how == TU_MOVE_RENAMED || how == TU_MOVE_EXCHANGED))
		itemize_rename(c, source, dest, how);
	if (!c->verbose && !c->o.dry_run)
		return;
	const char *verb;
	switch (how) {
	case TU_MOVE_RENAMED: verb = c->o.dry_run ? "would rename" : "renamed"; break;
	case TU_MOVE_EXCHANGED: verb = c->o.dry_run ? "would exchange" : "exchanged"; break;
	case TU_MOVE_FINISHED:
		verb = c->o.dry_run ? "would finish the interrupted move" : "finished the interrupted move";
		break;
	default: verb = c->o.dry_run ? "would copy and remove" : "moved (copied, verified, removed)";
	}
	if (c->nul) {
		fprintf(stdout, "%s%c%s%c%s%c", verb, '\0', source, '\0', dest, '\0');
		return;
	}
	char *s = tu_quote(source), *d = tu_quote(dest);
	fprintf(stdout, "%s %s %s %s\n", verb, s, how == TU_MOVE_EXCHANGED ? "<->" : "->", d);
	tu_quote_free(s);
	tu_quote_free(d);
}

static const struct argp argp = {
	options, parse_opt, "SOURCE DEST\n-t DIR SOURCE...",
	"Move SOURCE to DEST, which must not exist. Within one filesystem this is one "
	"rename. Across filesystems SOURCE is copied beside DEST under a hidden name, "
	"checked, synced and renamed into place, and only then removed: a crash at any "
	"moment leaves the whole data in at least one place, and running the same "
	"command again finishes the move.\v"
	"SOURCE may be a directory, a file, a symlink (moved as the link) or a special "
	"file. Exit status: 0 moved, 1 the move ran but is not complete (each problem "
	"reported: the copy failed and was undone, or entries of SOURCE were kept), 2 bad "
	"usage or refused (nothing changed).",
	NULL, NULL, NULL
};

/* DIR/<name of SOURCE>, for -t. */
static char *target_of(const char *dir, const char *source)
{
	size_t n = strlen(source);
	while (n > 1 && source[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && source[b - 1] != '/')
		b--;
	char *out;
	if (asprintf(&out, "%s/%.*s", dir, (int)(n - b), source + b) < 0)
		return NULL;
	return out;
}

int main(int argc, char **argv)
{
	tu_cli_init("mvtree");
	struct cli c = { 0 };
	tu_mvtree_opts_init(&c.o);
	struct tu_stats stats = { 0 };
	if (argp_parse(&argp, argc, argv, 0, NULL, &c) != 0)
		return TU_EXIT_USAGE;
	c.o.error = tu_report_error;
	c.o.warning = tu_report_warning;
	c.o.ctx = &c;
	c.o.stats = &stats;
	if (c.verbose || c.itemize || c.o.dry_run)
		c.o.copied = on_copied;
	if (c.verbose)
		c.o.removed = on_removed;
	if (c.verbose || c.itemize || c.o.dry_run)
		c.o.moved = on_moved;
	if (c.nul && !(c.verbose || c.itemize || c.o.dry_run))
		tu_warn("--null only changes -v, -i and -n output");
	if (c.o.dry_run && !c.verbose && !c.itemize)
		c.o.copied = NULL;	/* -n alone: one line per move */
	struct tu_stats total = { 0 };
	struct tu_progress *p = NULL;
	if (c.progress) {
		p = tu_progress_start(&stats, "copied", "entries", true);
		if (p && !c.o.dry_run) {
			c.o.total = &total;
			tu_progress_set_total(p, &total);
		}
	}
	int status = TU_EXIT_OK;
	int n = c.target ? c.nargs : 1;
	for (int i = 0; i < n; i++) {
		const char *src = c.target ? c.args[i] : c.args[0];
		char *dst = c.target ? target_of(c.target, src) : strdup(c.args[1]);
		if (!dst) {
			tu_warn("out of memory");
			return TU_EXIT_USAGE;
		}
		long before = c.rep.errors;
		int r = tu_mvtree(src, dst, &c.o);
		free(dst);
		int s = tu_exit_status(r, c.rep.errors > before);
		if (s > status)
			status = s;
	}
	tu_progress_stop(p);
	tu_report_summary(&c.rep);
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		if (status == TU_EXIT_OK)
			status = TU_EXIT_SOME;
	}
	return status;
}
