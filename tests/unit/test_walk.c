/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/walk.c: counts, post-order, the fd budget on deep trees,
 * come-again, stop, errors, inode order, paths, done_entries, following
 * symlinks (-L) with loops, side work done by idle workers. */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[256];
static int tmpfd;

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/tu-walk.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
	return tmpfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(tmpfd);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void touch(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

/* NAME in DFD: WIDTH directories in each directory, DEPTH levels below
   NAME, FILES files in each directory. Counts what it makes; returns an fd
   on NAME. */
static int make_tree_at(int dfd, const char *name, int width, int depth, int files,
			long *ndirs, long *nfiles)
{
	assert_int_equal(mkdirat(dfd, name, 0755), 0);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	char n[32];
	for (int f = 0; f < files; f++) {
		snprintf(n, sizeof n, "f%d", f);
		touch(fd, n);
		(*nfiles)++;
	}
	for (int w = 0; depth > 0 && w < width; w++) {
		snprintf(n, sizeof n, "d%d", w);
		close(make_tree_at(fd, n, width, depth - 1, files, ndirs, nfiles));
		(*ndirs)++;
	}
	return fd;
}

static int make_tree(const char *name, int width, int depth, int files, long *ndirs, long *nfiles)
{
	return make_tree_at(tmpfd, name, width, depth, files, ndirs, nfiles);
}

/* ---- a recording algorithm ---------------------------------------------- */

struct rec {
	pthread_mutex_t lock;
	long entries, dirs_seen, enters, leaves;
	char **log;			/* "E path" enter, "e parent" entry, "L path" leave */
	size_t nlog, caplog;
	int again_root;			/* leave(root) answers AGAIN this many times */
	bool stop_at_entry;
	bool saw_aborted;
	long errors;
	int last_err;
	char last_err_path[512];
	bool check_order;
	ino_t last_ino;
	bool ino_disorder;
	int max_fds;
};

static void logit(struct rec *r, char kind, struct tu_walk_dir *d)
{
	char *p = tu_walk_path(d, NULL);
	char *line;
	assert_true(asprintf(&line, "%c %s", kind, p) > 0);
	free(p);
	pthread_mutex_lock(&r->lock);
	if (r->nlog == r->caplog) {
		r->caplog = r->caplog ? r->caplog * 2 : 256;
		r->log = realloc(r->log, r->caplog * sizeof *r->log);
	}
	r->log[r->nlog++] = line;
	pthread_mutex_unlock(&r->lock);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3;	/* ".", ".." and the DIR's own fd */
}

static int rec_enter(struct tu_walk_dir *d, void *ctx)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->lock);
	r->enters++;
	pthread_mutex_unlock(&r->lock);
	if (r->check_order)
		logit(r, 'E', d);
	if (r->check_order)
		r->last_ino = 0;
	return TU_WALK_NEXT;
}

static int rec_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->lock);
	r->entries++;
	if (e->is_dir)
		r->dirs_seen++;
	if (r->check_order && e->ino < r->last_ino)
		r->ino_disorder = true;
	r->last_ino = e->ino;
	pthread_mutex_unlock(&r->lock);
	if (r->check_order)
		logit(r, 'e', d);
	if (r->stop_at_entry)
		return TU_WALK_STOP;
	/* errors == -1 asks to descend into a file, which must be reported. */
	if (strcmp(e->name, "f0") == 0 && r->errors == -1)
		return TU_WALK_DESCEND;
	return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

static int rec_leave(struct tu_walk_dir *d, void *ctx)
{
	struct rec *r = ctx;
	if (tu_walk_dir_aborted(d)) {
		r->saw_aborted = true;
		return TU_WALK_NEXT;
	}
	pthread_mutex_lock(&r->lock);
	r->leaves++;
	if (r->leaves % 97 == 0) {
		int n = count_fds();
		if (n > r->max_fds)
			r->max_fds = n;
	}
	bool again = tu_walk_dir_depth(d) == 0 && r->again_root > 0;
	if (again)
		r->again_root--;
	pthread_mutex_unlock(&r->lock);
	if (r->check_order)
		logit(r, 'L', d);
	return again ? TU_WALK_AGAIN : TU_WALK_NEXT;
}

static int rec_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d;
	struct rec *r = ctx;
	r->errors = r->errors < 0 ? 1 : r->errors + 1;
	r->last_err = e->err;
	snprintf(r->last_err_path, sizeof r->last_err_path, "%s", e->path);
	return TU_CONTINUE;
}

static const struct tu_walk_ops rec_ops = {
	.enter = rec_enter, .entry = rec_entry, .leave = rec_leave, .error = rec_error,
};

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->nlog; i++)
		free(r->log[i]);
	free(r->log);
}

/* ---- tests ---------------------------------------------------------------- */

static void walk_counts(int jobs)
{
	char name[32];
	snprintf(name, sizeof name, "counts%d", jobs);
	long nd = 0, nf = 0;
	int fd = make_tree(name, 3, 4, 4, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct tu_walk_opts o = { .jobs = jobs };
	assert_int_equal(tu_walk(fd, name, &o, &rec_ops, &r), 0);
	assert_int_equal(r.entries, nd + nf);
	assert_int_equal(r.dirs_seen, nd);
	assert_int_equal(r.enters, nd + 1);
	assert_int_equal(r.leaves, nd + 1);
	assert_int_equal(r.errors, 0);
	close(fd);
}

static void test_counts_one_job(void **state) { (void)state; walk_counts(1); }
static void test_counts_four_jobs(void **state) { (void)state; walk_counts(4); }

static size_t find_line(struct rec *r, char kind, const char *path)
{
	for (size_t i = 0; i < r->nlog; i++)
		if (r->log[i][0] == kind && strcmp(r->log[i] + 2, path) == 0)
			return i;
	fail_msg("no %c line for %s", kind, path);
	return 0;
}

/* leave(d) comes after every descendant's leave(), and no entry() of a
   directory comes after one of its children was entered. */
static void test_post_order_with_threads(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("order", 3, 3, 2, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .check_order = true };
	struct tu_walk_opts o = { .jobs = 4 };
	assert_int_equal(tu_walk(fd, "order", &o, &rec_ops, &r), 0);
	for (size_t i = 0; i < r.nlog; i++) {
		const char *l = r.log[i];
		if (l[0] != 'L')
			continue;
		const char *p = l + 2;
		size_t pl = strlen(p);
		for (size_t j = i + 1; j < r.nlog; j++) {
			const char *q = r.log[j] + 2;
			if (r.log[j][0] == 'L' && strncmp(q, p, pl) == 0 && q[pl] == '/')
				fail_msg("%s left before its descendant %s", p, q);
		}
	}
	for (size_t i = 0; i < r.nlog; i++) {
		if (r.log[i][0] != 'E' || strcmp(r.log[i] + 2, "order") == 0)
			continue;
		char parent[512];
		snprintf(parent, sizeof parent, "%s", r.log[i] + 2);
		*strrchr(parent, '/') = '\0';
		for (size_t j = i + 1; j < r.nlog; j++)
			if (r.log[j][0] == 'e' && strcmp(r.log[j] + 2, parent) == 0)
				fail_msg("entry() of %s after its child %s was entered", parent, r.log[i] + 2);
	}
	assert_true(find_line(&r, 'L', "order") == r.nlog - 1);
	rec_free(&r);
	close(fd);
}

static void test_deep_chain_within_fd_budget(void **state)
{
	(void)state;
	const int depth = 3000;
	assert_int_equal(mkdirat(tmpfd, "deep", 0755), 0);
	int root = openat(tmpfd, "deep", O_RDONLY | O_DIRECTORY);
	int fd = dup(root);
	for (int i = 0; i < depth; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		touch(fd, "f");
		int n = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = n;
	}
	close(fd);
	int base = count_fds();
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct tu_walk_opts o = { .jobs = 2, .fd_budget = 8 };
	assert_int_equal(tu_walk(root, "deep", &o, &rec_ops, &r), 0);
	assert_int_equal(r.leaves, depth + 1);
	assert_int_equal(r.entries, 2 * depth);
	assert_int_equal(r.errors, 0);
	/* The budget, plus what the two workers pin, plus the walk's own. */
	assert_true(r.max_fds - base <= 8 + 2 * 3 + 2);
	close(root);
}

static void test_again_reads_anew(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("again", 2, 1, 3, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .again_root = 1 };
	struct tu_walk_opts o = { .jobs = 2 };
	assert_int_equal(tu_walk(fd, "again", &o, &rec_ops, &r), 0);
	assert_int_equal(r.entries, 2 * (nd + nf));
	assert_int_equal(r.leaves, 2 * (nd + 1));
	close(fd);
}

static void test_stop_cancels(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("stop", 2, 2, 2, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .stop_at_entry = true };
	struct tu_walk_opts o = { .jobs = 2 };
	assert_int_equal(tu_walk(fd, "stop", &o, &rec_ops, &r), -ECANCELED);
	assert_int_equal(r.entries, 1);
	assert_true(r.saw_aborted);
	close(fd);
}

static void test_descend_into_file_is_reported(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("err", 1, 1, 1, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .errors = -1 };
	struct tu_walk_opts o = { .jobs = 1 };
	assert_int_equal(tu_walk(fd, "err", &o, &rec_ops, &r), 0);
	assert_true(r.errors >= 1);
	assert_int_equal(r.last_err, ENOTDIR);
	assert_true(strstr(r.last_err_path, "err/") == r.last_err_path);
	assert_true(strstr(r.last_err_path, "/f0") != NULL);
	close(fd);
}

static void test_inode_order(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "ino", 0755), 0);
	int fd = openat(tmpfd, "ino", O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 500; i++) {
		char n[32];
		snprintf(n, sizeof n, "x%d", (i * 7919) % 500);
		touch(fd, n);
	}
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .check_order = true };
	struct tu_walk_opts o = { .jobs = 1, .sort_by_inode = true };
	assert_int_equal(tu_walk(fd, "ino", &o, &rec_ops, &r), 0);
	assert_int_equal(r.entries, 500);
	assert_false(r.ino_disorder);
	rec_free(&r);
	close(fd);
}

static void test_paths(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("paths", 1, 2, 0, &nd, &nf);
	struct rec r = { .lock = PTHREAD_MUTEX_INITIALIZER, .check_order = true };
	struct tu_walk_opts o = { .jobs = 1 };
	assert_int_equal(tu_walk(fd, "top/x", &o, &rec_ops, &r), 0);
	find_line(&r, 'L', "top/x");
	find_line(&r, 'L', "top/x/d0");
	find_line(&r, 'L', "top/x/d0/d0");
	rec_free(&r);
	close(fd);
}


/* ---- done_entries, and following symlinks (-L) ---------------------------- */

/* Per directory: its entries counted, and whether done_entries() ran. */
struct dstate {
	int entries;
	bool done;
};

struct follow_rec {
	_Atomic long entries, loops, other_errors, leaves, order_errors;
};

static int fr_enter(struct tu_walk_dir *d, void *ctx)
{
	struct follow_rec *r = ctx;
	struct tu_walk_dir *p = tu_walk_dir_parent(d);
	/* A child is entered only after its parent's done_entries(). */
	if (p && !((struct dstate *)*tu_walk_dir_slot(p))->done)
		atomic_fetch_add(&r->order_errors, 1);
	*tu_walk_dir_slot(d) = calloc(1, sizeof(struct dstate));
	return TU_WALK_NEXT;
}

static int fr_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct follow_rec *r = ctx;
	struct dstate *st = *tu_walk_dir_slot(d);
	if (st->done)
		atomic_fetch_add(&r->order_errors, 1);
	st->entries++;
	atomic_fetch_add(&r->entries, 1);
	if (e->type == DT_LNK)
		return TU_WALK_FOLLOW;
	return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

static void fr_done_entries(struct tu_walk_dir *d, void *ctx)
{
	struct follow_rec *r = ctx;
	struct dstate *st = *tu_walk_dir_slot(d);
	if (st->done)
		atomic_fetch_add(&r->order_errors, 1);
	st->done = true;
}

static int fr_leave(struct tu_walk_dir *d, void *ctx)
{
	struct follow_rec *r = ctx;
	struct dstate *st = *tu_walk_dir_slot(d);
	if (!st->done)
		atomic_fetch_add(&r->order_errors, 1);
	free(st);
	atomic_fetch_add(&r->leaves, 1);
	return TU_WALK_NEXT;
}

static int fr_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	(void)d;
	struct follow_rec *r = ctx;
	if (e->err == ELOOP && strcmp(e->op, "follow symlink") == 0)
		atomic_fetch_add(&r->loops, 1);
	else
		atomic_fetch_add(&r->other_errors, 1);
	return TU_CONTINUE;
}

static const struct tu_walk_ops follow_ops = {
	.enter = fr_enter, .entry = fr_entry, .done_entries = fr_done_entries,
	.leave = fr_leave, .error = fr_error,
};

static void test_done_entries_between_entries_and_children(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("done", 3, 3, 4, &nd, &nf);
	struct follow_rec r = { 0 };
	struct tu_walk_opts o = { .jobs = 2, .fd_budget = 8 };
	assert_int_equal(tu_walk(fd, "done", &o, &follow_ops, &r), 0);
	assert_int_equal(r.entries, nd + nf);
	assert_int_equal(r.leaves, nd + 1);
	assert_int_equal(r.order_errors, 0);
	assert_int_equal(r.other_errors, 0);
	close(fd);
}

/* follow/real/x, follow/real/up -> .. and follow/self -> . are loops;
   follow/link -> real is walked a second time, and so is a 40-deep chain
   below it, re-opened through the link under a budget of 8 fds. */
static void test_follow_walks_symlinked_dirs_and_reports_loops(void **state)
{
	(void)state;
	assert_int_equal(mkdirat(tmpfd, "follow", 0755), 0);
	int fd = openat(tmpfd, "follow", O_RDONLY | O_DIRECTORY);
	assert_int_equal(mkdirat(fd, "real", 0755), 0);
	int real = openat(fd, "real", O_RDONLY | O_DIRECTORY);
	touch(real, "x");
	assert_int_equal(symlinkat("..", real, "up"), 0);
	int c = dup(real);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(mkdirat(c, "c", 0755), 0);
		int n = openat(c, "c", O_RDONLY | O_DIRECTORY);
		close(c);
		c = n;
	}
	close(c);
	close(real);
	assert_int_equal(symlinkat("real", fd, "link"), 0);
	assert_int_equal(symlinkat(".", fd, "self"), 0);
	struct follow_rec r = { 0 };
	struct tu_walk_opts o = { .jobs = 2, .fd_budget = 8 };
	assert_int_equal(tu_walk(fd, "follow", &o, &follow_ops, &r), 0);
	/* root: real link self; real and link: x up c, then 40 c's less one
	   each (the last has none) -> 3 + 2 * (3 + 39). */
	assert_int_equal(r.entries, 3 + 2 * (3 + 39));
	assert_int_equal(r.loops, 3);		/* real/up, link/up, self */
	assert_int_equal(r.other_errors, 0);
	assert_int_equal(r.order_errors, 0);
	assert_int_equal(r.leaves, 1 + 2 * 41);
	close(fd);
}

/* Side work: entry() posts a task per file and wakes the idle workers;
   done_entries() waits until its directory's tasks are done, doing them
   itself meanwhile, as cptree does with the pieces of large files. */
struct side {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int queued;			/* posted, not taken */
	int running;
	int done;
	_Atomic int by_idle;		/* tasks done from idle() */
	_Atomic int late;		/* done_entries() found tasks undone */
};

static bool side_take_locked(struct side *s)
{
	if (!s->queued)
		return false;
	s->queued--;
	s->running++;
	return true;
}

static void side_run(struct side *s)
{
	usleep(2000);
	pthread_mutex_lock(&s->lock);
	s->running--;
	s->done++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int side_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct side *s = ctx;
	if (e->is_dir)
		return TU_WALK_DESCEND;
	pthread_mutex_lock(&s->lock);
	s->queued++;
	pthread_mutex_unlock(&s->lock);
	tu_walk_wake(d);
	return TU_WALK_NEXT;
}

static void side_done_entries(struct tu_walk_dir *d, void *ctx)
{
	(void)d;
	struct side *s = ctx;
	pthread_mutex_lock(&s->lock);
	while (s->queued || s->running) {
		if (side_take_locked(s)) {
			pthread_mutex_unlock(&s->lock);
			side_run(s);
			pthread_mutex_lock(&s->lock);
		} else {
			pthread_cond_wait(&s->cond, &s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static int side_leave(struct tu_walk_dir *d, void *ctx)
{
	(void)d;
	struct side *s = ctx;
	pthread_mutex_lock(&s->lock);
	if (s->queued || s->running)
		atomic_fetch_add(&s->late, 1);
	pthread_mutex_unlock(&s->lock);
	return TU_WALK_NEXT;
}

static bool side_idle(void *ctx)
{
	struct side *s = ctx;
	pthread_mutex_lock(&s->lock);
	bool took = side_take_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (took) {
		side_run(s);
		atomic_fetch_add(&s->by_idle, 1);
	}
	return took;
}

static void test_idle_workers_do_side_work(void **state)
{
	(void)state;
	long nd = 0, nf = 0;
	int fd = make_tree("side", 0, 0, 60, &nd, &nf);
	struct side s = { .queued = 0 };
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	struct tu_walk_ops ops = { .entry = side_entry, .done_entries = side_done_entries,
				   .leave = side_leave, .idle = side_idle };
	struct tu_walk_opts o = { .jobs = 4 };
	assert_int_equal(tu_walk(fd, "side", &o, &ops, &s), 0);
	assert_int_equal(s.done, nf);
	assert_int_equal(s.late, 0);
	/* Three workers had nothing else to do for 60 tasks of 2 ms. */
	assert_true(s.by_idle > 0);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_one_job),
		cmocka_unit_test(test_counts_four_jobs),
		cmocka_unit_test(test_post_order_with_threads),
		cmocka_unit_test(test_deep_chain_within_fd_budget),
		cmocka_unit_test(test_again_reads_anew),
		cmocka_unit_test(test_stop_cancels),
		cmocka_unit_test(test_descend_into_file_is_reported),
		cmocka_unit_test(test_inode_order),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_done_entries_between_entries_and_children),
		cmocka_unit_test(test_follow_walks_symlinked_dirs_and_reports_loops),
		cmocka_unit_test(test_idle_workers_do_side_work),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
