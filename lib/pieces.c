/* SPDX-License-Identifier: Apache-2.0 */
/* pieces.c: large files copied in pieces of PIECE bytes by whichever
 * thread has time (see copy.h for the scheme), and handed back, once the
 * last piece is in, to the copy engine's pieces_done() to be finished.
 *
 * Scheduling only: this file must never decide what a file's metadata or
 * name is, never wait for anything but pieces being copied (a piece waits
 * for nothing, so there is no deadlock), and never make a system call on a
 * tree entry (data.c moves the bytes).
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct big {
	struct big *next;		/* cp->bq, while pieces are left */
	struct tu_copy *cp;
	struct job *j;			/* the owner's, or jcopy */
	struct job jcopy;
	char *name, *dname;		/* jcopy's names */
	struct dnode *dn;		/* not owned: counted in dn->bigs */
	bool owned;			/* the owner waits and finishes it */
	bool sparse;
	int in, out;
	char tmp[TU_TMP_NAME_MAX];
	struct tu_meta meta;
	double start;			/* of the first try, for --timeout */
	/* Under cp->qlock: */
	off_t next_off;			/* the next piece starts here */
	bool all_out;			/* no piece left to hand out */
	int active;			/* pieces being copied */
	int err;			/* the first failure, -errno */
	struct tu_xfer fail;		/* ... and where it lay */
};

/* Should J's file be copied in pieces? */
bool cp_pieces_want(const struct tu_copy *cp, const struct job *j)
{
	return cp->split && (off_t)j->st.st_blocks * 512 >= SPLIT_MIN &&
	       (j->defer_lock || cp_slot_dn(j->w.d));
}

int cp_pieces_start(struct job *j, int fd, int out, const char *tmp, struct tu_meta *meta,
		       double start);

static void bq_remove_locked(struct tu_copy *cp, struct big *b)
{
	for (struct big **p = &cp->bq; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			b->next = NULL;
			return;
		}
	}
}

static void bq_append_locked(struct tu_copy *cp, struct big *b)
{
	struct big **p = &cp->bq;
	while (*p)
		p = &(*p)->next;
	*p = b;
}

/* Where the first piece at or after OFF starts: the next data (SPARSE),
   or OFF; the size when there is none. */
static off_t piece_start(const struct big *b, off_t off)
{
	if (off >= b->j->st.st_size)
		return b->j->st.st_size;
	if (!b->sparse)
		return off;
	return tu_data_next(b->in, off, b->j->st.st_size);
}

/* The next piece to copy: of ONLY, or else of the file the fewest threads
   copy (the first of those), up to file_threads on one file: different
   files go on in parallel, where one file's writes take turns on its inode
   lock. */
static struct big *take_piece_locked(struct tu_copy *cp, struct big *only, off_t *off, off_t *end)
{
	struct big *b = only;
	if (!b) {
		for (struct big *c = cp->bq; c; c = c->next)
			if (c->active < cp->file_threads && (!b || c->active < b->active))
				b = c;
	}
	if (!b || b->all_out)
		return NULL;
	off_t size = b->j->st.st_size;
	*off = b->next_off;
	*end = size - *off > PIECE ? *off + PIECE : size;
	b->active++;
	b->next_off = piece_start(b, *end);
	if (b->next_off >= size) {
		b->all_out = true;
		bq_remove_locked(cp, b);
	}
	return b;
}

/* Every piece of B is done: its size, then the engine's pieces_done()
   checks, finishes and places it, or reports and discards it. Returns 0 or
   -errno (reported). Closes B's copy and frees its metadata. */
static int big_end(struct big *b)
{
	struct job *j = b->j;
	int r = b->err;
	if (r == 0 && b->sparse) {
		b->fail.out = b->out;
		r = tu_data_set_size(&b->fail, j->st.st_size);
	}
	return b->cp->pieces_done(j, b->in, b->out, b->tmp, &b->meta, b->start, r, &b->fail);
}

/* The last piece of a file nobody waits for is done: finish it. */
static void big_complete(struct big *b)
{
	struct tu_copy *cp = b->cp;
	struct job *j = b->j;
	int r = big_end(b);
	if (r == 0)
		cp_item(cp, &j->w, 'f', 'c', NULL, (uint64_t)j->st.st_size);
	close(b->in);
	struct dnode *dn = b->dn;
	free(b->name);
	free(b->dname);
	free(b);
	pthread_mutex_lock(&cp->qlock);
	cp->bigs--;
	dn->bigs--;		/* then its directory may go on: touch nothing */
	pthread_cond_broadcast(&cp->qcond);
	pthread_mutex_unlock(&cp->qlock);
}

static void run_piece(struct tu_copy *cp, struct big *b, off_t off, off_t end)
{
	struct tu_xfer x = { .dc = &cp->data, .in = b->in, .out = b->out };
	int r = tu_data_copy_span(&x, off, end, b->sparse, b->sparse);
	pthread_mutex_lock(&cp->qlock);
	if (r < 0 && b->err == 0) {
		b->err = r;
		b->fail = x;
		if (!b->all_out) {
			b->all_out = true;	/* the file failed: no more */
			bq_remove_locked(cp, b);
		}
	}
	bool done = --b->active == 0 && b->all_out;
	bool owned = b->owned;	/* an owned B may be gone once unlocked */
	if (done && owned)
		pthread_cond_broadcast(&cp->qcond);
	pthread_mutex_unlock(&cp->qlock);
	if (done && !owned)
		big_complete(b);
}

enum until { UNTIL_FILE, UNTIL_ROOM, UNTIL_DIR };

static bool until_met_locked(struct tu_copy *cp, enum until u, void *what)
{
	switch (u) {
	case UNTIL_FILE: {
		struct big *b = what;
		return b->all_out && b->active == 0;
	}
	case UNTIL_ROOM:
		return cp->bigs < cp->bigs_max;
	default:
		return ((struct dnode *)what)->bigs == 0;
	}
}

/* Copy pieces (of WHAT's only, for UNTIL_FILE; of any file otherwise)
   until the condition holds; sleep while there is none to take. */
static void help_until_locked(struct tu_copy *cp, enum until u, void *what)
{
	while (!until_met_locked(cp, u, what)) {
		off_t off, end;
		struct big *b = take_piece_locked(cp, u == UNTIL_FILE ? what : NULL, &off, &end);
		if (!b) {
			pthread_cond_wait(&cp->qcond, &cp->qlock);
			continue;
		}
		pthread_mutex_unlock(&cp->qlock);
		run_piece(cp, b, off, end);
		pthread_mutex_lock(&cp->qlock);
	}
}

/* The walker has a worker with nothing to do. */
bool cp_pieces_idle(void *ctx)
{
	struct tu_copy *cp = ctx;
	off_t off, end;
	pthread_mutex_lock(&cp->qlock);
	struct big *b = take_piece_locked(cp, NULL, &off, &end);
	pthread_mutex_unlock(&cp->qlock);
	if (!b)
		return false;
	run_piece(cp, b, off, end);
	return true;
}

/* Hand J's file (source FD, empty copy OUT named TMP or unnamed, source
   metadata META, all now the big file's) over to be copied in pieces. */
int cp_pieces_start(struct job *j, int fd, int out, const char *tmp, struct tu_meta *meta,
		       double start)
{
	struct tu_copy *cp = j->cp;
	struct big local, *b = NULL;
	if (!j->defer_lock) {
		b = calloc(1, sizeof *b);
		if (b) {
			b->jcopy = *j;
			b->name = strdup(j->name);
			b->dname = strdup(j->dname);
			if (!b->name || !b->dname) {
				free(b->name);
				free(b->dname);
				free(b);
				b = NULL;
			}
		}
	}
	if (b) {
		b->j = &b->jcopy;
		b->jcopy.name = b->jcopy.w.name = b->name;
		b->jcopy.dname = b->dname;
		b->dn = cp_slot_dn(j->w.d);
	} else {		/* waited for here: a hard-link group's first */
		memset(&local, 0, sizeof local);
		b = &local;
		b->j = j;
		b->owned = true;
	}
	b->cp = cp;
	b->in = fd;
	b->out = out;
	memcpy(b->tmp, tmp, TU_TMP_NAME_MAX);
	b->meta = *meta;
	b->start = start;
	b->sparse = tu_data_is_sparse(&j->st);
	tu_data_advise_sequential(fd);
	b->next_off = piece_start(b, 0);

	pthread_mutex_lock(&cp->qlock);
	if (!b->owned) {
		help_until_locked(cp, UNTIL_ROOM, NULL);
		cp->bigs++;
		b->dn->bigs++;
	}
	if (b->next_off < j->st.st_size)
		bq_append_locked(cp, b);
	else
		b->all_out = true;	/* no data (any more) */
	bool none = b->all_out;
	pthread_cond_broadcast(&cp->qcond);
	if (b->owned) {
		help_until_locked(cp, UNTIL_FILE, b);
		pthread_mutex_unlock(&cp->qlock);
		return big_end(b);
	}
	pthread_mutex_unlock(&cp->qlock);
	if (none) {
		big_complete(b);
		return CP_DEFERRED;
	}
	tu_walk_wake(j->w.d);
	return CP_DEFERRED;
}

void cp_pieces_wait_dir(struct tu_copy *cp, struct dnode *n)
{
	pthread_mutex_lock(&cp->qlock);
	help_until_locked(cp, UNTIL_DIR, n);
	pthread_mutex_unlock(&cp->qlock);
}
