/* SPDX-License-Identifier: Apache-2.0 */
/* report.c: the one reporter (see report.h): forwards failures and warnings
 * to the caller's callbacks under the algorithm's output lock, counts and
 * latches "some failed", and latches "stop" when a callback answers
 * TU_STOP, after which nothing more is forwarded.
 *
 * It must never print, exit, make a system call on a tree, or decide what a
 * failure means: the algorithms do that.
 */
#define TU_INTERNAL
#include "report.h"

#include <errno.h>

void tu_rep_init(struct tu_reporter *rep, tu_error_fn *error, tu_error_fn *warning, void *ctx,
		 struct tu_stats *stats, pthread_mutex_t *lock)
{
	rep->error = error;
	rep->warning = warning;
	rep->ctx = ctx;
	rep->stats = stats;
	rep->lock = lock;
	atomic_init(&rep->failed, 0);
	atomic_init(&rep->stop, false);
}

void tu_rep_mark(struct tu_reporter *rep, int err)
{
	int expected = 0;
	atomic_compare_exchange_strong(&rep->failed, &expected, err > 0 ? err : EIO);
}

void tu_rep_note(struct tu_reporter *rep, int err)
{
	tu_rep_mark(rep, err);
	if (rep->stats)
		atomic_fetch_add(&rep->stats->errors, 1);
}

/* Call FN with E under the lock, unless the run stopped; latch a TU_STOP
   answer. The stop flag is read again under the lock, so that once one
   callback answered TU_STOP no other thread's report gets through. */
static int forward(struct tu_reporter *rep, tu_error_fn *fn, const struct tu_err *e)
{
	if (atomic_load(&rep->stop))
		return TU_STOP;
	if (!fn)
		return TU_CONTINUE;
	pthread_mutex_lock(rep->lock);
	int r = TU_STOP;
	if (!atomic_load(&rep->stop)) {
		r = fn(e, rep->ctx);
		if (r == TU_STOP)
			atomic_store(&rep->stop, true);
	}
	pthread_mutex_unlock(rep->lock);
	return r == TU_STOP ? TU_STOP : TU_CONTINUE;
}

int tu_rep_fail_err(struct tu_reporter *rep, const struct tu_err *e)
{
	tu_rep_note(rep, e->err);
	return forward(rep, rep->error, e);
}

int tu_rep_fail(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path ? path : "?", .detail = detail };
	return tu_rep_fail_err(rep, &e);
}

int tu_rep_call(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path ? path : "?", .detail = detail };
	return forward(rep, rep->error, &e);
}

int tu_rep_warn(struct tu_reporter *rep, const char *path, const char *op, int err,
		const char *detail)
{
	struct tu_err e = { .op = op, .err = err, .path = path ? path : "?", .detail = detail };
	return forward(rep, rep->warning, &e);
}

bool tu_rep_stopped(struct tu_reporter *rep)
{
	return atomic_load(&rep->stop);
}

void tu_rep_set_stop(struct tu_reporter *rep)
{
	atomic_store(&rep->stop, true);
}

int tu_rep_first(struct tu_reporter *rep)
{
	return atomic_load(&rep->failed);
}

int tu_rep_result(struct tu_reporter *rep)
{
	return atomic_load(&rep->failed) || atomic_load(&rep->stop) ? TU_PARTIAL : 0;
}
