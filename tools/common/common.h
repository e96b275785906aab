/* SPDX-License-Identifier: Apache-2.0 */
/* common.h: what every treeutils front end shares: exit codes, safe quoting
 * of names in messages, the error printer, option parsing helpers and the
 * --progress line. Front-end code only: it prints, the library never does.
 */
#ifndef TU_COMMON_H
#define TU_COMMON_H

#include "treeutils.h"
#include <signal.h>
#include <stdio.h>

enum tu_exit {
	TU_EXIT_OK = 0,		/* all done */
	TU_EXIT_SOME = 1,	/* some entries failed, each reported */
	TU_EXIT_USAGE = 2,	/* bad usage, or nothing could start */
};

/* The program name used in messages, set by tu_cli_init(). */
extern const char *tu_prog;
void tu_cli_init(const char *prog);

/* Quote S for a message: wrapped in single quotes; a quote, backslash,
   newline, other control characters and invalid UTF-8 are escaped as \', \\,
   \n, \t, \xHH. Never fails: returns a static "'?'" when out of memory.
   The result is malloc'd unless it is that static string; free it with
   tu_quote_free(). */
char *tu_quote(const char *s);
void tu_quote_free(char *q);

/* "PROG: cannot OP 'PATH': strerror (DETAIL)" on stderr. */
void tu_print_err(const struct tu_err *e);
/* "PROG: warning: cannot OP 'PATH': strerror (DETAIL)" on stderr: a problem
   that does not make the run fail. */
void tu_print_warning(const struct tu_err *e);
/* The library's error and warning callbacks for a front end: print the
   message and count it. CTX points to a struct tu_report, the first member
   of the front end's own context, so the same CTX serves its other
   callbacks. The library makes these calls one at a time (under its lock),
   so plain counters do. Both answer TU_CONTINUE.
   An owner or group a copy could not keep for not being root ("set owner"
   or "set group", EPERM: cp -a keeps quiet about these) is not printed but
   counted, and tu_report_summary() says it once, at the end. */
struct tu_report {
	long errors;
	long warnings;
	long owners_lost;	/* not root: entries left owned by us */
	long groups_lost;	/* ... left in our group (owner kept) */
	long bits_dropped;	/* of those, entries whose setuid/setgid went */
};
int tu_report_error(const struct tu_err *e, void *ctx);
int tu_report_warning(const struct tu_err *e, void *ctx);
/* The one summary warning for what tu_report_warning() counted, e.g.
   "cptree: warning: could not keep the owner of 3 entries and the group of
   1 entry (not root); 1 of them lost a setuid or setgid bit". Nothing when
   nothing was counted. */
void tu_report_summary(const struct tu_report *r);

/* The one mapping from what a tu_<tool>() entry point returned (the
   convention in treeutils.h) to the exit status: 0 -> TU_EXIT_OK,
   TU_PARTIAL -> TU_EXIT_SOME, -errno ("nothing could start") ->
   TU_EXIT_USAGE. TU_RMTREE_KEPT is no failure. REPORTED: the run reported
   failures although R is 0 (then TU_EXIT_SOME). */
int tu_exit_status(int r, bool reported);
/* The same for a tool that makes one call per operand (rmtree, hashcache):
   an operand that could not start is a failure of that operand (1, as rm
   and md5sum exit), so only bad usage, found before any call, exits 2.
   Returns the worse of STATUS and this operand's status. */
int tu_exit_status_operand(int status, int r, bool reported);

/* "PROG: " + printf-style message + newline on stderr. */
void tu_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option parsers: 0 on success, -1 on a malformed value. */
int tu_parse_jobs(const char *arg, int *out);
int tu_parse_seconds(const char *arg, double *out);
/* --store=auto|xattr|file, for the tools that keep hash records. */
int tu_parse_store(const char *arg, enum tu_hashcache_store *out);

/* An option's value among NAMES (NULL-terminated), as GNU argmatch takes it
   (cp --reflink=nev): the name itself or a prefix of exactly one name.
   Returns the index; refuses the run with argp_error() otherwise, naming
   OPTION ("--reflink") and the names wanted. ARG must not be NULL. */
struct argp_state;
int tu_parse_choice(struct argp_state *state, const char *option, const char *arg,
		    const char *const *names);
/* --reflink[=WHEN] for every tool that has it, one value set: auto, always,
   never. A bare --reflink (ARG NULL) means always, as cp's. A later
   --reflink overrides an earlier one, as in cp. */
enum tu_reflink tu_parse_reflink(struct argp_state *state, const char *arg);

/* Print one path for -v / -n / listing output: with NUL, the raw bytes and a
   NUL; otherwise PREFIX, the quoted path and a newline. */
void tu_print_path(FILE *f, const char *prefix, const char *path, bool nul);

/* --progress: a line on stderr refreshed at most 10 times a second from a
   thread of its own, reading STATS: "VERB N NOUN (rate)", with BYTES the
   bytes and their rate, the time taken as h:mm:ss, and once a total is set
   a percentage and an ETA. Only on a terminal: when stderr is not one,
   nothing is drawn and NULL is returned (as pv(1) does). While it is shown,
   every message printed here clears the line first and draws it again
   after itself. */
struct tu_progress;
struct tu_progress *tu_progress_start(struct tu_stats *stats, const char *verb, const char *noun,
				      bool bytes);
void tu_progress_stop(struct tu_progress *p);
/* Show a percentage and an ETA once TOTAL (filled in by the library while
   it runs, entries stored last) has a non-zero entry count. P may be NULL. */
void tu_progress_set_total(struct tu_progress *p, const struct tu_stats *total);
/* Around a record a front end prints on F itself (stdout, a message): the
   progress line is cleared before it and drawn again after it, when F can
   meet the line (stderr, or a terminal). Nothing when no line is shown. */
void tu_out_begin(FILE *f);
void tu_out_end(FILE *f);

/* -i for the tools that copy (cptree, mvtree): rsync's itemized form, e.g.
   ">f+++++++++ a/b": what the entry is and that it is new ('c'reated, or
   'h'ard-linked to an earlier name), then "=> FIRST" or "-> TARGET". With
   NUL, the raw path and a NUL; otherwise quoted names and a newline. */
void tu_print_copy_item(FILE *f, const struct tu_copy_item *it, bool nul);

/* SIGINT, SIGTERM and SIGHUP (each one not ignored when the tool started,
   so a background job's ignored SIGINT stays ignored) set tu_interrupted
   to the signal's number: a library call given &tu_interrupted stops
   cleanly and removes what it must. The handler runs once; a second
   signal has its default effect at once. tu_signals_reraise() then ends
   the process by that signal, so its parent sees it (a shell: 128+N). */
extern volatile sig_atomic_t tu_interrupted;
void tu_signals_catch(void);
void tu_signals_reraise(void) __attribute__((noreturn));

#endif
