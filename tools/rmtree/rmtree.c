/* SPDX-License-Identifier: Apache-2.0 */
/* rmtree: race-safe hierarchy delete. The option table, then one call into
 * the library per argument; messages and exit status are made here.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cli {
	struct tu_report rep;	/* first: the report callbacks take the cli as it */
	struct tu_rmtree_opts o;
	bool verbose;
	bool nul;
	bool progress;
	int nargs;
	char **args;
};

enum {
	OPT_HIDE = 256,
	OPT_ALL_OR_NOTHING,
	OPT_TIMEOUT,
	OPT_PRESERVE_ROOT,
	OPT_PROGRESS,
	OPT_CROSS_MOUNTS,
};

static const struct argp_option options[] = {
	{ "force", 'f', 0, 0, "a missing DIR is not an error", 0 },
	{ "hide", OPT_HIDE, 0, 0,
	  "first rename DIR to a hidden random name in its parent, so it vanishes at once", 0 },
	{ "all-or-nothing", OPT_ALL_OR_NOTHING, 0, 0,
	  "check first that every entry can be removed; if any cannot, remove nothing", 0 },
	{ "cross-mounts", OPT_CROSS_MOUNTS, 0, 0,
	  "enter other mounts (bind mounts too) and empty them, as rm -rf does", 0 },
	{ "one-file-system", 'x', 0, 0,
	  "the default: do not enter other mounts (bind mounts too); report each "
	  "and keep it and the directories above it", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "retry busy entries, and keep deleting entries that appear, this long "
	  "(default 10)", 0 },
	{ "preserve-root", OPT_PRESERVE_ROOT, "all", OPTION_ARG_OPTIONAL,
	  "refuse '/' (always); with 'all', also refuse a DIR that is a mount point", 0 },
	{ "dry-run", 'n', 0, 0, "list what would be removed; remove nothing", 0 },
	{ "verbose", 'v', 0, 0, "print each entry removed", 0 },
	{ "null", '0', 0, 0, "with -v or -n, end each path with NUL, unquoted", 0 },
	{ "jobs", 'j', "N", 0, "worker threads (default: online CPUs)", 0 },
	{ "progress", OPT_PROGRESS, 0, 0, "show a progress line on stderr, when it is a terminal", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	switch (key) {
	case 'f': c->o.force = true; break;
	case OPT_HIDE: c->o.hide = true; break;
	case OPT_ALL_OR_NOTHING: c->o.all_or_nothing = true; break;
	case 'x': c->o.cross_mounts = false; break;
	case OPT_CROSS_MOUNTS: c->o.cross_mounts = true; break;
	case OPT_TIMEOUT:
		if (tu_parse_seconds(arg, &c->o.timeout) < 0)
			argp_error(state, "invalid --timeout '%s': want seconds, e.g. 10 or 0.5", arg);
		break;
	case OPT_PRESERVE_ROOT:
		if (arg && strcmp(arg, "all") != 0)
			argp_error(state, "invalid --preserve-root '%s': only 'all' is known", arg);
		c->o.preserve_root_all = arg != NULL;
		break;
	case 'n': c->o.dry_run = true; break;
	case 'v': c->verbose = true; break;
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
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing DIR operand");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void on_removed(const char *path, bool is_dir, void *ctx)
{
	struct cli *c = ctx;
	const char *prefix = c->o.dry_run ? "would remove " :
			     is_dir ? "removed directory " : "removed ";
	tu_print_path(stdout, prefix, path, c->nul);
}

static const struct argp argp = {
	options, parse_opt, "DIR...",
	"Remove each DIR and everything below it, safely, even while other processes "
	"change the tree.\v"
	"Symlinks are never followed: a symlink DIR is removed as a link. Entries that "
	"cannot be removed where they are are moved into DIR under a random '.tu-' name "
	"and reported with where they lie. Exit status: 0 all removed, 1 some entries "
	"remain (each reported), 2 bad usage.",
	NULL, NULL, NULL
};

int main(int argc, char **argv)
{
	tu_cli_init("rmtree");
	struct cli c = { 0 };
	tu_rmtree_opts_init(&c.o);
	struct tu_stats stats = { 0 };
	if (argp_parse(&argp, argc, argv, 0, NULL, &c) != 0)
		return TU_EXIT_USAGE;
	c.o.error = tu_report_error;
	c.o.ctx = &c;
	c.o.stats = &stats;
	if (c.verbose || c.o.dry_run)
		c.o.removed = on_removed;
	if (c.nul && !(c.verbose || c.o.dry_run)) {
		tu_warn("--null only changes -v and -n output");
	}
	struct tu_progress *p = c.progress ? tu_progress_start(&stats, "removed", "entries", false) : NULL;
	int status = TU_EXIT_OK;
	for (int i = 0; i < c.nargs; i++) {
		long before = c.rep.errors;
		int r = tu_rmtree(c.args[i], &c.o);
		if (r == -ECANCELED && c.o.all_or_nothing) {
			char *q = tu_quote(c.args[i]);
			long n = c.rep.errors - before;
			tu_warn("%s: nothing removed (%ld blocker%s)", q, n, n == 1 ? "" : "s");
			tu_quote_free(q);
		}
		status = tu_exit_status_operand(status, r, c.rep.errors > before);
	}
	tu_progress_stop(p);
	if (fflush(stdout) != 0) {
		tu_warn("write error on standard output: %s", strerror(errno));
		status = TU_EXIT_SOME;
	}
	return status;
}
