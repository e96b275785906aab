/* SPDX-License-Identifier: Apache-2.0 */
/* hashdir.h: the state that hashcache.c (the cache of one file, the
 * records of one directory) and hashtree.c (the walk of a tree) share.
 * Private to those two files; other modules use treeutils.h and hashcache.h.
 *
 * Nothing declared here may print or exit.
 */
#ifndef TU_HASHDIR_H
#define TU_HASHDIR_H
#ifndef TU_INTERNAL
#error "hashdir.h is private to libtreeutils; include treeutils.h"
#endif

#include "treeutils.h"
#include "hashstore.h"
#include "report.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#define NS_PER_S	1000000000LL
/* Timestamp granularity: on filesystems with coarse or foreign clocks, and
   on the others (see hashcache.c's top). */
#define GRAN_FINE	(10 * 1000000LL)
#define GRAN_COARSE	(2 * NS_PER_S)

/* A temporary sidecar left by a crash is removed once this old. */
#define TU_HC_STALE_TMP_AGE	(10 * 60 * 1000000000LL)

/* A cache session (tu_hashcache_open). */
struct tu_hashcache {
	struct tu_hashcache_opts o;
	uid_t euid;
	pthread_mutex_t out_lock;	/* the caller's callbacks, one at a time */
	pthread_mutex_t pool_lock;
	void **pool;			/* free read buffers, one per concurrent reader */
	size_t npool, cappool;
	struct tu_reporter rep;		/* failures, "some failed", "stop" */
	_Atomic bool warned_erofs;	/* say "read-only" once, not per directory */
	_Atomic bool warned_nosupp;
};

/* Cache state of one directory. In a walk it lives in the directory's slot
   from enter() to leave(); the walker never runs two callbacks of one
   directory at once, so it needs no lock. */
struct tu_hashdir {
	struct tu_hashcache *hc;
	int fd;				/* refreshed in each callback: the walker
					   may close and re-open directories */
	struct tu_walk_dir *wd;		/* in a walk: builds paths for messages */
	char *display;			/* otherwise: prefix of names in messages */
	int64_t gran_ns;		/* timestamp granularity, see the top */
	bool rdonly;			/* a read-only mount */
	bool no_xattr;			/* user xattrs are refused here */
	bool listing;			/* every entry will be seen: prune the sidecar */
	bool incomplete;		/* the listing failed part way */
	bool prune_ok;			/* the sidecar was loaded before any file */
	unsigned long files_seen;
	struct tu_sidecar *sc;		/* loaded on first use */
	int sc_err;			/* it could not be: do not use or replace it */
	unsigned long sc_pending;	/* records put in it, to be written */
	int nostore_err;		/* first reason records were not stored */
	unsigned long nostore_n;
	const char *nostore_why;	/* the detail to say with it, if not errno's */
	bool dir_known;			/* dir_uid, dir_mode: fstat of fd, on first need */
	uid_t dir_uid;
	mode_t dir_mode;
	bool sc_said;			/* the sidecar's trouble was said once */
};

/* What a file looks like now. */
struct fmeta {
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint32_t nlink;
	uint64_t size;
	int64_t mtime, ctime;
	uint64_t ino;
};

#define COUNT(hc, field, n)							\
	do {									\
		if ((hc)->o.counts)						\
			atomic_fetch_add(&(hc)->o.counts->field, (n));		\
	} while (0)

/* The file NAME in DIRFD, by statx (no symlink followed). 0 or -errno. */
int tu_hc_meta_at(int dirfd, const char *name, struct fmeta *m);


/* The path of NAME in HD (NAME NULL: HD itself), for messages only;
   malloc'd, NULL when out of memory. */
char *tu_hc_path_of(const struct tu_hashdir *hd, const char *name);
/* A failure with NAME in HD (NULL: HD itself), or with PATH when given:
   through the walker in a walk (so a STOP answer stops it), else to the
   caller's error callback. */
void tu_hc_report(struct tu_hashdir *hd, const char *path, const char *name, const char *op,
		  int err, const char *detail);
/* A warning about NAME in HD. */
void tu_hc_warn(struct tu_hashdir *hd, const char *name, const char *op, int err,
		const char *detail);
/* N records of HD could not be stored, for ERR: said once per directory by
   tu_hc_dir_finish (a refusal as a warning, else as a failure). */
void tu_hc_not_stored(struct tu_hashdir *hd, int err, unsigned long n);
/* One record not stored, for a refusal of ours: WHY is said instead of
   ERR's text. */
void tu_hc_not_stored_why(struct tu_hashdir *hd, int err, const char *why);

/* A directory's cache state for FD; PARENT (may be NULL) lends what is known
   of the filesystem. NULL: no memory. */
struct tu_hashdir *tu_hc_dir_new(struct tu_hashcache *hc, int fd,
				 const struct tu_hashdir *parent);
/* HD's sidecar, loaded on first use; NULL if it cannot be read (then it is
   neither used nor replaced; said once). */
struct tu_sidecar *tu_hc_dir_sidecar(struct tu_hashdir *hd);
/* Write the sidecar if it changed and report what was not stored. ABORTED:
   the walk is being abandoned; write nothing. 0 or -errno. */
int tu_hc_dir_finish(struct tu_hashdir *hd, bool aborted);
void tu_hc_dir_free(struct tu_hashdir *hd);
/* NAME in HD, known only by name: statx it, and deal with it as the mode
   says if it is a regular file. PATH: what to call it in output (NULL:
   built). */
void tu_hc_dir_name(struct tu_hashdir *hd, const char *name, const char *path);
/* A TU_TMP_PREFIX name in HD: removed if it is a sidecar temporary a crash
   left behind, old enough that no run can still be writing it. */
void tu_hc_dir_tmp_name(struct tu_hashdir *hd, const char *name);

#endif
