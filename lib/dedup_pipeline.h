/* SPDX-License-Identifier: Apache-2.0 */
/* dedup_pipeline.h: the state that the stages of dedup's pipeline share
 * (lib/dedup*.c): what the walk collected, the run's options and counters,
 * a size group's candidates, a worker. Private to those files.
 *
 * Nothing here may be used outside lib/dedup*.c; the stages call one another
 * only through the functions declared below.
 */
#ifndef TU_DEDUP_PIPELINE_H
#define TU_DEDUP_PIPELINE_H
#ifndef TU_INTERNAL
#error "dedup_pipeline.h is private to libtreeutils; include treeutils.h"
#endif

#include "dedup.h"
#include "handle.h"
#include "hashstore.h"
#include "report.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>

#define PREFIX_LEN	4096		/* bytes hashed before a whole file is */
#define CMP_BUF		(256 * 1024)	/* per worker: the pieces compared */
#define KEEP_BUF	(1024 * 1024)	/* per worker: a kept file this long is
					   read once for its whole group */
#define READ_AHEAD	16		/* candidates of a group asked for ahead */
#define GROUP_BATCH	8		/* size groups a worker takes at a time */
#define READ_AHEAD_MAX	(2 * 1024 * 1024)	/* bytes asked for ahead, at most */
#define SEEN_BITS	(UINT64_C(1) << 22)	/* 512 KiB: few false hits below
						   a million files */
#define MAX_OPEN	64		/* candidates a worker keeps open at most (less
				   where RLIMIT_NOFILE is low: see dd_run_workers) */

#define SCAN_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | \
		   STATX_SIZE | STATX_MTIME | STATX_CTIME | STATX_NLINK | STATX_MNT_ID)
#define STATE_MASK SCAN_MASK

/* One directory walked. */
struct ddir {
	char *rel;		/* path below its DIR ("" for the DIR itself) */
	dev_t dev;
	ino_t ino;
	uint32_t root;		/* index of its DIR */
	bool has_sidecar;	/* a .spookyhashes was listed in it */
	bool sidecar_read;	/* and its records were read in the walk */
};

/* One regular file (one name) seen by the walk. */
struct dfile {
	uint64_t size;
	uint64_t ino;
	uint64_t mnt;
	dev_t dev;
	int64_t mtime;
	int64_t ctime;		/* for .spookyhashes records, which hold it */
	uint16_t mode;		/* as statx gives it: 16 bits keep this 96 bytes */
	bool cached : 1;	/* digest: a valid hash record of the state
				   above (size, mtime), read without opening */
	bool looked : 1;	/* the record was looked for (found or not):
				   dd_lookup_records() need not */
	bool paired : 1;	/* another inode of its size group has its
				   metadata key (group_refs): it will be read
				   unless records decide */
	uint32_t uid, gid, nlink;
	struct ddir *dir;
	const char *name;	/* an offset into the directory's name block
				   until the directory is left */
	unsigned char digest[16];
};

/* A hash record due for a directory's .spookyhashes, kept until the
   workers are done: a sidecar is changed by one thread at a time. */
struct pending_rec {
	const struct dfile *f;
	struct tu_hashrec rec;
};

/* A name of ours that a crash may have left. */
struct leftover {
	struct ddir *dir;
	char *name;
	dev_t dev;
	uint64_t ino;
};

/* What an open file looks like now. */
struct fstate {
	dev_t dev;
	uint64_t ino, size, nlink;
	int64_t mtime, ctime;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct dd {
	const struct tu_dedup_opts *o;
	const char *const *dirs;
	size_t ndirs;
	uint32_t cur_root;		/* the DIR being walked (one at a time) */
	int *root_fds;			/* -1: not opened, or the same as an earlier DIR */
	struct tu_ident *root_ids;
	bool *file_operand;		/* DIR i is a file operand: root_fds[i] holds
					   its directory, which is not walked */
	struct tu_ident *walked;	/* identities of the DIRs walked, sorted */
	size_t nwalked;
	char **displays;		/* the DIRs without trailing slashes */
	uid_t euid;
	pthread_mutex_t lock;		/* the lists below, during the walk */
	pthread_mutex_t out_lock;	/* the caller's callbacks, one at a time */
	struct dfile *files;
	size_t nfiles, capfiles;
	struct ddir **dirs_seen;
	size_t ndirs_seen, capdirs;
	char **blocks;			/* name blocks, freed at the end */
	size_t nblocks, capblocks;
	struct leftover *left;
	size_t nleft, capleft;
	/* The work phase. */
	struct tu_hashcache *hc;	/* update, or no_store with dry_run */
	struct tu_hashcache *hc_show;	/* records only, never a read */
	struct tu_hashcache *hc_side;	/* the same, from .spookyhashes only;
					   NULL with --store=xattr */
	size_t (*groups)[2];		/* [start, end) of each size group in files */
	size_t ngroups;
	struct pending_rec *pending;	/* under lock */
	size_t npending, cappending;
	struct dfile **refs;		/* candidates by directory, for dd_lookup_records */
	size_t nrefs, next_ref;		/* next_ref: under lock */
	_Atomic uint64_t *seen;		/* SEEN_BITS bits: see seen_before() */
	_Atomic size_t next_group;
	struct tu_reporter rep;		/* failures, "some failed", "stop" */
	_Atomic bool warned_reflink;
	dev_t noreflink[16];		/* filesystems without FIDEDUPERANGE */
	size_t nnoreflink;
};

#define COUNT(dd, field, n)							\
	do {									\
		if ((dd)->o->counts)						\
			atomic_fetch_add(&(dd)->o->counts->field, (n));		\
	} while (0)

/* ---- one size group (dedup_compare.c, dedup_link.c) ------------------------------ */

/* One inode of a size group: a candidate. */
struct cand {
	struct dfile *f;	/* its first name */
	size_t nnames;		/* names: f[0..nnames) */
	int fd;
	bool opened;		/* fd was valid once: state is set */
	bool dead;		/* out of the running (changed, failed, differs) */
	bool have_digest;
	bool no_xattrs;		/* key_xattr found none but ours */
	bool keyed;		/* pkey is set (dd_read_ahead) */
	struct fstate st;	/* as compared */
	unsigned char key[16];	/* the current level's key */
	unsigned char pkey[16];	/* the prefix key, once read */
	unsigned char digest[16];
};

/* One worker. */
struct worker {
	struct dd *dd;
	char *buf1, *buf2;
	const struct dfile *buf1_of;	/* buf1 (KEEP_BUF bytes) holds all of this
					   file's bytes (dd_bytes_equal), or NULL */
	char *path;		/* dd_cand_fd's "rel/name" */
	size_t pathcap;
	size_t nopen;
	size_t max_open;	/* candidates kept open at most */
	bool ra_off;		/* reads on ra_dev never wait: no dd_read_ahead() */
	dev_t ra_dev;
};

/* ---- dedup.c ---- */

int64_t dd_ts_ns(const struct statx_timestamp *t);
int dd_state_fd(int fd, struct fstate *s);
bool dd_same_file_state(const struct fstate *a, const struct fstate *b);
char *dd_path_of(struct dd *dd, const struct ddir *dir, const char *name);
void dd_report(struct dd *dd, const struct dfile *f, const char *op, int err,
		const char *detail);
void dd_warn(struct dd *dd, const struct dfile *f, const char *op, int err,
		const char *detail);
int dd_path_cmp(const struct dfile *a, const struct dfile *b);
bool dd_push(void **arr, size_t *n, size_t *cap, size_t size);
int dd_cmp_ident(const void *pa, const void *pb);
int dd_open_dir_of(struct dd *dd, const struct dfile *f);

/* ---- dedup_group.c ---- */

int dd_make_groups(struct dd *dd);
bool dd_reflinking(const struct dd *dd);
void dd_meta_key(const struct dd *dd, const struct dfile *f, unsigned char key[16]);
void dd_set_record(struct tu_hashcache *hc, struct tu_hashdir *hd, int dirfd,
		const char *name, struct dfile *f);
void dd_lookup_records(struct dd *dd, int jobs);
void dd_store_pending(struct dd *dd);

/* ---- dedup_link.c ---- */

void dd_tell(struct dd *dd, const struct dfile *dup, const struct dfile *kept,
		uint64_t size, bool reflink, bool freed);
void dd_final_group(struct worker *w, struct cand *v, size_t n);
void dd_clean_leftovers(struct dd *dd);

/* ---- dedup_walk.c ---- */

/* DIR i named a regular file (NAME in PFD; PATH the operand, NAME pointing
   into it): the file joins the candidates, PFD becomes DIR i's held fd
   (not walked). 0, -ENOTDIR if it is no regular file, or -errno. */
int dd_add_file_operand(struct dd *dd, size_t i, int pfd, char *path, const char *name);
int dd_walk_one(struct dd *dd, size_t i);

/* ---- dedup_compare.c ---- */

void dd_cand_close(struct worker *w, struct cand *c);
int dd_cand_fd(struct worker *w, struct cand *c);
bool dd_meta_equal(const struct dd *dd, const struct cand *a, const struct cand *b);
int dd_bytes_equal(struct worker *w, struct cand *a, struct cand *b);
int dd_xattrs_equal(struct worker *w, struct cand *a, struct cand *b);
bool dd_unchanged(struct worker *w, struct cand *c);
void dd_read_ahead(struct worker *w, struct cand *c, bool whole);
int dd_run_workers(struct dd *dd);

#endif
