/* SPDX-License-Identifier: Apache-2.0 */
/* report.h: the one reporter every algorithm (rmtree, cptree, mvtree,
 * dedup, hashcache, the link listings) sends its failures and warnings
 * through. Private to the library.
 *
 * A reporter forwards each problem to the caller's callback under the
 * algorithm's output lock (the API promises one callback at a time),
 * counts it in stats->errors, latches "some failed" (the first errno) and,
 * when the callback answers TU_STOP, latches "stop": from then on nothing
 * more is forwarded (every call answers TU_STOP), and the walker stops too
 * when its opts.stop points at rep->stop. The entry point then returns
 * tu_rep_result(): 0, or TU_PARTIAL (treeutils.h's convention).
 *
 *	struct tu_reporter rep;
 *	tu_rep_init(&rep, o->error, o->warning, o->ctx, o->stats, &out_lock);
 *	struct tu_walk_opts wo = { .stop = &rep.stop };
 *	...
 *	if (tu_rep_fail(&rep, path, "open", errno, NULL) == TU_STOP)
 *		return TU_WALK_STOP;
 *	...
 *	return tu_rep_result(&rep);
 *
 * This file must never print, exit, or touch a tree.
 */
#ifndef TU_REPORT_H
#define TU_REPORT_H
#ifndef TU_INTERNAL
#error "report.h is private to libtreeutils; include treeutils.h"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "treeutils.h"

struct tu_reporter {
	tu_error_fn *error;	/* failures; NULL = not wanted */
	tu_error_fn *warning;	/* work left undone that is no failure; NULL */
	void *ctx;		/* passed to both */
	struct tu_stats *stats;	/* errors counted here; NULL = not wanted */
	pthread_mutex_t *lock;	/* the algorithm's output lock, held around
				   every callback */
	_Atomic int failed;	/* the first failure, as a positive errno */
	_Atomic bool stop;	/* a callback answered TU_STOP */
};

/* LOCK is the algorithm's (it also guards its other callbacks); it must
   outlive the reporter. Nothing to release. */
void tu_rep_init(struct tu_reporter *rep, tu_error_fn *error, tu_error_fn *warning, void *ctx,
		 struct tu_stats *stats, pthread_mutex_t *lock);

/* A failure that is reported elsewhere (or deliberately not at all):
   counted and latched, not forwarded. ERR is a positive errno. */
void tu_rep_note(struct tu_reporter *rep, int err);

/* Latch "some failed" without counting: for a failure about to be
   reported through the walker (tu_walk_report), whose error() callback
   forwards and counts it with tu_rep_fail_err, or drops it as a race. */
void tu_rep_mark(struct tu_reporter *rep, int err);

/* A failure: noted, and forwarded to rep->error unless the run stopped.
   Answers TU_CONTINUE, or TU_STOP (now or earlier). */
int tu_rep_fail(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail);
/* The same, for a problem already built (a walker's report). */
int tu_rep_fail_err(struct tu_reporter *rep, const struct tu_err *e);

/* Forward only, neither counted nor latched: a refusal before anything
   started (the entry point then returns -errno), or a failure already
   noted with tu_rep_note. Answers as tu_rep_fail. */
int tu_rep_call(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail);

/* A warning: forwarded to rep->warning unless the run stopped; neither
   counted nor latched. A TU_STOP answer stops the run as for a failure. */
int tu_rep_warn(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail);

/* Has a callback answered TU_STOP? Algorithms check it between entries
   and stages that the walker does not drive. */
bool tu_rep_stopped(struct tu_reporter *rep);
/* Latch "stop" as if a callback had answered TU_STOP (an entry callback
   that has no answer of its own, e.g. a walker's TU_WALK_STOP). */
void tu_rep_set_stop(struct tu_reporter *rep);

/* The first failure as a positive errno, 0 when none. */
int tu_rep_first(struct tu_reporter *rep);
/* What the entry point returns once its work started: TU_PARTIAL when
   something failed or the run was stopped, else 0. */
int tu_rep_result(struct tu_reporter *rep);

#endif
