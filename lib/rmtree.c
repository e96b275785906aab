/* SPDX-License-Identifier: Apache-2.0 */
/* rmtree.c: race-safe hierarchy delete, as walker callbacks.
 *
 * Files go first, from the tips to the trunk; a directory goes in its
 * leave(), once its contents are gone. Transient failures are retried until
 * the timeout; an entry that will not go where it is gets renamed into the
 * base directory under a random name and retried there, so its parents can
 * go; a directory that fills up again is read again until the timeout.
 *
 * Two entry points share one engine: tu_rmtree(path) opens the parent of
 * PATH and hands over to the same code as tu_rmtree_at(dirfd, name). The
 * caller's may_remove() predicate, and mounts left alone (unless
 * cross_mounts), keep entries where they are, and with them every directory
 * above them: such directories are never renamed away. --all-or-nothing and
 * the dry run share one check pass (rmtree_check.c), so a dry run lists
 * only what the permission checks let go. The state both share is in
 * rmtree.h.
 *
 * This file must never follow a symlink, never act on a path string inside
 * the tree, never change the directory that holds the base, and never
 * remove anything outside the directory it was given: every removal is one
 * name relative to a held directory fd.
 */
#define TU_INTERNAL
#include "rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Per-directory state, only for a directory that had to be read again. */
struct again {
	double since;
};

/* ---- the given-up set --------------------------------------------------- */

static size_t idset_slot(const struct idset *s, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29)) & (s->cap - 1);
}

bool rm_idset_has(struct idset *s, dev_t dev, ino_t ino)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	if (s->count) {
		for (size_t i = idset_slot(s, dev, ino);; i = (i + 1) & (s->cap - 1)) {
			struct tu_ident_key *k = &s->keys[i];
			if (k->ino == 0)
				break;
			if (k->ino == ino && k->dev == dev) {
				found = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void idset_add_locked(struct idset *s, dev_t dev, ino_t ino)
{
	size_t i = idset_slot(s, dev, ino);
	while (s->keys[i].ino != 0) {
		if (s->keys[i].ino == ino && s->keys[i].dev == dev)
			return;
		i = (i + 1) & (s->cap - 1);
	}
	s->keys[i] = (struct tu_ident_key){ dev, ino };
	s->count++;
}

void rm_idset_add(struct idset *s, dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&s->lock);
	if ((s->count + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct tu_ident_key *nk = calloc(ncap, sizeof *nk);
		if (nk) {
			struct tu_ident_key *old = s->keys;
			size_t ocap = s->cap;
			s->keys = nk;
			s->cap = ncap;
			s->count = 0;
			for (size_t i = 0; i < ocap; i++)
				if (old[i].ino)
					idset_add_locked(s, old[i].dev, old[i].ino);
			free(old);
		}
	}
	/* Out of memory: the entry is then retried and reported again, which
	   is noisy but harmless. */
	if ((s->count + 1) * 2 <= s->cap)
		idset_add_locked(s, dev, ino);
	pthread_mutex_unlock(&s->lock);
}

/* ---- small helpers ------------------------------------------------------ */

static bool is_transient(int err)
{
	return err == EBUSY || err == ETXTBSY || err == EAGAIN || err == EINTR;
}

/* Report to the caller with a full path already built. */
static void report_path(struct rm *rm, const char *path, const char *op, int err,
			const char *detail)
{
	tu_rep_fail(&rm->rep, path, op, err, detail);
}

/* Through the walker, whose error() (rm_walk_error, check_walk_error)
   forwards it, so that a TU_STOP answer stops the walk. */
void rm_report(struct rm *rm, struct tu_walk_dir *d, const char *name, const char *op,
		   int err, const char *detail)
{
	tu_rep_mark(&rm->rep, err);
	tu_walk_report(d, name, op, err, detail);
}

/* The path of NAME in D for a callback: the argument itself, as given, for
   the base (D the root and NAME NULL). malloc'd; NULL when out of memory. */
static char *entry_path(struct rm *rm, struct tu_walk_dir *d, const char *name)
{
	if (!d || (!name && tu_walk_dir_depth(d) == 0))
		return strdup(rm->display);
	return tu_walk_path(d, name);
}

static void tell(struct rm *rm, tu_entry_fn *fn, struct tu_walk_dir *d, const char *name,
		 bool is_dir)
{
	if (!fn || tu_rep_stopped(&rm->rep))
		return;
	char *path = entry_path(rm, d, name);
	if (!path)
		return;
	pthread_mutex_lock(&rm->out_lock);
	fn(path, is_dir, rm->o->ctx);
	pthread_mutex_unlock(&rm->out_lock);
	free(path);
}

void rm_removed(struct rm *rm, struct tu_walk_dir *d, const char *name, bool is_dir)
{
	if (rm->o->stats)
		atomic_fetch_add(&rm->o->stats->entries, 1);
	tell(rm, rm->o->removed, d, name, is_dir);
}

/* An entry stays by design: may_remove kept it, or it holds such an entry. */
void rm_kept(struct rm *rm, struct tu_walk_dir *d, const char *name, bool is_dir)
{
	atomic_fetch_add(&rm->kept, 1);
	tell(rm, rm->o->kept, d, name, is_dir);
}

/* Ask may_remove about NAME in DFD (D NULL: the base itself, not yet
   walked). Returns 1 to keep it, 0 to remove it, -ENOENT when it is gone. */
int rm_ask(struct rm *rm, struct tu_walk_dir *d, int dfd, const char *name, bool is_dir)
{
	struct statx sx;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT,
		  STATX_BASIC_STATS, &sx) < 0) {
		int err = errno;
		if (err == ENOENT)
			return -ENOENT;
		/* What cannot be looked at is not removed. */
		if (d)
			rm_report(rm, d, name, "check", err, "kept");
		else
			report_path(rm, rm->display, "check", err, "kept");
		return 1;
	}
	char *path = entry_path(rm, d, name);
	char *rel = NULL;
	size_t rootlen = strlen(rm->walk_root);
	if (path && asprintf(&rel, "%s%s", rm->top_name,
			     d ? path + rootlen : "") < 0)
		rel = NULL;
	if (!path || !rel) {
		free(path);
		free(rel);
		return 1;
	}
	struct tu_rmtree_entry e = {
		.path = path, .rel = rel, .dirfd = dfd, .name = name, .is_dir = is_dir,
		.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor), .ino = sx.stx_ino,
		.mode = sx.stx_mode, .uid = sx.stx_uid, .nlink = sx.stx_nlink,
		.size = sx.stx_size,
		.mtime_sec = sx.stx_mtime.tv_sec, .mtime_nsec = sx.stx_mtime.tv_nsec,
		.ctime_sec = sx.stx_ctime.tv_sec, .ctime_nsec = sx.stx_ctime.tv_nsec,
	};
	pthread_mutex_lock(&rm->out_lock);
	bool may = rm->o->may_remove(&e, rm->o->ctx);
	pthread_mutex_unlock(&rm->out_lock);
	free(path);
	free(rel);
	return may ? 0 : 1;
}

/* Why removing NAME from the directory DFD (identity DIR, when known)
   was not permitted, in the words the all-or-nothing check uses; NULL when
   the flags do not say. */
static const char *eperm_reason(int dfd, const char *name, const struct tu_ident *dir)
{
	struct tu_ident id = { 0 };
	bool have = tu_ident_at(dfd, name, &id) == 0;
	if (have && id.immutable)
		return "immutable";
	if (have && id.append)
		return "append-only";
	struct tu_ident pd;
	if (!dir && tu_ident_fd(dfd, &pd) == 0)
		dir = &pd;
	if (!dir)
		return NULL;
	if (dir->immutable)
		return "in an immutable directory";
	if (dir->append)
		return "in an append-only directory";
	uid_t me = geteuid();
	if (have && (dir->mode & S_ISVTX) && me != 0 && id.uid != me && dir->uid != me)
		return "sticky directory, not owner";
	return NULL;
}

/* unlinkat, retrying transient failures for up to the timeout. A busy
   mount point is not transient: it stays busy until someone unmounts it. */
static int remove_retry(struct rm *rm, int dfd, const char *name, int flags, bool busy_is_final)
{
	double start = 0;
	long delay_ns = 1000000;
	for (;;) {
		if (unlinkat(dfd, name, flags) == 0)
			return 0;
		int err = errno;
		if (!is_transient(err) || (err == EBUSY && busy_is_final))
			return -err;
		double now = tu_now();
		if (start == 0)
			start = now;
		if (now - start >= rm->o->timeout)
			return -err;
		struct timespec ts = { 0, delay_ns };
		nanosleep(&ts, NULL);
		if (delay_ns < 100000000)
			delay_ns *= 2;
	}
}

/* Removing NAME in DFD failed with EACCES: if we own the directory, give
   ourselves write and search permission through the held fd and try again. */
static int remove_owned(struct rm *rm, int dfd, const char *name, int flags, bool busy_is_final)
{
	int r = remove_retry(rm, dfd, name, flags, busy_is_final);
	if (r == -EACCES && tu_dir_make_writable(dfd) == 0)
		r = remove_retry(rm, dfd, name, flags, busy_is_final);
	return r;
}

/* A directory we own that we can read but not search or write (0400,
   0600, 0500): its subdirectories could not be opened nor its entries
   removed. Give ourselves u+rwx through the held fd, as the walker does
   for one it cannot open at all. Costs nothing when the bits are there. */
void rm_make_usable(struct tu_walk_dir *d)
{
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if ((id->mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR) || id->uid != geteuid())
		return;
	int fd = tu_walk_dir_fd(d);
	if (tu_dir_access_write(fd) == 0)
		return;		/* root, or an ACL: the bits are not the problem */
	if (fchmod(fd, (id->mode & 07777) | S_IRWXU) == 0)
		atomic_fetch_or(tu_walk_dir_flags(d), RM_FIXED);
}

/* NAME in D will not go where it is. Rename it into the base under a random
   name and try once more there; if it still will not go, it is reported with
   where it now lies. Returns true if it is gone. */
static bool give_up(struct rm *rm, struct tu_walk_dir *d, int dfd, const char *name,
		    const struct tu_ident *id, bool is_dir, int err, const char *why)
{
	char tmp[TU_TMP_NAME_MAX];
	struct tu_walk_dir *parent_of_entry = d;
	bool in_base = dfd == rm->base_fd;
	if (!why && err == EPERM)
		why = eperm_reason(dfd, name, tu_walk_dir_ident(d));
	if (!in_base && tu_rename_to_tmp(dfd, name, rm->base_fd, tmp) == 0) {
		int r = remove_retry(rm, rm->base_fd, tmp, is_dir ? AT_REMOVEDIR : 0, false);
		if (r == 0) {
			rm_removed(rm, d, name, is_dir);
			return true;
		}
		char *where = NULL;
		if (asprintf(&where, "%s%sleft at '%s/%s'", why ? why : "", why ? "; " : "",
			     rm->base_display, tmp) < 0)
			where = NULL;
		rm_idset_add(&rm->given_up, id->dev, id->ino);
		/* The entry now blocks the base, no longer D. */
		while (tu_walk_dir_parent(parent_of_entry))
			parent_of_entry = tu_walk_dir_parent(parent_of_entry);
		atomic_fetch_or(tu_walk_dir_flags(parent_of_entry), RM_BLOCKED);
		rm_report(rm, d, name, "remove", err, where);
		free(where);
		return false;
	}
	rm_idset_add(&rm->given_up, id->dev, id->ino);
	atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
	rm_report(rm, d, name, "remove", err, why);
	return false;
}

/* A mount point below the base, left alone (no cross_mounts): said once,
   and the directories above it stay where they are. */
int rm_mount_left_alone(struct rm *rm, struct tu_walk_dir *d, const struct tu_err *e)
{
	atomic_fetch_or(tu_walk_dir_flags(d), RM_HOLDS);
	return tu_rep_fail(&rm->rep, e->path, "remove", EBUSY,
			   "mount point, left alone without --cross-mounts");
}

/* The base was renamed away (--hide, --all-or-nothing) and must come back
   to its own name, as when something in it stays by design. */
static void restore_base(struct rm *rm)
{
	if (!rm->hidden)
		return;
	int r = tu_rename_noreplace(rm->parent_fd, rm->base_name, rm->parent_fd, rm->top_name);
	if (r < 0) {
		char *why = NULL;
		if (asprintf(&why, "kept at '%s'", rm->base_display) < 0)
			why = NULL;
		report_path(rm, rm->display, "restore", -r, why);
		free(why);
	}
}

/* ---- the delete pass ----------------------------------------------------- */

static int rm_enter(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *id = tu_walk_dir_ident(d);
	/* A mount point given up on earlier shows another d_ino in its parent
	   than its own root's inode, so it is caught here rather than in
	   rm_entry(). */
	if (tu_walk_dir_depth(d) > 0 && rm->given_up.count &&
	    rm_idset_has(&rm->given_up, id->dev, id->ino))
		return TU_WALK_SKIP;
	rm_make_usable(d);
	return TU_WALK_NEXT;
}

static int rm_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *did = tu_walk_dir_ident(d);
	if (rm->given_up.count && rm_idset_has(&rm->given_up, did->dev, e->ino)) {
		atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
		return TU_WALK_NEXT;
	}
	int dfd = tu_walk_dir_fd(d);
	if (rm->o->may_remove) {
		int k = rm_ask(rm, d, dfd, e->name, e->is_dir);
		if (k < 0)
			return TU_WALK_NEXT;	/* gone meanwhile */
		if (k > 0) {
			atomic_fetch_or(tu_walk_dir_flags(d), RM_HOLDS);
			rm_kept(rm, d, e->name, e->is_dir);
			return TU_WALK_NEXT;
		}
	}
	if (e->is_dir)
		return TU_WALK_DESCEND;
	int r = remove_owned(rm, dfd, e->name, 0, false);
	if (r == 0 || r == -ENOENT) {
		if (r == 0)
			rm_removed(rm, d, e->name, false);
		return TU_WALK_NEXT;
	}
	if (r == -EISDIR)	/* it became a directory since it was read */
		return TU_WALK_DESCEND;
	struct tu_ident id = { .dev = did->dev, .ino = e->ino };
	give_up(rm, d, dfd, e->name, &id, false, -r, NULL);
	return TU_WALK_NEXT;
}

/* The base is empty: remove it from its parent, if it is still the one we
   hold there (the parent lies outside the tree, and someone who may write
   it may have put something else under the name). */
static int remove_base(struct rm *rm)
{
	struct tu_ident now;
	int r = tu_ident_at(rm->parent_fd, rm->base_name, &now);
	if (r < 0)
		return r;
	if (!tu_ident_same(&now, &rm->base_id))
		return -ESTALE;
	return remove_retry(rm, rm->parent_fd, rm->base_name, AT_REMOVEDIR,
			    rm->base_id.mount_root);
}

static int rm_leave(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	struct again **ag = (struct again **)tu_walk_dir_slot(d);
	bool is_root = tu_walk_dir_depth(d) == 0;
	int result = TU_WALK_NEXT;
	if (tu_walk_dir_aborted(d))
		goto done;
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if (!is_root && rm->given_up.count && rm_idset_has(&rm->given_up, id->dev, id->ino)) {
		/* Skipped in rm_enter(): stays, and keeps its parent. */
		atomic_fetch_or(tu_walk_dir_flags(tu_walk_dir_parent(d)), RM_BLOCKED);
		goto done;
	}
	uint32_t flags = atomic_load(tu_walk_dir_flags(d));
	if (flags & RM_HOLDS) {
		/* Not even tried: it is not empty, and it must stay where it
		   is, so it is never renamed away either. */
		if (is_root) {
			rm_kept(rm, d, NULL, true);
			restore_base(rm);	/* back to its own name if hidden */
		} else {
			atomic_fetch_or(tu_walk_dir_flags(tu_walk_dir_parent(d)), RM_HOLDS);
			rm_kept(rm, d, NULL, true);
		}
		goto done;
	}
	int pfd = is_root ? rm->parent_fd : tu_walk_dir_parent_fd(d);
	const char *name = is_root ? rm->base_name : tu_walk_dir_name(d);
	bool mount = is_root ? rm->base_id.mount_root : tu_walk_dir_is_mount(d);
	/* The base's parent lies outside the tree: never change its mode. */
	int r = is_root ? remove_base(rm) : remove_owned(rm, pfd, name, AT_REMOVEDIR, mount);
	if (r == 0) {
		rm_removed(rm, d, NULL, true);
		goto done;
	}
	if (r == -ENOENT || r == -ENOTDIR) {
		/* Gone, or our directory was moved away and something else now
		   has its name; the parent reads itself again if it must. */
		goto done;
	}
	const char *why = NULL;
	if ((r == -ENOTEMPTY || r == -EEXIST) && !(flags & RM_BLOCKED)) {
		/* Entries appeared while we were deleting: read it again. */
		double now = tu_now();
		if (!*ag) {
			*ag = malloc(sizeof **ag);
			if (*ag)
				(*ag)->since = now;
		}
		if (*ag && now - (*ag)->since < rm->o->timeout) {
			atomic_store(tu_walk_dir_flags(d), 0);
			return TU_WALK_AGAIN;
		}
		why = "entries kept appearing";
	}
	if (mount && r == -EBUSY)
		why = "mount point";
	if (is_root) {
		/* Only the base is left. Say so, and where it lies when it was
		   hidden, unless it stays solely for entries already reported
		   under its own name. */
		if (r == -ESTALE)
			why = "another entry has its name now; left alone";
		else if (!why && r == -EPERM)
			why = eperm_reason(pfd, name, NULL);
		if (!(flags & RM_BLOCKED) || r != -ENOTEMPTY || rm->hidden) {
			char *where = NULL;
			if (rm->hidden && asprintf(&where, "%s%snow at '%s'", why ? why : "",
						   why ? "; " : "", rm->base_display) < 0)
				where = NULL;
			report_path(rm, rm->display, "remove", -r, where ? where : why);
			free(where);
		} else {
			tu_rep_note(&rm->rep, ENOTEMPTY);
		}
		goto done;
	}
	if ((flags & RM_BLOCKED) && r == -ENOTEMPTY && pfd == rm->base_fd) {
		/* Already in the base, kept only by entries already reported. */
		rm_idset_add(&rm->given_up, id->dev, id->ino);
		atomic_fetch_or(tu_walk_dir_flags(tu_walk_dir_parent(d)), RM_BLOCKED);
		goto done;
	}
	/* give_up() marks whichever directory now holds it. */
	give_up(rm, tu_walk_dir_parent(d), pfd, name, id, true, -r, why);
done:
	free(*ag);
	*ag = NULL;
	return result;
}

static int rm_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct rm *rm = ctx;
	/* Removed by someone else meanwhile, or no longer a directory: the
	   parent is read again if it must be. */
	if (tu_walk_err_vanished(e))
		return TU_CONTINUE;
	if (d && tu_walk_err_skipped_mount(e))
		return rm_mount_left_alone(rm, d, e);
	if (d)
		atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
	return tu_rep_fail_err(&rm->rep, e);
}

/* ---- the entry points -------------------------------------------------------- */

void tu_rmtree_opts_init(struct tu_rmtree_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = TU_RMTREE_TIMEOUT;
}

static bool is_dot_or_dotdot(const char *s)
{
	return s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'));
}

/* A missing name, or a path through a non-directory (rm -f is silent about
   both: "file/x" cannot exist). */
static bool is_missing(int r)
{
	return r == -ENOENT || r == -ENOTDIR;
}

/* NAME is a non-directory (or a symlink to anything): remove just that
   name. Its parent lies outside the tree: never change its mode. */
static int remove_single(struct rm *rm, const char *name)
{
	if (rm->o->dry_run) {
		int r = tu_dir_access_write(rm->parent_fd);
		if (r < 0) {
			report_path(rm, rm->display, "remove", -r, NULL);
			return r;
		}
		struct tu_ident id;
		if (tu_ident_at(rm->parent_fd, name, &id) == 0 && (id.immutable || id.append)) {
			report_path(rm, rm->display, "remove", EPERM,
				    id.immutable ? "immutable" : "append-only");
			return -EPERM;
		}
		if (rm->o->stats)
			atomic_fetch_add(&rm->o->stats->entries, 1);
		tell(rm, rm->o->removed, NULL, NULL, false);
		return 0;
	}
	int r = remove_retry(rm, rm->parent_fd, name, 0, false);
	if (r == 0 || (is_missing(r) && rm->o->force)) {
		if (r == 0)
			rm_removed(rm, NULL, NULL, false);
		return 0;
	}
	report_path(rm, rm->display, "remove", -r, r == -EPERM ?
		    eperm_reason(rm->parent_fd, name, NULL) : NULL);
	return r;
}

static int run_walk(struct rm *rm, bool check, bool probe)
{
	static const struct tu_walk_ops delete_ops = {
		.enter = rm_enter, .entry = rm_entry, .leave = rm_leave, .error = rm_walk_error,
	};
	struct tu_walk_opts wo = {
		.jobs = rm->o->jobs,
		.one_file_system = !rm->o->cross_mounts,
		.force_search = !rm->o->dry_run,
		/* Unlinking in inode order touches the inode table in order. */
		.sort_by_inode = !check,
		.stop = &rm->rep.stop,
	};
	rm->checking = check;
	rm->probe = probe;
	return tu_walk(rm->base_fd, rm->walk_root, &wo, check ? &rm_check_ops : &delete_ops, rm);
}

static char *join_display(const char *display, const char *name)
{
	const char *slash = strrchr(display, '/');
	char *out = NULL;
	if (asprintf(&out, "%.*s%s", slash ? (int)(slash - display + 1) : 0, display, name) < 0)
		return NULL;
	return out;
}

/* Is the directory held by FD still the one the caller expects? */
static bool is_expected(const struct tu_rmtree_opts *o, const struct tu_ident *id)
{
	return !o->expect_id || (id->dev == o->expect_dev && id->ino == o->expect_ino);
}

static int rmtree_dir(struct rm *rm)
{
	const struct tu_rmtree_opts *o = rm->o;
	char hidden[TU_TMP_NAME_MAX];
	int r;
	rm->base_name = rm->top_name;
	if ((o->hide || o->all_or_nothing) && !o->dry_run) {
		/* One atomic rename: from now on the tree is out of sight, and
		   the check and the deletion see the same tree. */
		r = tu_rename_to_tmp(rm->parent_fd, rm->top_name, rm->parent_fd, hidden);
		if (r < 0) {
			report_path(rm, rm->display, "hide", -r, NULL);
			return r;
		}
		rm->hidden = true;
		rm->base_name = hidden;
		rm->base_display = join_display(rm->walk_root, hidden);
	}
	if (!rm->base_display)
		rm->base_display = strdup(rm->walk_root);
	if (!rm->base_display)
		return -ENOMEM;

	if (o->dry_run)
		r = tu_dir_open_at(rm->parent_fd, rm->base_name, &rm->base_id);
	else {
		mode_t old_mode;
		r = tu_dir_open_forced(rm->parent_fd, rm->base_name, &rm->base_id, &old_mode);
	}
	if (r >= 0 && !is_expected(o, &rm->base_id)) {
		/* Swapped between the first look and the open (or the rename). */
		close(r);
		restore_base(rm);
		report_path(rm, rm->display, "remove", ESTALE,
			    "not the directory expected; left alone");
		return -ESTALE;
	}
	if ((r == -ELOOP || r == -ENOTDIR) && !o->expect_id)
		return remove_single(rm, rm->base_name);	/* replaced by a non-directory */
	if (r < 0) {
		restore_base(rm);
		report_path(rm, rm->display, "open directory", -r, NULL);
		return r;
	}
	rm->base_fd = r;

	if (o->all_or_nothing || o->dry_run) {
		run_walk(rm, true, o->dry_run && !o->all_or_nothing);
		long n = atomic_load(&rm->blockers);
		if (n > 0 && o->all_or_nothing) {
			restore_base(rm);
			close(rm->base_fd);
			return -ECANCELED;
		}
		if (o->dry_run && o->all_or_nothing)
			run_walk(rm, true, true);	/* nothing blocks: list it */
		if (o->dry_run) {
			close(rm->base_fd);
			if (tu_rep_result(&rm->rep))
				return TU_PARTIAL;
			return atomic_load(&rm->kept) ? TU_RMTREE_KEPT : 0;
		}
	}
	r = run_walk(rm, false, false);
	close(rm->base_fd);
	/* -ECANCELED: the error callback answered TU_STOP, after a report. */
	if (r < 0 && r != -ECANCELED)
		report_path(rm, rm->display, "walk", -r, NULL);
	if (r < 0 || tu_rep_result(&rm->rep))
		return TU_PARTIAL;
	return atomic_load(&rm->kept) ? TU_RMTREE_KEPT : 0;
}

/* Both entry points meet here: NAME in the held rm->parent_fd. */
static int rmtree_name(struct rm *rm)
{
	const struct tu_rmtree_opts *o = rm->o;
	const char *name = rm->top_name;
	struct tu_ident id;
	int r = tu_ident_at(rm->parent_fd, name, &id);
	if (r < 0) {
		if (is_missing(r) && o->force)
			return 0;
		report_path(rm, rm->display, "remove", -r, NULL);
		return r;
	}
	if (!is_expected(o, &id)) {
		report_path(rm, rm->display, "remove", ESTALE, "not the entry expected; left alone");
		return -ESTALE;
	}
	if (o->may_remove) {
		int k = rm_ask(rm, NULL, rm->parent_fd, name, S_ISDIR(id.mode));
		if (k < 0)
			return o->force ? 0 : -ENOENT;
		if (k > 0) {
			atomic_fetch_add(&rm->kept, 1);
			tell(rm, o->kept, NULL, NULL, S_ISDIR(id.mode));
			return TU_RMTREE_KEPT;
		}
	}
	if (!S_ISDIR(id.mode))
		return remove_single(rm, name);
	struct stat root_st;
	if (stat("/", &root_st) == 0 && root_st.st_dev == id.dev &&
	    root_st.st_ino == id.ino) {
		report_path(rm, rm->display, "remove", EPERM,
			    "refusing to remove the root directory");
		return -EPERM;
	}
	if (o->preserve_root_all) {
		struct stat pst;
		if (fstat(rm->parent_fd, &pst) == 0 && (id.mount_root || pst.st_dev != id.dev)) {
			report_path(rm, rm->display, "remove", EBUSY,
				    "a mount point, refused by --preserve-root=all");
			return -EBUSY;
		}
	}
	return rmtree_dir(rm);
}

static int rm_init(struct rm *rm, const struct tu_rmtree_opts *o, const char *arg)
{
	*rm = (struct rm){ .o = o, .parent_fd = -1, .base_fd = -1 };
	pthread_mutex_init(&rm->out_lock, NULL);
	tu_rep_init(&rm->rep, o->error, NULL, o->ctx, o->stats, &rm->out_lock);
	pthread_mutex_init(&rm->given_up.lock, NULL);
	/* The argument is shown as given, except that a run of trailing
	   slashes is shown as one, as rm shows it ('a///' is 'a/'). Paths
	   below it are joined to it without its trailing slashes. */
	rm->display_buf = strdup(arg);
	rm->walk_root = strdup(arg);
	if (!rm->display_buf || !rm->walk_root)
		return -ENOMEM;
	size_t n = strlen(arg);
	if (n > 2 && arg[n - 1] == '/')
		while (n > 1 && arg[n - 2] == '/')
			rm->display_buf[--n] = '\0';
	rm->display = rm->display_buf;
	size_t dl = strlen(rm->walk_root);
	while (dl > 1 && rm->walk_root[dl - 1] == '/')
		rm->walk_root[--dl] = '\0';
	return 0;
}

static void rm_free(struct rm *rm)
{
	free(rm->given_up.keys);
	free(rm->base_display);
	free(rm->walk_root);
	free(rm->display_buf);
	pthread_mutex_destroy(&rm->out_lock);
	pthread_mutex_destroy(&rm->given_up.lock);
}

int tu_rmtree_at(int dirfd, const char *name, const struct tu_rmtree_opts *o)
{
	struct rm rm;
	int r = rm_init(&rm, o, o->display ? o->display : name);
	if (r < 0) {
		rm_free(&rm);
		return r;
	}
	rm.parent_fd = dirfd;
	rm.top_name = name;
	if (name[0] == '\0' || strchr(name, '/') || is_dot_or_dotdot(name)) {
		report_path(&rm, rm.display, "remove", EINVAL,
			    "not one name of an entry in the directory");
		r = -EINVAL;
	} else {
		r = rmtree_name(&rm);
	}
	rm_free(&rm);
	return r;
}

int tu_rmtree(const char *path, const struct tu_rmtree_opts *o)
{
	struct rm rm;
	size_t len = strlen(path);
	char *buf = malloc(len + 2);
	int r = rm_init(&rm, o, path);
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r < 0)
		goto out;
	if (len == 0) {
		report_path(&rm, path, "remove", EINVAL, "refusing an empty name");
		r = -EINVAL;
		goto out;
	}
	/* The refusals go by the name alone, before anything is opened, so
	   they hold with force and whether or not the parent exists. */
	const char *last = NULL;
	r = tu_open_parent(path, buf, len + 2, &last);
	if (r >= 0)
		rm.parent_fd = r;
	if (last && strcmp(last, "/") == 0) {
		report_path(&rm, rm.display, "remove", EPERM,
			    "refusing to remove the root directory");
		r = -EPERM;
		goto out;
	} else if (last && is_dot_or_dotdot(last)) {
		report_path(&rm, rm.display, "remove", EINVAL, "refusing to remove '.' or '..'");
		r = -EINVAL;
		goto out;
	}
	if (r < 0) {
		if (is_missing(r) && o->force)
			r = 0;
		else
			report_path(&rm, rm.display, "remove", -r, NULL);
		goto out;
	}
	/* DIR written with a trailing '/' names a directory. A symlink or a
	   file so written is refused (ENOTDIR, as rm(1) ends up saying),
	   and nothing is removed through the link: without the '/' the link
	   itself is removed. */
	struct tu_ident slash_id;
	if (len > 1 && path[len - 1] == '/' && tu_ident_at(rm.parent_fd, last, &slash_id) == 0 &&
	    !S_ISDIR(slash_id.mode)) {
		report_path(&rm, rm.display, "remove", ENOTDIR,
			    S_ISLNK(slash_id.mode) ? "a symlink written with a trailing '/'; "
			    "without the '/' the link itself is removed" : NULL);
		r = -ENOTDIR;
		goto out;
	}
	rm.top_name = last;
	r = rmtree_name(&rm);
out:
	if (rm.parent_fd >= 0)
		close(rm.parent_fd);
	rm_free(&rm);
	free(buf);
	return r;
}
