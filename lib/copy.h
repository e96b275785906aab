/* SPDX-License-Identifier: Apache-2.0 */
/* copy.h: the copy engine, shared by its modules. Private to the library.
 *
 * Layers, data flowing one way: tu_cptree (cptree.c: walker callbacks and
 * dispatch) -> the policy (what to do with each entry) -> copying one entry
 * and finishing it (copyfile.c), with large files in pieces (pieces.c), the
 * hard-link map and deferred flags (inomap.c), the operands (operands.c) ->
 * the walk (walk.c) and the destination's held directories (dircache.c) ->
 * handle.c, data.c, meta.c, which alone make system calls on tree entries.
 *
 * Where later features plug in: a struct tu_copy_policy decides per entry
 * (skip, copy, replace, link from a base tree, delete). Plain copy is the
 * first policy; cptree --update, --clone-from and mvtree are to be others.
 *
 * Nothing declared here may print or exit; every failure goes to
 * cp_report() (the caller's error callback, under the output lock).
 */
#ifndef TU_COPY_H
#define TU_COPY_H
#ifndef TU_INTERNAL
#error "copy.h is private to libtreeutils; include treeutils.h"
#endif

#include "data.h"
#include "dircache.h"
#include "linkpath.h"
#include "meta.h"
#include "report.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define PIECE		((off_t)64 << 20)	/* a large file's unit of parallel copy */
#define SPLIT_MIN	(2 * PIECE)	/* data that makes a file large */

/* A destination directory, from its parent's entry() to its own leave(). */
struct dnode {
	struct tu_dc_node dc;		/* its fd, held in cp->dc */
	bool have_meta;
	struct tu_meta meta;		/* the source directory's, for leave() */
	int bigs;			/* its large files in flight (qlock) */
	mode_t file_allow;		/* without -a: mode bits its new files keep */
	/* -a: what is made in it inherits no ACL (it is ours and has no
	   default ACL), and it inherited none itself (its parent's was
	   so): an absent ACL needs no removal (TU_META_UNINHERITED). */
	bool kids_uninherited, self_uninherited;
	void *pol;			/* the policy's own state for it (update.c) */
	void *base;			/* --clone-from: this directory in each
					   BASE (clone.c), or NULL */
	char name[];
};

struct job;

enum { LINK_BUSY = 1, LINK_DONE, LINK_FAILED };

/* The first copy of a multiply linked source inode. */
struct link_ent {
	dev_t dev;
	ino_t ino;
	struct timespec ctime;		/* with (dev, ino): the inode, not a
					   later one given the same number */
	int state;
	char *rel;			/* its path below DEST */
	struct tu_ident dst;		/* what that path must still be */
	unsigned long lock_flags;	/* +i/+a, set after the walk: a locked
					   inode refuses new links */
};

struct tu_copy_policy;
struct tu_clone;

struct tu_copy {
	const struct tu_cptree_opts *o;
	char *src_display;
	char *dst_display;
	size_t src_display_len;
	struct dnode *root;
	struct tu_meta_reader *mr;
	mode_t umask;
	bool is_root;
	uid_t euid;			/* who owns what we make */
	const struct timespec *born;	/* the DEST root's birth time, when the
					   filesystem tells: what we make in
					   DEST is born later */
	/* --atomic: the hidden root's own metadata, applied only once it is
	   in place, so until then nobody else may enter it (and plant
	   there what a failed copy's cleanup would remove). */
	bool root_meta_deferred;
	struct tu_meta root_meta;

	pthread_mutex_t dlock;		/* the destination fd cache */
	struct tu_dcache dc;

	pthread_mutex_t llock;		/* the inode map */
	pthread_cond_t lcond;
	struct link_ent **ltab;
	size_t lcap, lcount;

	struct tu_data data;		/* moving bytes: reflink mode, buffers */

	pthread_mutex_t qlock;		/* large files copied in pieces */
	pthread_cond_t qcond;		/* a piece posted, a file done */
	struct big *bq;			/* files with pieces to hand out */
	int bigs, bigs_max;		/* files in flight, and at most */
	int file_threads;		/* threads on one file's pieces, at most */
	bool split;			/* more than one worker: pieces */

	pthread_mutex_t out_lock;	/* the caller's callbacks, one at a time */
	struct tu_reporter rep;		/* failures, "some failed", "stop" */
	_Atomic unsigned unsupported;	/* kinds of metadata DEST's filesystem
					   cannot hold, already reported
					   (cp_meta_fail): once per run each */
	struct tu_fs_caps fs;		/* what DEST's filesystem refused */
	int dst_root_fd;

	struct tu_linkpaths lp;		/* link targets: strings, never opened */
	struct tu_hashcache *hc;	/* unused: records go on in pairs */
	struct tu_hashcache *hc_ro;	/* --checksum: records read, never stored */
	struct tu_exclude *excl;	/* --exclude rules; NULL: none */
	bool excl_path;			/* some rule needs the relative path */
	struct upd *upd;		/* --update's own state (update.c) */
	const struct tu_copy_policy *policy;	/* what to do with each entry */
	struct tu_clone *clone;		/* --clone-from: the BASE trees, or NULL */
	/* A file copied in pieces has all its data: check, finish, place it
	   (copyfile.c's cp_file_pieces_done). */
	int (*pieces_done)(struct job *j, int in, int out, const char *tmp, struct tu_meta *meta,
			   double start, int err, const struct tu_xfer *fail);
};

/* Where an entry is, for messages only: the walker's directory and a name,
   or (for a SOURCE that is no directory) the roots themselves. */
struct where {
	struct tu_walk_dir *d;
	const char *name;
};

/* --clone-from: the BASE entry found unchanged for a job (clone.c). */
struct cp_base {
	int fd;				/* held: readable for a regular file,
					   else O_PATH */
	int idx;			/* which BASE */
	bool same_meta;			/* all its metadata is SOURCE's: a hard
					   link may serve */
};

/* One non-directory to copy: source SFD/NAME as ST, to DFD/DNAME. */
struct job {
	struct tu_copy *cp;
	struct where w;
	int sfd, dfd;
	const char *name, *dname;
	struct stat st;
	int sheld;			/* -a: a symlink or special held (O_PATH)
					   as ST says, or -1 */
	bool follow;			/* -L: NAME is a symlink, ST its target's */
	bool defer_lock;		/* hard-linked: +i/+a come after the walk */
	unsigned long lock_flags;	/* out: what was deferred */
	struct tu_ident dst;		/* out: what was made */
	struct cp_base *base;		/* --clone-from: BASE's match, or NULL */
};

/* Metadata that could not be applied: the owner, when we are not root, is
   a warning (cp -a keeps quiet about it; we say it once per entry);
   everything else is a failure. */
struct cp_meta_fail_ctx {
	struct tu_copy *cp;
	const struct where *w;
};

/* ---- the policy seam ------------------------------------------------------ */

/* What becomes of one source entry. Plain copy answers TU_COPY_NEW for all
   of them; an update, a clone from a base tree or a move will answer the
   others (a decision this engine cannot carry out yet is refused with
   -ENOTSUP, reported, never ignored). */
enum tu_copy_decision {
	TU_COPY_SKIP,		/* leave DEST as it is (a directory: not
				   descended into) */
	TU_COPY_NEW,		/* copy under a name that must not exist */
	TU_COPY_REPLACE,	/* copy, then replace the name that exists; a
				   directory: DEST has one under the name,
				   descend into it as it is */
	TU_COPY_LINK_BASE,	/* link or reflink it from a base tree */
	TU_COPY_DELETE,		/* remove the DEST entry SOURCE lacks */
};

/* One entry as the policy sees it: NAME in the source directory D (held,
   SFD) and the matching destination directory (DFD, -1 in a dry run). */
struct tu_copy_entry {
	struct tu_walk_dir *d;
	const struct tu_dirent *e;
	int sfd, dfd;
};

struct tu_copy_policy {
	const char *name;
	/* Per entry, before anything of it is made. */
	enum tu_copy_decision (*decide)(struct tu_copy *cp, const struct tu_copy_entry *e);
	/* An entry is in place (REL below the roots, TYPE as -i shows it);
	   may be NULL. */
	void (*placed)(struct tu_copy *cp, const char *rel, char type);
	/* A directory is complete, its metadata applied; may be NULL. */
	void (*dir_done)(struct tu_copy *cp, struct tu_walk_dir *d);

	/* The hooks of a policy that works on an existing DEST (update):
	   DEST's directories exist, and are opened, not made; in a dry run
	   too (read only), so that decide() can compare. All may be NULL. */
	bool existing_dest;
	/* Hard links are the policy's (no inode map in copyfile.c). */
	bool own_links;
	/* The DEST directory N of D is open (enter()). */
	void (*dir_entered)(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n);
	/* D's entries are all in place (done_entries()), N still pinned. */
	void (*entries_done)(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n);
	/* D's metadata onto FD, N's DEST directory, instead of a copy's. */
	void (*dir_finish)(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n, int fd);
	/* An entry made by the engine, instead of cp_item's report. */
	void (*item)(struct tu_copy *cp, const struct where *w, char type, char how,
		     const char *target, uint64_t size);
	/* The walk is over; DEST's root is still held. */
	void (*walk_done)(struct tu_copy *cp);
	/* A directory's entries are all done (or it is freed): its state in
	   N->base may go; may be NULL. */
	void (*dir_release)(struct tu_copy *cp, struct dnode *n);
};

/* cptree's first policy: every entry is new. */
extern const struct tu_copy_policy tu_copy_plain;

/* cptree --update (update.c): skip, apply metadata, replace, delete. */
extern const struct tu_copy_policy tu_copy_update;

/* Set up and release what the policies share (update.c): the exclude
   rules (refusals reported), --update's state, the hash cache. 0 or
   -errno. */
int cp_policy_init(struct tu_copy *cp);
void cp_policy_free(struct tu_copy *cp);
/* Is E excluded (--exclude, --exclude-from)? */
bool cp_excluded(struct tu_copy *cp, const struct tu_copy_entry *e);

/* ---- "same content?", through the hash cache (update.c) --------------------- */

enum {
	TU_SAME_KEEP_DST = 1u << 0,	/* write no record on DFD (a base tree,
					   which is never modified) */
};

/* --checksum: do the regular files open for reading as SFD (in SOURCE) and
   DFD (in DEST, or a base tree), sizes equal, hold the same bytes? Asked of
   the hash cache (cp->hc_ro, opened by tu_cptree when o->checksum): a valid
   record answers without reading the file; otherwise the file is read and
   hashed. When the content is equal, both files are given one identical
   fresh record (the same bytes, so -a's xattrs stay equal, and valid for
   both, so the next run reads neither), unless both already hold one, and
   except under TU_SAME_KEEP_DST (then nothing is written at all). No record
   is written on a file changed within 2 s of being hashed (the racy rule),
   nor, when we are root, on a file with more than one link (hashcache(1),
   SECURITY), nor on an immutable or append-only one. A dry run writes
   nothing.
   1: same; 0: different; -errno (-EAGAIN: a file changed while it was
   read). Thread-safe; never prints. */
int tu_copy_same_content(struct tu_copy *cp, int sfd, int dfd, unsigned flags);
/* ---- --clone-from (clone.c) ---------------------------------------------------- */

/* The policy: a non-directory may be shared with a BASE (TU_COPY_LINK_BASE,
   carried out by cp_copy_nondir_base), a directory is new. */
extern const struct tu_copy_policy tu_copy_clone;
struct start;
/* Before DEST is made: open the BASE trees, and choose DEST's hidden name
   (HIDDEN, TU_TMP_NAME_MAX bytes), removing what an interrupted run left
   under it. 0 or -errno (refused, reported). */
int cp_clone_start(struct tu_copy *cp, struct start *s, char *hidden);
/* DEST's hidden root is open (FD): held locked for the run, and asked
   whether it can share extents. 0 or -errno (reported). */
int cp_clone_root(struct tu_copy *cp, int fd);
void cp_clone_end(struct tu_copy *cp);
/* J (stat'ed; FD its source open, regular files only): is it unchanged
   in a BASE? Fills B and sets J->base when it is. */
void cp_clone_match(struct job *j, int fd, struct cp_base *b);
/* Share J's entry with J->base: 0 done, 1 to be copied instead (nothing
   made), or -errno (reported). Closes nothing. */
int cp_clone_place(struct job *j, int fd);

/* ---- messages (copyreport.c) ----------------------------------------------- */

void cp_note_failure(struct tu_copy *cp, int err);
/* The caller asked the copy to stop (tu_cptree_opts.interrupted). */
static inline bool cp_interrupted(const struct tu_copy *cp)
{
	return cp->o->interrupted && *cp->o->interrupted;
}
void cp_call_locked(struct tu_copy *cp, tu_error_fn *fn, const char *path, const char *op,
		    int err, const char *detail);
/* The entry's path below the roots, malloc'd ("." for the roots). */
char *cp_rel_of(struct tu_copy *cp, const struct where *w);
char *cp_join(const char *root, const char *rel);
/* A failure reading the source (SRC true) or writing the copy. */
void cp_report(struct tu_copy *cp, const struct where *w, bool src, const char *op, int err,
	       const char *detail);
void cp_warn(struct tu_copy *cp, const struct where *w, const char *op, int err,
	     const char *detail);
/* A refusal before anything is written, with the path as given. */
void cp_refuse(struct tu_copy *cp, const char *path, const char *op, int err,
	       const char *detail);
/* One entry made: counted, and passed to the caller's copied(). */
void cp_item(struct tu_copy *cp, const struct where *w, char type, char how, const char *target,
	     uint64_t size);
void cp_item_rewritten(struct tu_copy *cp, const struct where *w, const char *target,
		       const char *old);
/* tu_meta_apply_*'s failure callback; CTX is a struct cp_meta_fail_ctx. */
void cp_meta_fail(const char *op, int err, const char *detail, void *ctx);

/* ---- the destination's held directories (cptree.c) -------------------------- */

struct dnode *cp_slot_dn(struct tu_walk_dir *d);
int cp_dn_pin(struct tu_copy *cp, struct dnode *n);
void cp_dn_unpin(struct tu_copy *cp, struct dnode *n);
int cp_dn_open_child(struct tu_copy *cp, struct dnode *parent, const char *name,
		     struct dnode **out);
void cp_dn_prepare_parent(struct tu_copy *cp, struct dnode *n);
void cp_dn_free(struct tu_copy *cp, struct dnode *n);

/* ---- one entry (copyfile.c) -------------------------------------------------- */

enum { CP_DEFERRED = 1 };	/* a file is finished later (pieces.c) */

/* The non-directory NAME in SFD (DTYPE as read) to DNAME in DFD. */
int cp_copy_nondir(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
		   const char *name, const char *dname, unsigned char dtype);
/* The same, shared with a --clone-from BASE where it is unchanged there. */
int cp_copy_nondir_base(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
			const char *name, unsigned char dtype);
/* A regular file's data is in OUT (named TMP, or unnamed): its metadata,
   its name, then its flags; as a copy is finished. 0 or -errno (reported). */
int cp_file_finish(struct job *j, int out, const char *tmp, struct tu_meta *meta);
/* -L: the non-directory the symlink NAME leads to, whose stat is ST. */
int cp_copy_followed(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
		     const char *name, const struct stat *st);
/* J by its type; FD is the source open as a regular file, or -1. */
int cp_copy_by_type(struct job *j, int fd);
/* The item type of a non-directory of MODE, as -i shows it. */
char cp_item_type(mode_t mode);
int cp_file_pieces_done(struct job *j, int in, int out, const char *tmp, struct tu_meta *meta,
			double start, int err, const struct tu_xfer *fail);
/* Link farms: --link=hard and --link=symbolic. */
void cp_farm_hard(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		  unsigned char dtype);
void cp_farm_symbolic(struct tu_copy *cp, struct tu_walk_dir *d, int dfd, const char *name);

/* ---- large files in pieces (pieces.c) ------------------------------------------ */

/* Data, metadata, then the name: a regular file.
 *
 * A file with at least SPLIT_MIN bytes of data, when there is more than one
 * worker, is copied in pieces of PIECE bytes of the source's offsets (holes
 * skipped when they are handed out, and kept inside each piece), at explicit
 * offsets into the one new file, by any thread that has time: the walker's
 * idle workers (cp_pieces_idle), a thread waiting for room for one more such file,
 * and the directory's own thread in done_entries(), which waits for every
 * file of its directory. The owner does not wait for it in entry(): the
 * directory's other entries are copied meanwhile. The thread that finishes
 * the last piece finishes the file: it checks the source did not change
 * (else copies it again, on that thread), applies the metadata and links it
 * into place, or, when any piece failed, reports it and throws it away. The
 * first copy of a hard-link group is waited for by its own thread, which
 * copies its pieces too, since its later names need it in place.
 *
 * Nobody waits for anything but pieces being copied, and a piece waits for
 * nothing: no deadlock. At most bigs_max such files are in flight (two fds
 * each).
 */
bool cp_pieces_want(const struct tu_copy *cp, const struct job *j);
/* Hand J's file over to be copied in pieces; CP_DEFERRED or what its end
   returned (a hard-link group's first copy is waited for here). */
int cp_pieces_start(struct job *j, int fd, int out, const char *tmp, struct tu_meta *meta,
		    double start);
/* The walker's idle() callback: copy one piece of any file. */
bool cp_pieces_idle(void *ctx);
/* Copy pieces of any file until N's large files are all finished. */
void cp_pieces_wait_dir(struct tu_copy *cp, struct dnode *n);

/* ---- hard links (inomap.c) ------------------------------------------------------ */

/* A non-directory whose source has other links: the first name seen is
   copied, the others become links to that copy. */
int cp_copy_linked(struct job *j, int fd);
/* After the walk: the deferred +i/+a flags of hard-linked files. */
void cp_links_apply_flags(struct tu_copy *cp);
void cp_links_free(struct tu_copy *cp);

/* ---- the operands (operands.c) ------------------------------------------------- */

/* What the checks found and hold, for the run. */
struct start {
	char *sbuf, *dbuf;
	int spfd, dpfd, sfd;
	const char *slast, *dlast;
	struct tu_ident sid;
	struct tu_ident did;		/* DEST as checked, when it exists */
	bool dest_exists;
	bool hidden_given;		/* --atomic's hidden name is the caller's
					   (--clone-from), not a random one */
};

/* SOURCE or DEST as the user wrote it, without trailing slashes. */
char *cp_display_of(const char *arg);
/* Every check before anything is written (refusals reported). */
int cp_preflight(struct tu_copy *cp, const char *source, const char *dest, struct start *s);
/* The strings link targets are made from. */
int cp_link_paths_init(struct tu_copy *cp, const char *source, struct start *s);
/* Make DEST, or (--atomic) its hidden stand-in HIDDEN (TU_TMP_NAME_MAX
   bytes); *NAME gets the name in s->dpfd. 1 when a directory was made, 0
   when the existing empty DEST is used, or -errno (refused). */
int cp_dest_create(struct tu_copy *cp, struct start *s, char *hidden, const char **name);
/* --atomic: rename HIDDEN, the directory MADE, into place when OK, else
   (or when that fails) remove it, only while it is MADE. Returns whether
   the copy stands. */
bool cp_dest_commit(struct tu_copy *cp, struct start *s, const char *hidden,
		    const struct tu_ident *made, bool ok);

#endif
