/* SPDX-License-Identifier: Apache-2.0 */
/* operands.c: SOURCE and DEST: every check before anything is written
 * (SOURCE a readable directory, DEST absent or an empty directory, not
 * SOURCE itself, not inside it), the strings link targets are made from,
 * and DEST's making and, with --atomic, its hidden stand-in renamed into
 * place or removed.
 *
 * This file must never write anything before every check has passed, and
 * never replace a DEST that is not an empty directory.
 */
#define TU_INTERNAL
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROC_FD_MAX 64

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
			       "SOURCE must be a directory (a symlink to one needs a trailing '/')");
			return -ENOTDIR;
		}
		cp_refuse(cp, cp->src_display, "open", -r, NULL);
		return r;
	}
	s->sfd = fd;

	r = tu_open_parent(dest, s->dbuf, dl + 2, &s->dlast);
	if (r < 0) {
		cp_refuse(cp, cp->dst_display, "create", -r, NULL);
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
		r = tu_dir_is_empty(dfd);
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
	return 0;
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

/* Remove the hidden tree of a failed --atomic copy. */
static void remove_hidden(struct tu_copy *cp, int pfd, const char *name)
{
	char path[PROC_FD_MAX + TU_TMP_NAME_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d/%s", pfd, name);
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = cp->o->jobs;
	tu_rmtree(path, &ro);
}

bool cp_dest_commit(struct tu_copy *cp, struct start *s, const char *hidden, bool ok)
{
	if (!cp->o->atomic)
		return ok;
	if (ok) {
		/* An empty DEST that exists is replaced in the same step;
		   otherwise nothing may be replaced. */
		int rr = s->dest_exists ? tu_rename_at(s->dpfd, hidden, s->dpfd, s->dlast)
					: tu_rename_noreplace(s->dpfd, hidden, s->dpfd, s->dlast);
		if (rr < 0) {
			cp_note_failure(cp, -rr);
			cp_refuse(cp, cp->dst_display, "rename into place", -rr, NULL);
			ok = false;
		}
	}
	if (!ok)
		remove_hidden(cp, s->dpfd, hidden);
	return ok;
}
