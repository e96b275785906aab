/* rmtree.c: race-safe hierarchy delete, as walker callbacks.
 *
 * Files go first, from the tips to the trunk; a directory goes in its
 * leave(), once its contents are gone. Transient failures are retried until
 * the timeout; an entry that will not go where it is gets renamed into the
 * base directory under a random name and retried there, so its parents can
 * go; a directory that fills up again is read again until the timeout.
 *
 * This file must never follow a symlink, never act on a path string inside
 * the tree, and never remove anything outside the directory it was given:
 * every removal is one name relative to a held directory fd.
 */
#define TU_INTERNAL
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Flags word of a directory being deleted. */
enum {
	RM_BLOCKED = 1u << 0,	/* something below stays: do not read it again */
};

/* Identities of entries given up on, so a directory read again skips them
   instead of failing on them twice. Open addressing; grows by doubling. */
struct idset {
	pthread_mutex_t lock;
	struct tu_ident_key { dev_t dev; ino_t ino; } *keys;
	size_t cap, count;
};

struct rm {
	const struct tu_rmtree_opts *o;
	int parent_fd;			/* holds the base */
	const char *base_name;		/* the base's current name in parent_fd */
	int base_fd;
	bool base_is_mount;
	const char *display;		/* the argument, for messages */
	char *base_display;		/* where the base lies now */
	bool checking;			/* the all-or-nothing pass */
	_Atomic long blockers;
	_Atomic int failed;		/* first failure, as a positive errno */
	pthread_mutex_t out_lock;	/* removed() is never called twice at once */
	struct idset given_up;
};

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

static bool idset_has(struct idset *s, dev_t dev, ino_t ino)
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

static void idset_add(struct idset *s, dev_t dev, ino_t ino)
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

static void note_failure(struct rm *rm, int err)
{
	int expected = 0;
	atomic_compare_exchange_strong(&rm->failed, &expected, err);
	if (rm->o->stats)
		atomic_fetch_add(&rm->o->stats->errors, 1);
}

/* Report to the caller with a full path already built. */
static void report_path(struct rm *rm, const char *path, const char *op, int err,
			const char *detail)
{
	note_failure(rm, err);
	if (!rm->o->error)
		return;
	struct tu_err e = { .op = op, .err = err, .path = path, .detail = detail };
	tu_call_locked(rm->o->error, rm->o->ctx, &rm->out_lock, &e);
}

static void report(struct rm *rm, struct tu_walk_dir *d, const char *name, const char *op,
		   int err, const char *detail)
{
	note_failure(rm, err);
	tu_walk_report(d, name, op, err, detail);
}

static void removed(struct rm *rm, struct tu_walk_dir *d, const char *name, bool is_dir)
{
	if (rm->o->stats)
		atomic_fetch_add(&rm->o->stats->entries, 1);
	if (!rm->o->removed)
		return;
	char *path = tu_walk_path(d, name);
	if (!path)
		return;
	pthread_mutex_lock(&rm->out_lock);
	rm->o->removed(path, is_dir, rm->o->ctx);
	pthread_mutex_unlock(&rm->out_lock);
	free(path);
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

/* NAME in D will not go where it is. Rename it into the base under a random
   name and try once more there; if it still will not go, it is reported with
   where it now lies. Returns true if it is gone. */
static bool give_up(struct rm *rm, struct tu_walk_dir *d, int dfd, const char *name,
		    const struct tu_ident *id, bool is_dir, int err, const char *why)
{
	char tmp[TU_TMP_NAME_MAX];
	struct tu_walk_dir *parent_of_entry = d;
	bool in_base = dfd == rm->base_fd;
	if (!in_base && tu_rename_to_tmp(dfd, name, rm->base_fd, tmp) == 0) {
		int r = remove_retry(rm, rm->base_fd, tmp, is_dir ? AT_REMOVEDIR : 0, false);
		if (r == 0) {
			removed(rm, d, name, is_dir);
			return true;
		}
		char *where = NULL;
		if (asprintf(&where, "%s%sleft at '%s/%s'", why ? why : "", why ? "; " : "",
			     rm->base_display, tmp) < 0)
			where = NULL;
		idset_add(&rm->given_up, id->dev, id->ino);
		/* The entry now blocks the base, no longer D. */
		while (tu_walk_dir_parent(parent_of_entry))
			parent_of_entry = tu_walk_dir_parent(parent_of_entry);
		atomic_fetch_or(tu_walk_dir_flags(parent_of_entry), RM_BLOCKED);
		report(rm, d, name, "remove", err, where);
		free(where);
		return false;
	}
	idset_add(&rm->given_up, id->dev, id->ino);
	atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
	report(rm, d, name, "remove", err, why);
	return false;
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
	    idset_has(&rm->given_up, id->dev, id->ino))
		return TU_WALK_SKIP;
	return TU_WALK_NEXT;
}

static int rm_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *did = tu_walk_dir_ident(d);
	if (rm->given_up.count && idset_has(&rm->given_up, did->dev, e->ino)) {
		atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
		return TU_WALK_NEXT;
	}
	if (e->is_dir)
		return TU_WALK_DESCEND;
	if (rm->o->dry_run) {
		removed(rm, d, e->name, false);
		return TU_WALK_NEXT;
	}
	int dfd = tu_walk_dir_fd(d);
	int r = remove_owned(rm, dfd, e->name, 0, false);
	if (r == 0 || r == -ENOENT) {
		if (r == 0)
			removed(rm, d, e->name, false);
		return TU_WALK_NEXT;
	}
	if (r == -EISDIR)	/* it became a directory since it was read */
		return TU_WALK_DESCEND;
	struct tu_ident id = { .dev = did->dev, .ino = e->ino };
	give_up(rm, d, dfd, e->name, &id, false, -r, NULL);
	return TU_WALK_NEXT;
}

static int rm_leave(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	struct again **ag = (struct again **)tu_walk_dir_slot(d);
	bool is_root = tu_walk_dir_depth(d) == 0;
	int result = TU_WALK_NEXT;
	if (tu_walk_dir_aborted(d))
		goto done;
	if (rm->o->dry_run) {
		removed(rm, d, NULL, true);
		goto done;
	}
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if (!is_root && rm->given_up.count && idset_has(&rm->given_up, id->dev, id->ino)) {
		/* Skipped in rm_enter(): stays, and keeps its parent. */
		atomic_fetch_or(tu_walk_dir_flags(tu_walk_dir_parent(d)), RM_BLOCKED);
		goto done;
	}
	int pfd = is_root ? rm->parent_fd : tu_walk_dir_parent_fd(d);
	const char *name = is_root ? rm->base_name : tu_walk_dir_name(d);
	bool mount = is_root ? rm->base_is_mount : tu_walk_dir_is_mount(d);
	/* The base's parent lies outside the tree: never change its mode. */
	int r = is_root ? remove_retry(rm, pfd, name, AT_REMOVEDIR, mount)
			: remove_owned(rm, pfd, name, AT_REMOVEDIR, mount);
	if (r == 0) {
		removed(rm, d, NULL, true);
		goto done;
	}
	if (r == -ENOENT || r == -ENOTDIR) {
		/* Gone, or our directory was moved away and something else now
		   has its name; the parent reads itself again if it must. */
		goto done;
	}
	uint32_t flags = atomic_load(tu_walk_dir_flags(d));
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
		bool hidden = strcmp(rm->base_display, rm->display) != 0;
		if (!(flags & RM_BLOCKED) || r != -ENOTEMPTY || hidden) {
			char *where = NULL;
			if (hidden && asprintf(&where, "%s%snow at '%s'", why ? why : "",
					       why ? "; " : "", rm->base_display) < 0)
				where = NULL;
			report_path(rm, rm->display, "remove", -r, where ? where : why);
			free(where);
		} else {
			note_failure(rm, ENOTEMPTY);
		}
		goto done;
	}
	if ((flags & RM_BLOCKED) && r == -ENOTEMPTY && pfd == rm->base_fd) {
		/* Already in the base, kept only by entries already reported. */
		idset_add(&rm->given_up, id->dev, id->ino);
		atomic_fetch_or(tu_walk_dir_flags(tu_walk_dir_parent(d)), RM_BLOCKED);
		goto done;
	}
	if (!give_up(rm, tu_walk_dir_parent(d), pfd, name, id, true, -r, why) && !mount) {
		/* give_up() marked whichever directory now holds it. */
	}
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
	atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
	note_failure(rm, e->err);
	return tu_call_locked(rm->o->error, rm->o->ctx, &rm->out_lock, e);
}

/* ---- the all-or-nothing check --------------------------------------------- */

static void blocker(struct rm *rm, struct tu_walk_dir *d, const char *name, int err,
		    const char *why)
{
	atomic_fetch_add(&rm->blockers, 1);
	report(rm, d, name, "remove", err, why);
}

static int check_enter(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if (tu_walk_dir_is_mount(d)) {
		blocker(rm, d, NULL, EBUSY, "mount point");
		return TU_WALK_SKIP;
	}
	if (id->immutable || id->append) {
		blocker(rm, d, NULL, EPERM, id->immutable ? "immutable directory" :
			"append-only directory");
		return TU_WALK_NEXT;
	}
	if (id->uid != geteuid() && tu_dir_access_write(tu_walk_dir_fd(d)) < 0)
		blocker(rm, d, NULL, EACCES, "no write permission on the directory");
	return TU_WALK_NEXT;
}

static int check_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *did = tu_walk_dir_ident(d);
	struct tu_ident id;
	int r = tu_ident_at(tu_walk_dir_fd(d), e->name, &id);
	if (r == -ENOENT)
		return TU_WALK_NEXT;
	if (r < 0) {
		blocker(rm, d, e->name, -r, "cannot check");
		return TU_WALK_NEXT;
	}
	if (id.immutable || id.append)
		blocker(rm, d, e->name, EPERM, id.immutable ? "immutable" : "append-only");
	/* In a sticky directory only the owner of the entry or of the
	   directory (or root) may remove it. */
	uid_t me = geteuid();
	if ((did->mode & S_ISVTX) && me != 0 && id.uid != me && did->uid != me)
		blocker(rm, d, e->name, EPERM, "sticky directory, not owner");
	return S_ISDIR(id.mode) ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

static int check_leave(struct tu_walk_dir *d, void *ctx)
{
	(void)ctx;
	/* The check changes nothing that stays: undo force_search. */
	mode_t m = tu_walk_dir_forced_mode(d);
	if (m != (mode_t)-1)
		fchmod(tu_walk_dir_fd(d), m);
	return TU_WALK_NEXT;
}

static int check_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct rm *rm = ctx;
	if (e->err == ENOENT)
		return TU_CONTINUE;
	atomic_fetch_add(&rm->blockers, 1);
	(void)d;
	note_failure(rm, e->err);
	tu_call_locked(rm->o->error, rm->o->ctx, &rm->out_lock, e);
	return TU_CONTINUE;
}

/* ---- the entry point --------------------------------------------------------- */

void tu_rmtree_opts_init(struct tu_rmtree_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout = TU_RMTREE_TIMEOUT;
}

static bool is_dot_or_dotdot(const char *s)
{
	return s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'));
}

/* The argument names a non-directory (or a symlink to anything): remove
   just that name. */
static int remove_single(struct rm *rm, const char *name)
{
	if (rm->o->dry_run) {
		if (rm->o->removed)
			rm->o->removed(rm->display, false, rm->o->ctx);
		return 0;
	}
	/* The parent lies outside the tree: never change its mode. */
	int r = remove_retry(rm, rm->parent_fd, name, 0, false);
	if (r == 0 || (r == -ENOENT && rm->o->force)) {
		if (r == 0 && rm->o->stats)
			atomic_fetch_add(&rm->o->stats->entries, 1);
		if (r == 0 && rm->o->removed)
			rm->o->removed(rm->display, false, rm->o->ctx);
		return 0;
	}
	report_path(rm, rm->display, "remove", -r, NULL);
	return r;
}

static int run_walk(struct rm *rm, bool check)
{
	static const struct tu_walk_ops delete_ops = {
		.enter = rm_enter, .entry = rm_entry, .leave = rm_leave, .error = rm_walk_error,
	};
	static const struct tu_walk_ops check_ops = {
		.enter = check_enter, .entry = check_entry, .leave = check_leave,
		.error = check_walk_error,
	};
	struct tu_walk_opts wo = {
		.jobs = rm->o->jobs,
		.one_file_system = rm->o->one_file_system,
		.force_search = !rm->o->dry_run,
		/* Unlinking in inode order touches the inode table in order. */
		.sort_by_inode = !check && !rm->o->dry_run,
	};
	rm->checking = check;
	return tu_walk(rm->base_fd, rm->display, &wo, check ? &check_ops : &delete_ops, rm);
}

static char *join_display(const char *display, const char *name)
{
	const char *slash = strrchr(display, '/');
	char *out = NULL;
	if (asprintf(&out, "%.*s%s", slash ? (int)(slash - display + 1) : 0, display, name) < 0)
		return NULL;
	return out;
}

static int rmtree_dir(struct rm *rm, const char *last)
{
	const struct tu_rmtree_opts *o = rm->o;
	char hidden[TU_TMP_NAME_MAX];
	bool renamed = false;
	int r;
	rm->base_name = last;
	if ((o->hide || o->all_or_nothing) && !o->dry_run) {
		/* One atomic rename: from now on the tree is out of sight, and
		   the check and the deletion see the same tree. */
		r = tu_rename_to_tmp(rm->parent_fd, last, rm->parent_fd, hidden);
		if (r < 0) {
			report_path(rm, rm->display, "hide", -r, NULL);
			return r;
		}
		renamed = true;
		rm->base_name = hidden;
		rm->base_display = join_display(rm->display, hidden);
	}
	if (!rm->base_display)
		rm->base_display = strdup(rm->display);
	if (!rm->base_display)
		return -ENOMEM;

	struct tu_ident bid;
	mode_t old_mode;
	if (o->dry_run)
		r = tu_dir_open_at(rm->parent_fd, rm->base_name, &bid);
	else
		r = tu_dir_open_forced(rm->parent_fd, rm->base_name, &bid, &old_mode);
	if (r == -ELOOP || r == -ENOTDIR)	/* replaced by a non-directory */
		return remove_single(rm, rm->base_name);
	if (r < 0) {
		report_path(rm, rm->display, "open directory", -r, NULL);
		return r;
	}
	rm->base_fd = r;
	rm->base_is_mount = bid.mount_root;

	if (o->all_or_nothing) {
		run_walk(rm, true);
		long n = atomic_load(&rm->blockers);
		if (n > 0) {
			if (renamed) {
				r = tu_rename_noreplace(rm->parent_fd, hidden, rm->parent_fd, last);
				if (r < 0) {
					char *why = NULL;
					if (asprintf(&why, "kept at '%s'", rm->base_display) < 0)
						why = NULL;
					report_path(rm, rm->display, "restore", -r, why);
					free(why);
				}
			}
			close(rm->base_fd);
			return -ECANCELED;
		}
	}
	r = run_walk(rm, false);
	close(rm->base_fd);
	if (r < 0 && r != -ECANCELED)
		report_path(rm, rm->display, "walk", -r, NULL);
	if (r == -ECANCELED)
		return r;
	int failed = atomic_load(&rm->failed);
	return failed ? -failed : 0;
}

int tu_rmtree(const char *path, const struct tu_rmtree_opts *o)
{
	struct rm rm = { .o = o, .parent_fd = -1, .base_fd = -1 };
	pthread_mutex_init(&rm.out_lock, NULL);
	pthread_mutex_init(&rm.given_up.lock, NULL);
	size_t len = strlen(path);
	char *buf = malloc(len + 2);
	char *display = strdup(path);
	int r;
	if (!buf || !display) {
		r = -ENOMEM;
		goto out;
	}
	/* Messages show the argument without trailing slashes. */
	size_t dl = len;
	while (dl > 1 && display[dl - 1] == '/')
		display[--dl] = '\0';
	rm.display = display;

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
		report_path(&rm, display, "remove", EPERM, "refusing to remove the root directory");
		r = -EPERM;
		goto out;
	} else if (last && is_dot_or_dotdot(last)) {
		report_path(&rm, display, "remove", EINVAL, "refusing to remove '.' or '..'");
		r = -EINVAL;
		goto out;
	}
	if (r < 0) {
		if (!(r == -ENOENT && o->force))
			report_path(&rm, display, "remove", -r, NULL);
		else
			r = 0;
		goto out;
	}
	struct tu_ident id;
	r = tu_ident_at(rm.parent_fd, last, &id);
	if (r < 0) {
		if (r == -ENOENT && o->force)
			r = 0;
		else
			report_path(&rm, display, "remove", -r, NULL);
		goto out;
	}
	if (!S_ISDIR(id.mode)) {
		r = remove_single(&rm, last);
		goto out;
	}
	struct stat root_st;
	if (stat("/", &root_st) == 0 && root_st.st_dev == id.dev &&
	    root_st.st_ino == id.ino) {
		report_path(&rm, display, "remove", EPERM, "refusing to remove the root directory");
		r = -EPERM;
		goto out;
	}
	if (o->preserve_root_all) {
		struct stat pst;
		if (fstat(rm.parent_fd, &pst) == 0 && (id.mount_root || pst.st_dev != id.dev)) {
			report_path(&rm, display, "remove", EBUSY,
				    "a mount point, refused by --preserve-root=all");
			r = -EBUSY;
			goto out;
		}
	}
	r = rmtree_dir(&rm, last);
out:
	if (rm.parent_fd >= 0)
		close(rm.parent_fd);
	free(rm.given_up.keys);
	free(rm.base_display);
	free(buf);
	free(display);
	pthread_mutex_destroy(&rm.out_lock);
	pthread_mutex_destroy(&rm.given_up.lock);
	return r;
}
