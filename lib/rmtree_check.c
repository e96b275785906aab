/* SPDX-License-Identifier: Apache-2.0 */
/* rmtree_check.c: the rmtree engine's check pass, for --all-or-nothing
 * ("can all of it go?") and the dry run ("what would go?"), as walker
 * callbacks over the state in rmtree.h.
 *
 * This file must never remove or rename anything, never follow a symlink,
 * and never leave a mode changed: a directory given u+rwx to be read gets
 * its mode back in leave().
 */
#define TU_INTERNAL
#include "rmtree.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the check: --all-or-nothing, and the dry run --------------------------
 *
 * The same permission checks answer both "can all of it go?" and, in a dry
 * run, "what would go?". A blocker is counted (and reported) once, where it
 * is: the entry that cannot go, or the directory whose entries cannot go.
 * An entry that cannot go is not listed by the dry run, and neither is any
 * directory above it. */

static void blocker(struct rm *rm, struct tu_walk_dir *d, const char *name, int err,
		    const char *why)
{
	atomic_fetch_add(&rm->blockers, 1);
	rm_report(rm, d, name, "remove", err, why);
}

/* Can entries of the open directory D be removed by us? Not when it is not
   writable and not ours (ours, the real run gives itself permission). */
static int check_dir_writable(struct tu_walk_dir *d)
{
	const struct tu_ident *id = tu_walk_dir_ident(d);
	int r = tu_dir_access_write(tu_walk_dir_fd(d));
	if (r == -EACCES && id->uid == geteuid())
		return 0;	/* the real run gives itself u+rwx */
	return r;
}

static int check_enter(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *id = tu_walk_dir_ident(d);
	_Atomic uint32_t *flags = tu_walk_dir_flags(d);
	bool is_root = tu_walk_dir_depth(d) == 0;
	if (!is_root && tu_walk_dir_is_mount(d)) {
		/* With cross_mounts: its contents may go, the mount point not. */
		blocker(rm, d, NULL, EBUSY, "mount point");
		rm_idset_add(&rm->given_up, id->dev, id->ino);
	}
	if (!rm->o->dry_run)
		rm_make_usable(d);
	if (id->immutable || id->append) {
		/* Below the base, the entry was counted in its parent. */
		if (is_root)
			blocker(rm, d, NULL, EPERM, id->immutable ? "immutable directory" :
				"append-only directory");
		atomic_fetch_or(flags, RM_NOUNLINK);
		return TU_WALK_NEXT;
	}
	int r = check_dir_writable(d);
	if (r < 0) {
		blocker(rm, d, NULL, -r, r == -EROFS ? "read-only file system" :
			"no write permission on the directory");
		atomic_fetch_or(flags, RM_NOUNLINK);
	}
	return TU_WALK_NEXT;
}

static int check_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct rm *rm = ctx;
	const struct tu_ident *did = tu_walk_dir_ident(d);
	_Atomic uint32_t *flags = tu_walk_dir_flags(d);
	struct tu_ident id;
	int r = tu_ident_at(tu_walk_dir_fd(d), e->name, &id);
	if (r == -ENOENT)
		return TU_WALK_NEXT;
	if (r < 0) {
		blocker(rm, d, e->name, -r, "cannot check");
		atomic_fetch_or(flags, RM_BLOCKED);
		return TU_WALK_NEXT;
	}
	if (rm->probe && rm->o->may_remove) {
		int k = rm_ask(rm, d, tu_walk_dir_fd(d), e->name, S_ISDIR(id.mode));
		if (k < 0)
			return TU_WALK_NEXT;
		if (k > 0) {
			atomic_fetch_or(flags, RM_HOLDS);
			rm_kept(rm, d, e->name, S_ISDIR(id.mode));
			return TU_WALK_NEXT;
		}
	}
	bool stays = atomic_load(flags) & RM_NOUNLINK;	/* reported with D */
	if (id.immutable || id.append) {
		blocker(rm, d, e->name, EPERM, id.immutable ? "immutable" : "append-only");
		stays = true;
	}
	/* In a sticky directory only the owner of the entry or of the
	   directory (or root) may remove it. */
	uid_t me = geteuid();
	if ((did->mode & S_ISVTX) && me != 0 && id.uid != me && did->uid != me) {
		blocker(rm, d, e->name, EPERM, "sticky directory, not owner");
		stays = true;
	}
	if (stays) {
		atomic_fetch_or(flags, RM_BLOCKED);
		rm_idset_add(&rm->given_up, id.dev, id.ino);
	}
	if (S_ISDIR(id.mode))
		return TU_WALK_DESCEND;
	if (!stays && rm->probe)
		rm_removed(rm, d, e->name, false);
	return TU_WALK_NEXT;
}

/* The base itself must go from its parent, which we never change. */
static bool check_base(struct rm *rm, struct tu_walk_dir *d)
{
	int r = tu_dir_access_write(rm->parent_fd);
	if (r < 0) {
		blocker(rm, d, NULL, -r, "no write permission on the parent directory");
		return false;
	}
	struct tu_ident pd;
	uid_t me = geteuid();
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if (tu_ident_fd(rm->parent_fd, &pd) == 0 && (pd.mode & S_ISVTX) && me != 0 &&
	    id->uid != me && pd.uid != me) {
		blocker(rm, d, NULL, EPERM, "sticky directory, not owner");
		return false;
	}
	return true;
}

static int check_leave(struct tu_walk_dir *d, void *ctx)
{
	struct rm *rm = ctx;
	uint32_t flags = atomic_load(tu_walk_dir_flags(d));
	bool is_root = tu_walk_dir_depth(d) == 0;
	/* The check changes nothing that stays: give modes back. */
	mode_t m = tu_walk_dir_forced_mode(d);
	if (m == (mode_t)-1 && (flags & RM_FIXED))
		m = tu_walk_dir_ident(d)->mode & 07777;
	if (m != (mode_t)-1)
		fchmod(tu_walk_dir_fd(d), m);
	if (tu_walk_dir_aborted(d))
		return TU_WALK_NEXT;
	bool base_ok = !is_root || check_base(rm, d);
	if (!rm->probe)
		return TU_WALK_NEXT;
	struct tu_walk_dir *p = tu_walk_dir_parent(d);
	const struct tu_ident *id = tu_walk_dir_ident(d);
	if (flags & RM_HOLDS) {
		if (p)
			atomic_fetch_or(tu_walk_dir_flags(p), RM_HOLDS);
		rm_kept(rm, d, NULL, true);
	} else if ((flags & RM_BLOCKED) || !base_ok ||
		   (p && rm->given_up.count && rm_idset_has(&rm->given_up, id->dev, id->ino))) {
		if (p)
			atomic_fetch_or(tu_walk_dir_flags(p), RM_BLOCKED);
	} else {
		rm_removed(rm, d, NULL, true);
	}
	return TU_WALK_NEXT;
}

static int check_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct rm *rm = ctx;
	if (e->err == ENOENT)
		return TU_CONTINUE;
	if (d && tu_walk_err_skipped_mount(e)) {
		/* The real run leaves it, and so the directories above it. */
		if (!rm->probe)
			atomic_fetch_add(&rm->blockers, 1);
		return rm_mount_left_alone(rm, d, e);
	}
	atomic_fetch_add(&rm->blockers, 1);
	if (d)
		atomic_fetch_or(tu_walk_dir_flags(d), RM_BLOCKED);
	return tu_rep_fail_err(&rm->rep, e);
}

const struct tu_walk_ops rm_check_ops = {
	.enter = check_enter, .entry = check_entry, .leave = check_leave,
	.error = check_walk_error,
};
