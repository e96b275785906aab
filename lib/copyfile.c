/* SPDX-License-Identifier: Apache-2.0 */
/* copyfile.c: copy ONE entry and finish it: a regular file (data, then
 * metadata, then its name), a symlink, a FIFO, socket or device, or a
 * link-farm entry.
 *
 * A file is written under O_TMPFILE (or a TU_TMP_PREFIX name) and linked
 * (renamed) into place only when its data and metadata are complete, so no
 * partial file ever carries a final name. Metadata goes on in the order
 * meta.c keeps and comments (owner before mode, since chown clears setuid;
 * security.capability after chown, which clears it; times after data);
 * immutable and append-only flags come last of all, after the name, since
 * such a file refuses a name, metadata and links; a directory's own
 * metadata waits for its contents (cptree.c's leave()).
 *
 * This file must never follow a symlink in either tree, never replace an
 * existing name, and never make a system call on a tree entry itself:
 * handle.c, data.c and meta.c do, on held fds and one name.
 */
#define TU_INTERNAL
#include "copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool same_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int open_source(struct job *j)
{
	long delay = 1000000;
	double start = 0;
	for (;;) {
		int fd = tu_file_open_at(j->sfd, j->name, j->follow);
		if (fd >= 0)
			return fd;
		int err = -fd;
		if (!tu_is_transient(err))
			return -err;
		if (start == 0)
			start = tu_now();
		if (tu_now() - start >= j->cp->o->timeout)
			return -err;
		tu_sleep_backoff(&delay);
	}
}

/* ---- a regular file ---------------------------------------------------------- */

/* A data failure of J's file, with the path of the side that failed. */
static void report_data(struct job *j, int r, const struct tu_xfer *x)
{
	char detail[96];
	const char *d = NULL;
	if (x->timed_out) {
		snprintf(detail, sizeof detail, "still failing after --timeout=%g s; not copied",
			 j->cp->o->timeout);
		d = detail;
	} else if (strcmp(x->op, "reflink") == 0 &&
		   (r == -EOPNOTSUPP || r == -EXDEV || r == -EINVAL)) {
		d = "--reflink=always: the filesystem cannot share extents";
	}
	cp_report(j->cp, &j->w, !x->dst, x->op, -r, d);
}

/* Did the source FD change while it was read? 0: no; 1: it did, so the
   copy may be torn and is to be made again (J's stat renewed); -EAGAIN: it
   kept changing for --timeout seconds (reported). */
static int recheck(struct job *j, int fd, double start, long *delay)
{
	struct stat now;
	if (tu_stat_fd(fd, &now) < 0 || same_state(&now, &j->st))
		return 0;
	if (tu_now() - start >= j->cp->o->timeout) {
		cp_report(j->cp, &j->w, true, "copy", EAGAIN,
		       "the file kept changing while it was copied; not copied");
		return -EAGAIN;
	}
	j->st = now;
	tu_sleep_backoff(delay);
	return 1;
}

/* TU_META_UNINHERITED when J is made in a DEST directory known to pass
   no ACL on (cptree.c's enter()), else 0. */
static unsigned uninherited(const struct job *j)
{
	const struct dnode *dn = cp_slot_dn(j->w.d);
	return dn && dn->dc.fd == j->dfd && dn->kids_uninherited ? TU_META_UNINHERITED : 0;
}

/* OUT (named TMP, or unnamed) holds the data: metadata, the final name,
   then the flags. OUT stays open; on failure (reported) it is discarded. */
static int file_finish(struct job *j, int out, const char *tmp, struct tu_meta *meta)
{
	struct tu_copy *cp = j->cp;
	const struct tu_cptree_opts *o = cp->o;
	struct cp_meta_fail_ctx mf = { cp, &j->w };
	struct dnode *dn = cp_slot_dn(j->w.d);
	if (o->archive) {
		tu_meta_apply_fd(out, meta, (TU_META_ALL & ~TU_META_FLAGS) | uninherited(j),
				 cp_meta_fail, &mf);
	} else {
		/* As cp -r: the umask, or the directory's default ACL instead
		   (found once per directory, in cptree.c's enter()). */
		mode_t allow = dn ? dn->file_allow : 0777 & ~cp->umask;
		int r = tu_chmod_fd(out, j->st.st_mode & 0777 & allow);
		if (r < 0)
			cp_report(cp, &j->w, false, "set mode", -r, NULL);
	}
	int r = tu_tmpfile_place(&cp->fs, out, j->dfd, tmp, j->dname);
	if (r < 0) {
		cp_report(cp, &j->w, false, "create", -r, NULL);
		tu_tmpfile_discard(j->dfd, tmp);
		return r;
	}
	/* Flags last: an immutable or append-only file refuses its name,
	   its metadata and any further link. */
	if (o->archive && meta->fflags) {
		if (j->defer_lock && tu_meta_flags_lock(meta->fflags))
			j->lock_flags = meta->fflags;
		else
			tu_meta_apply_fd(out, meta, TU_META_FLAGS, cp_meta_fail, &mf);
	}
	if (j->defer_lock)	/* a hard-link group's first copy */
		tu_ident_fd(out, &j->dst);
	return 0;
}

/* A regular file, from START (the first try, for --timeout); SPLIT: in
   pieces when it is large. FD is the source, open. Returns 0, CP_DEFERRED (FD
   is the big file's now), or -errno (reported). */
static int copy_file_from(struct job *j, int fd, double start, bool split)
{
	struct tu_copy *cp = j->cp;
	const struct tu_cptree_opts *o = cp->o;
	long delay = 1000000;
	for (;;) {
		struct tu_meta meta = { .st = j->st };
		if (o->archive) {
			int r = tu_meta_read_fd(cp->mr, fd, &j->st, &meta);
			if (r < 0) {
				cp_report(cp, &j->w, true, "read metadata", -r, NULL);
				meta = (struct tu_meta){ .st = j->st };
			}
		}
		char tmp[TU_TMP_NAME_MAX];
		int out = tu_tmpfile_create(&cp->fs, j->dfd, tmp);
		if (out < 0) {
			tu_meta_free(&meta);
			cp_report(cp, &j->w, false, "create", -out, NULL);
			return out;
		}
		struct tu_xfer x = { .dc = &cp->data, .in = fd, .out = out };
		int r;
		if (tu_data_size_untrusted(fd, &j->st)) {
			r = tu_data_copy_until_eof(&x);
		} else if (split && cp_pieces_want(cp, j)) {
			r = tu_data_reflink(&x, &j->st);
			if (r == 0)
				return cp_pieces_start(j, fd, out, tmp, &meta, start);
			if (r > 0)
				r = 0;
		} else {
			r = tu_data_copy(&x, &j->st);
		}
		if (r < 0) {
			report_data(j, r, &x);
			close(out);
			tu_tmpfile_discard(j->dfd, tmp);
			tu_meta_free(&meta);
			return r;
		}
		int c = recheck(j, fd, start, &delay);
		if (c != 0) {
			close(out);
			tu_tmpfile_discard(j->dfd, tmp);
			tu_meta_free(&meta);
			if (c < 0)
				return c;
			continue;
		}
		r = file_finish(j, out, tmp, &meta);
		close(out);
		tu_meta_free(&meta);
		return r;
	}
}

/* pieces.c is done with J's file: IN the source, OUT the copy (named TMP,
   or unnamed) with all its data unless ERR (the first failure, where FAIL
   says). Check, finish and place it, or report and discard it; as the end
   of copy_file_from() does for a file copied on one thread. Closes OUT and
   frees META. 0 or -errno (reported). */
int cp_file_pieces_done(struct job *j, int in, int out, const char *tmp, struct tu_meta *meta,
			double start, int err, const struct tu_xfer *fail)
{
	if (err < 0) {
		report_data(j, err, fail);
		close(out);
		tu_tmpfile_discard(j->dfd, tmp);
		tu_meta_free(meta);
		return err;
	}
	long delay = 1000000;
	int c = recheck(j, in, start, &delay);
	if (c != 0) {
		close(out);
		tu_tmpfile_discard(j->dfd, tmp);
		tu_meta_free(meta);
		/* Changed: all over again, on this thread. */
		return c < 0 ? c : copy_file_from(j, in, start, false);
	}
	int r = file_finish(j, out, tmp, meta);
	close(out);
	tu_meta_free(meta);
	return r;
}

static int copy_file(struct job *j, int fd)
{
	return copy_file_from(j, fd, tu_now(), j->cp->split);
}

/* ---- symlinks and special files ----------------------------------------------- */

/* The symlink or special file J just made by name, held by an O_PATH fd
   that is checked to be what was made (of MODE's type, RDEV for a
   device): its metadata goes on through that fd, never on whatever the
   name means by then (someone who can write DEST may have replaced it).
   Fills J->dst. The fd, or -errno (reported). */
static int hold_made(struct job *j, mode_t mode, dev_t rdev)
{
	struct tu_copy *cp = j->cp;
	int fd = tu_entry_open_made(j->dfd, j->dname, mode, rdev, cp->euid, cp->born, &j->dst);
	if (fd < 0)
		cp_report(cp, &j->w, false, "create", -fd,
			  fd == -ESTALE ? "replaced after it was made; its metadata not applied"
					: NULL);
	return fd;
}

/* The source metadata of J's symlink or special file, from the inode
   stat'ed: the one held (J->sheld), else NAME held and checked against
   J->st (-ESTALE when it changed). Never from whatever the name means
   later. */
static int read_meta_entry(struct job *j, struct tu_meta *m)
{
	if (j->sheld >= 0)
		return tu_meta_read_held(j->sheld, &j->st, m);
	return tu_meta_read_at(j->cp->mr, j->sfd, j->name, &j->st, m);
}

static int copy_symlink(struct job *j)
{
	struct tu_copy *cp = j->cp;
	char *target = NULL;
	/* The target of the link held, when it is: the same inode as its
	   metadata. */
	int r = j->sheld >= 0 ? tu_read_link_at(j->sheld, "", (size_t)j->st.st_size, &target)
			      : tu_read_link_at(j->sfd, j->name, (size_t)j->st.st_size, &target);
	if (r < 0) {
		cp_report(cp, &j->w, true, "read link", -r, NULL);
		return r;
	}
	char *fixed = NULL;
	if (cp->o->fix_symlinks) {
		struct where dw = { j->w.d, NULL };
		char *dir_rel = cp_rel_of(cp, &dw);
		int err = dir_rel ? 0 : -ENOMEM;
		if (dir_rel)
			fixed = tu_linkpath_fix(&cp->lp, dir_rel, target, &err);
		free(dir_rel);
		if (err < 0) {
			cp_report(cp, &j->w, false, "rewrite symlink", -err, NULL);
			free(target);
			return err;
		}
	}
	if (!cp->o->dry_run)
		r = tu_make_symlink_at(fixed ? fixed : target, j->dfd, j->dname);
	if (r < 0) {
		cp_report(cp, &j->w, false, "create symlink", -r, NULL);
		free(fixed);
		free(target);
		return r;
	}
	if (cp->o->archive && !cp->o->dry_run) {
		int held = hold_made(j, S_IFLNK, 0);
		if (held < 0) {
			free(fixed);
			free(target);
			return held;
		}
		struct tu_meta meta;
		r = read_meta_entry(j, &meta);
		if (r < 0) {
			cp_report(cp, &j->w, true, "read metadata", -r,
				  r == -ESTALE ? "changed while copied; its metadata not copied" : NULL);
		} else {
			struct cp_meta_fail_ctx mf = { cp, &j->w };
			tu_meta_apply_held(held, &meta, TU_META_OWNER | TU_META_XATTR | TU_META_TIMES,
					   cp_meta_fail, &mf);
			tu_meta_free(&meta);
		}
		close(held);
	} else if (!cp->o->dry_run) {
		tu_ident_at(j->dfd, j->dname, &j->dst);
	}
	if (fixed)
		cp_item_rewritten(cp, &j->w, fixed, target);
	else
		cp_item(cp, &j->w, 'L', 'c', target, 0);
	free(fixed);
	free(target);
	return 0;
}

/* FIFOs, sockets and devices: made with mknod, never opened. */
static int copy_special(struct job *j)
{
	struct tu_copy *cp = j->cp;
	bool dev = S_ISCHR(j->st.st_mode) || S_ISBLK(j->st.st_mode);
	if (cp->o->dry_run) {
		cp_item(cp, &j->w, dev ? 'D' : 'S', 'c', NULL, 0);
		return 0;
	}
	mode_t perm = cp->o->archive ? 0600 : j->st.st_mode & 0777;
	int made = tu_make_node_at(j->dfd, j->dname, (j->st.st_mode & S_IFMT) | perm, j->st.st_rdev);
	if (made < 0) {
		int r = made;
		cp_report(cp, &j->w, false, "create", -r, NULL);
		return r;
	}
	if (cp->o->archive) {
		int held = hold_made(j, j->st.st_mode, j->st.st_rdev);
		if (held < 0)
			return held;
		/* Reached through a symlink (-L), only what stat says is
		   kept: xattrs and ACLs would be read from the link. */
		struct tu_meta meta = { .st = j->st };
		int r = j->follow ? 0 : read_meta_entry(j, &meta);
		if (r < 0) {
			cp_report(cp, &j->w, true, "read metadata", -r,
				  r == -ESTALE ? "changed while copied; its metadata not copied" : NULL);
		} else {
			struct cp_meta_fail_ctx mf = { cp, &j->w };
			tu_meta_apply_held(held, &meta,
					   (TU_META_ALL & ~TU_META_FLAGS) | uninherited(j),
					   cp_meta_fail, &mf);
			tu_meta_free(&meta);
		}
		close(held);
	} else {
		tu_ident_at(j->dfd, j->dname, &j->dst);
	}
	cp_item(cp, &j->w, dev ? 'D' : 'S', 'c', NULL, 0);
	return 0;
}

/* The item type of a non-directory of MODE, as -i shows it. */
char cp_item_type(mode_t mode)
{
	if (S_ISREG(mode))
		return 'f';
	if (S_ISLNK(mode))
		return 'L';
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return 'D';
	return 'S';
}

/* Copy by type; FD is the source open as a regular file, or -1 (always
   with dry_run, which lists the entry and writes nothing). */
int cp_copy_by_type(struct job *j, int fd)
{
	if (j->base) {
		/* --clone-from: shared with BASE, else copied as usual. */
		int r = cp_clone_place(j, fd);
		if (r <= 0)
			return r;
	}
	if (S_ISREG(j->st.st_mode)) {
		int r = j->cp->o->dry_run ? 0 : copy_file(j, fd);
		if (r == 0)
			cp_item(j->cp, &j->w, 'f', 'c', NULL, (uint64_t)j->st.st_size);
		return r;
	}
	if (S_ISLNK(j->st.st_mode))
		return copy_symlink(j);
	if (S_ISDIR(j->st.st_mode)) {
		cp_report(j->cp, &j->w, true, "copy", EAGAIN, "became a directory while copied");
		return -EAGAIN;
	}
	return copy_special(j);
}

/* ---- one non-directory --------------------------------------------------- */

/* Open J's source, a regular file by J->st, and take the open file's stat
   into J->st. It must still be a regular file; with SAME_INODE (a file
   reached through a followed symlink) also the very inode stat'ed. A failure
   is reported; -errno. */
static int open_stated(struct job *j, bool same_inode)
{
	struct tu_copy *cp = j->cp;
	int fd = open_source(j);
	if (fd < 0) {
		cp_report(cp, &j->w, true, "open", -fd, NULL);
		return fd;
	}
	struct stat st2;
	if (tu_stat_fd(fd, &st2) < 0 || !S_ISREG(st2.st_mode) ||
	    (same_inode && (st2.st_dev != j->st.st_dev || st2.st_ino != j->st.st_ino))) {
		close(fd);
		cp_report(cp, &j->w, true, "open", EAGAIN,
		       same_inode ? "changed while copied" : "changed type while copied");
		return -EAGAIN;
	}
	j->st = st2;
	return fd;
}

/* Are hard links kept for this entry? With archive, unless dereferenced.
   With -L every non-directory is in the map, one name or more: a file
   reached directly and through a followed symlink (or through two) is one
   inode with two names in DEST, as cp -a -L makes it. */
static bool keep_links(const struct tu_copy *cp, const struct stat *st)
{
	if (!cp->o->archive || cp->policy->own_links || S_ISDIR(st->st_mode) ||
	    (cp->o->dereference & TU_DEREF_HARD))
		return false;
	return st->st_nlink > 1 || (cp->o->dereference & TU_DEREF_SYMBOLIC);
}

static int copy_nondir(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
		       const char *name, const char *dname, unsigned char dtype, bool base)
{
	struct job j = { .cp = cp, .w = { d, name }, .sfd = sfd, .dfd = dfd, .name = name,
			 .dname = dname, .sheld = -1 };
	int fd = -1;
	bool dry = cp->o->dry_run;
	/* A regular file is opened first and asked what it is (one call
	   fewer); anything else is only looked at, never opened. A dry run
	   opens nothing: it only needs what stat says. */
	if (dtype == DT_REG && !dry) {
		fd = open_source(&j);
		if (fd < 0 && fd != -ELOOP && fd != -ENXIO && fd != -EWOULDBLOCK) {
			cp_report(cp, &j.w, true, "open", -fd, NULL);
			return fd;
		}
		if (fd >= 0) {
			int r = tu_stat_fd(fd, &j.st);
			if (r < 0) {
				close(fd);
				cp_report(cp, &j.w, true, "stat", -r, NULL);
				return r;
			}
			if (!S_ISREG(j.st.st_mode)) {
				close(fd);
				fd = -1;
			}
		}
	}
	if (fd < 0) {
		/* With -a, a symlink or special file is held as it is stat'ed:
		   its metadata (and a symlink's target) are read from that
		   inode, whatever its name means by then. */
		int r;
		if (cp->o->archive && !dry) {
			r = tu_entry_hold_at(sfd, name, &j.st);
			if (r >= 0) {
				j.sheld = r;
				r = 0;
			}
		} else {
			r = tu_stat_at(sfd, name, &j.st, false);
		}
		if (r < 0) {
			cp_report(cp, &j.w, true, "stat", -r, NULL);
			return r;
		}
		if (j.sheld >= 0 && S_ISREG(j.st.st_mode)) {
			close(j.sheld);	/* opened for reading below */
			j.sheld = -1;
		}
		if (S_ISREG(j.st.st_mode) && !dry) {
			fd = open_stated(&j, false);
			if (fd < 0)
				return fd;
		}
	}
	struct cp_base b = { .fd = -1 };
	if (base)
		cp_clone_match(&j, fd, &b);
	int r = keep_links(cp, &j.st) ? cp_copy_linked(&j, fd) : cp_copy_by_type(&j, fd);
	if (fd >= 0 && r != CP_DEFERRED)
		close(fd);	/* a deferred file's, from now on */
	if (j.sheld >= 0)
		close(j.sheld);
	if (b.fd >= 0)
		close(b.fd);
	return r;
}

int cp_copy_nondir(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		       const char *dname, unsigned char dtype)
{
	return copy_nondir(cp, d, sfd, dfd, name, dname, dtype, false);
}

int cp_copy_nondir_base(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
			const char *name, unsigned char dtype)
{
	return copy_nondir(cp, d, sfd, dfd, name, name, dtype, true);
}

/* -L: the non-directory the symlink NAME leads to, whose stat is ST. Only a
   regular file is opened, and it must be the file stat'ed. */
int cp_copy_followed(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd,
			 const char *name, const struct stat *st)
{
	struct job j = { .cp = cp, .w = { d, name }, .sfd = sfd, .dfd = dfd, .name = name,
			 .dname = name, .st = *st, .sheld = -1, .follow = true };
	int fd = -1;
	if (S_ISREG(st->st_mode) && !cp->o->dry_run) {
		fd = open_stated(&j, true);
		if (fd < 0)
			return fd;
	}
	int r = keep_links(cp, &j.st) ? cp_copy_linked(&j, fd) : cp_copy_by_type(&j, fd);
	if (fd >= 0 && r != CP_DEFERRED)
		close(fd);	/* a deferred file's, from now on */
	return r;
}

/* ---- link farms ---------------------------------------------------------- */

/* --link=hard: the source entry itself gets a second name in DEST. DTYPE
   only says what it is in the listing (a symlink is "hL", as rsync says). */
void cp_farm_hard(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		      unsigned char dtype)
{
	struct where w = { d, name };
	int r = cp->o->dry_run ? 0 : tu_link_at(sfd, name, dfd, name);
	if (r < 0) {
		cp_report(cp, &w, false, "link", -r, NULL);
		return;
	}
	mode_t mode = DTTOIF(dtype);
	struct stat st;
	if (dtype == DT_UNKNOWN && cp->o->copied &&
	    tu_stat_at(sfd, name, &st, false) == 0)
		mode = st.st_mode;
	cp_item(cp, &w, cp_item_type(mode), 'l', NULL, 0);
}

/* --link=symbolic: a symlink to the source entry, like cp -rs. Relative:
   up to DEST's level from where the link sits, then across to SOURCE. */
void cp_farm_symbolic(struct tu_copy *cp, struct tu_walk_dir *d, int dfd, const char *name)
{
	struct where w = { d, name };
	char *rel = cp_rel_of(cp, &w);
	char *target = rel ? tu_linkpath_farm_target(&cp->lp, rel, tu_walk_dir_depth(d),
						      cp->o->absolute_links)
			   : NULL;
	free(rel);
	if (!target) {
		cp_report(cp, &w, false, "create symlink", ENOMEM, NULL);
		return;
	}
	int r = cp->o->dry_run ? 0 : tu_make_symlink_at(target, dfd, name);
	if (r < 0)
		cp_report(cp, &w, false, "create symlink", -r, NULL);
	else
		cp_item(cp, &w, 'L', 'l', target, 0);
	free(target);
}

int cp_file_finish(struct job *j, int out, const char *tmp, struct tu_meta *meta)
{
	return file_finish(j, out, tmp, meta);
}
