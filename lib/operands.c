/* SPDX-License-Identifier: Apache-2.0 */
/* operands.c: SOURCE and DEST: every check before anything is written
 * (SOURCE a readable directory, DEST absent or an empty directory, not
 * SOURCE itself, not inside it, not writable by other users unless forced,
 * on SOURCE's filesystem when hard links or reflinks must be made), the
 * strings link targets are made from, and DEST's making and, with
 * --atomic, its hidden stand-in renamed into place or removed.
 *
 * This file must never write anything before every check has passed,
 * never replace a DEST that is not an empty directory, and never remove
 * anything but the hidden tree it made, known by its identity and reached
 * through DEST's held parent, never by a path.
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *cp_display_of(const char *arg)
{
	char *s = strdup(arg);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* ---- a DEST other users can write (man cptree: DEST AND OTHER USERS) ---- */

/* May a user other than us (and root) write into the directory ID? Its
   owner can; so can group and others with a write bit, and with an ACL
   named users and groups, whose write shows in the group bits (the mask). */
static bool others_can_write(const struct tu_copy *cp, const struct tu_ident *id)
{
	return (id->uid != cp->euid && id->uid != 0) || (id->mode & (S_IWGRP | S_IWOTH));
}

/* May someone other than us (and root) rename an entry of ours in ID: its
   owner, or anyone with write permission there unless the sticky bit
   reserves that to an entry's owner. */
static bool others_can_rename(const struct tu_copy *cp, const struct tu_ident *id)
{
	if (id->uid != cp->euid && id->uid != 0)
		return true;
	return (id->mode & (S_IWGRP | S_IWOTH)) && !(id->mode & S_ISVTX);
}

/* The rule, unless force_dest: an existing DEST, the one directory of the
   copy we do not make, must be writable by no one but us, or that user
   could swap, add or take entries while root fills it. A hard-link farm
   hands over a link to every SOURCE file to whoever can take entries from
   DEST, which bypasses fs.protected_hardlinks: so with --link=hard,
   DEST's parent must not let anyone else rename DEST either. */
static int check_dest_others(struct tu_copy *cp, struct start *s)
{
	if (cp->o->force_dest)
		return 0;
	char detail[160];
	if (s->dest_exists && others_can_write(cp, &s->did)) {
		if (s->did.uid != cp->euid && s->did.uid != 0)
			snprintf(detail, sizeof detail,
				 "DEST is owned by user %lu; nothing written; "
				 "--force-dest copies into it anyway",
				 (unsigned long)s->did.uid);
		else
			snprintf(detail, sizeof detail,
				 "DEST is writable by %s; nothing written; "
				 "--force-dest copies into it anyway",
				 s->did.mode & S_IWOTH ? "others" : "its group");
		cp_refuse(cp, cp->dst_display, "copy into", EPERM, detail);
		return -EPERM;
	}
	if (cp->o->link != TU_CPLINK_HARD)
		return 0;
	struct tu_ident pid;
	int r = tu_ident_fd(s->dpfd, &pid);
	if (r < 0) {
		cp_refuse(cp, cp->dst_display, "stat", -r, "its parent directory");
		return r;
	}
	if (others_can_rename(cp, &pid)) {
		cp_refuse(cp, cp->dst_display, "link into", EPERM,
			  "another user can rename entries in DEST's parent, and take the "
			  "links to SOURCE's files; nothing written; --force-dest links anyway");
		return -EPERM;
	}
	return 0;
}

/* --link=hard and --reflink=always cannot work across filesystems (a hard
   link not even across two mounts of one): one refusal before anything is
   made, rather than one failure per file. */
static int check_one_filesystem(struct tu_copy *cp, struct start *s)
{
	bool hard = cp->o->link == TU_CPLINK_HARD;
	if (!hard && !(cp->o->reflink == TU_REFLINK_ALWAYS && cp->o->link == TU_CPLINK_NONE))
		return 0;
	struct tu_ident dst = s->did;
	if (!s->dest_exists) {
		int r = tu_ident_fd(s->dpfd, &dst);
		if (r < 0) {
			cp_refuse(cp, cp->dst_display, "stat", -r, "its parent directory");
			return r;
		}
	}
	bool apart = dst.dev != s->sid.dev;
	if (hard && dst.mnt_id && s->sid.mnt_id)
		apart = dst.mnt_id != s->sid.mnt_id;
	if (!apart)
		return 0;
	cp_refuse(cp, cp->dst_display, hard ? "link into" : "reflink into", EXDEV,
		  hard ? "--link=hard needs SOURCE and DEST on one mount; nothing written"
		       : "--reflink=always needs SOURCE and DEST on one filesystem; nothing written");
	return -EXDEV;
}

/* Every check before anything is written: SOURCE readable, DEST absent or
   an empty directory, not SOURCE itself, not inside it. */
int cp_preflight(struct tu_copy *cp, const char *source, const char *dest, struct start *s)
{
	size_t sl = strlen(source), dl = strlen(dest);
	if (sl == 0 || dl == 0) {
		cp_refuse(cp, sl ? dest : source, "copy", EINVAL, "refusing an empty name");
		return -EINVAL;
	}
	s->sbuf = malloc(sl + 2);
	s->dbuf = malloc(dl + 2);
	if (!s->sbuf || !s->dbuf)
		return -ENOMEM;
	int r = tu_open_parent(source, s->sbuf, sl + 2, &s->slast);
	if (r < 0) {
		cp_refuse(cp, cp->src_display, "open", -r, NULL);
		return r;
	}
	s->spfd = r;
	/* A SOURCE symlink written with a trailing slash means its target,
	   as everywhere, and -L follows it as cp -L does; otherwise SOURCE
	   is never followed. */
	bool follow = source[sl - 1] == '/' || (cp->o->dereference & TU_DEREF_SYMBOLIC);
	int fd = follow ? tu_dir_open_follow(s->spfd, s->slast, &s->sid)
			: tu_dir_open_at(s->spfd, s->slast, &s->sid);
	if (fd < 0) {
		r = fd;
		if (r == -ENOTDIR || r == -ELOOP) {
			cp_refuse(cp, cp->src_display, "copy", ENOTDIR,
			       "SOURCE must be a directory; a symlink to one needs a trailing '/'");
			return -ENOTDIR;
		}
		cp_refuse(cp, cp->src_display, "open directory", -r, NULL);
		return r;
	}
	s->sfd = fd;

	r = tu_open_parent(dest, s->dbuf, dl + 2, &s->dlast);
	if (r < 0) {
		cp_refuse(cp, cp->dst_display, "create directory", -r, NULL);
		return r;
	}
	s->dpfd = r;
	if (strcmp(s->dlast, "/") == 0 || strcmp(s->dlast, "..") == 0 ||
	    (strcmp(s->dlast, ".") == 0 && cp->o->atomic)) {
		cp_refuse(cp, cp->dst_display, "copy", EINVAL, "refusing this DEST");
		return -EINVAL;
	}
	struct tu_ident did;
	r = tu_ident_at(s->dpfd, s->dlast, &did);
	if (r == 0 && tu_ident_same(&did, &s->sid)) {
		cp_refuse(cp, cp->dst_display, "copy", EINVAL, "SOURCE and DEST are the same");
		return -EINVAL;
	}
	int in = tu_dir_is_below(s->dpfd, &s->sid);
	if (in > 0) {
		cp_refuse(cp, cp->dst_display, "copy", EINVAL,
		       "cannot copy a directory into itself; nothing written");
		return -EINVAL;
	}
	if (in < 0) {
		cp_refuse(cp, cp->dst_display, "check", -in, NULL);
		return in;
	}
	if (r == 0) {
		s->dest_exists = true;
		if (!S_ISDIR(did.mode)) {
			cp_refuse(cp, cp->dst_display, "copy", EEXIST, "DEST exists and is not a directory");
			return -EEXIST;
		}
		int dfd = tu_dir_open_at(s->dpfd, s->dlast, &s->did);
		if (dfd < 0) {
			cp_refuse(cp, cp->dst_display, "open", -dfd, NULL);
			return dfd;
		}
		/* An update works on what DEST holds. */
		r = cp->o->update ? 1 : tu_dir_is_empty(dfd);
		close(dfd);
		if (r == 0) {
			cp_refuse(cp, cp->dst_display, "copy", ENOTEMPTY,
			       "DEST exists and is not empty; nothing written");
			return -ENOTEMPTY;
		}
		if (r < 0) {
			cp_refuse(cp, cp->dst_display, "read directory", -r, NULL);
			return r;
		}
	} else if (r != -ENOENT) {
		cp_refuse(cp, cp->dst_display, "stat", -r, NULL);
		return r;
	}
	r = check_dest_others(cp, s);
	if (r == 0)
		r = check_one_filesystem(cp, s);
	return r;
}

/* The strings link targets are made from (symbolic farm, fix_symlinks):
   canonical paths from the kernel for the fds we hold, so the targets do
   not depend on how the operands were spelled. */
int cp_link_paths_init(struct tu_copy *cp, const char *source, struct start *s)
{
	char *src = tu_fd_path(s->sfd);
	char *dparent = tu_fd_path(s->dpfd);
	char cwd[PATH_MAX];
	const char *wd = source[0] != '/' && !tu_linkpath_has_dots(source) &&
				 getcwd(cwd, sizeof cwd) ? cwd : NULL;
	int r = tu_linkpaths_init(&cp->lp, source, wd, src, dparent, s->dlast);
	free(src);
	free(dparent);
	return r;
}

int cp_dest_create(struct tu_copy *cp, struct start *s, char *hidden, const char **name)
{
	*name = s->dlast;
	if (!s->hidden_given)
		hidden[0] = '\0';
	if (!cp->o->atomic && s->dest_exists)
		return 0;
	int r;
	if (cp->o->atomic) {
		/* --clone-from chose the hidden name (and removed what an
		   interrupted run left there); else a fresh random one. */
		r = s->hidden_given ? tu_make_dir_at(s->dpfd, hidden, 0700)
				    : tu_dir_create_tmp(s->dpfd, 0700, hidden);
		*name = hidden;
	} else {
		r = tu_make_dir_at(s->dpfd, s->dlast, 0700);
	}
	if (r < 0) {
		cp_refuse(cp, cp->dst_display, "create directory", -r, NULL);
		return r;
	}
	return 1;
}

/* How the name NAME beside DEST is shown: DEST as given, its last
   component replaced. Malloc'd. */
static char *beside_dest(const struct tu_copy *cp, const char *name)
{
	const char *d = cp->dst_display, *slash = strrchr(d, '/');
	char *p = NULL;
	int n = slash ? (int)(slash - d + 1) : 0;
	if (asprintf(&p, "%.*s%s", n, d, name) < 0)
		return NULL;
	return p;
}

/* Remove the hidden tree of a failed --atomic copy, and nothing else: NAME
   in DEST's held parent, only while it is still MADE, the directory we
   made. Someone who can write that parent may have renamed it: then it is
   looked for there by identity, and whatever holds its old name is left
   alone. Never a path string: tu_rmtree_at works on the held fds. */
static void remove_hidden(struct tu_copy *cp, struct start *s, const char *name,
			  const struct tu_ident *made)
{
	char found[NAME_MAX + 1];
	struct tu_ident now;
	if (tu_ident_at(s->dpfd, name, &now) < 0 || !tu_ident_same(&now, made)) {
		int r = tu_dir_find_ident(s->dpfd, made, found, sizeof found);
		if (r < 0) {
			char *shown = beside_dest(cp, name);
			cp_note_failure(cp, r == -ENOENT ? ESTALE : -r);
			cp_refuse(cp, shown ? shown : name, "remove", r == -ENOENT ? ESTALE : -r,
				  "the hidden copy was moved away by someone else; not removed");
			free(shown);
			return;
		}
		name = found;
	}
	char *shown = beside_dest(cp, name);
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = cp->o->jobs;
	ro.expect_id = true;
	ro.expect_dev = made->dev;
	ro.expect_ino = made->ino;
	ro.display = shown;
	ro.error = cp->o->error;	/* no copy thread runs any more */
	ro.ctx = cp->o->ctx;
	int r = tu_rmtree_at(s->dpfd, name, &ro);
	if (r < 0)
		cp_note_failure(cp, -r);
	free(shown);
}

bool cp_dest_commit(struct tu_copy *cp, struct start *s, const char *hidden,
		    const struct tu_ident *made, bool ok)
{
	if (!cp->o->atomic)
		return ok;
	if (ok) {
		/* An empty DEST that exists is replaced in the same step;
		   otherwise nothing may be replaced. Either way what lands
		   on DEST must be the directory we made. */
		int rr = tu_dir_place(s->dpfd, hidden, s->dlast, made,
				      s->dest_exists ? &s->did : NULL);
		if (rr < 0) {
			cp_note_failure(cp, -rr);
			cp_refuse(cp, cp->dst_display, "rename into place", -rr,
				  rr == -ESTALE ? "the hidden copy or DEST was replaced by "
						  "someone else; DEST not made"
						: NULL);
			ok = false;
		}
	}
	if (!ok)
		remove_hidden(cp, s, hidden, made);
	return ok;
}
