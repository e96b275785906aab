/* SPDX-License-Identifier: Apache-2.0 */
/* hashtree.c: hashcache over a whole tree (tu_hashcache_tree): the walker's
 * callbacks, which give each directory its cache state (hashdir.h) and each
 * regular file to hashcache.c, and the handling of the PATH argument.
 *
 * This file must never follow a symlink inside the tree (a PATH written
 * "LINK/" is followed, as the user asked), never open anything but
 * directories itself, never act on a path string inside the tree, and never
 * print.
 */
#define TU_INTERNAL
#include "hashdir.h"
#include "handle.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the walk ------------------------------------------------------------------------------- */

static struct tu_hashdir *slot_hd(struct tu_walk_dir *d)
{
	struct tu_hashdir *hd = *(struct tu_hashdir **)tu_walk_dir_slot(d);
	if (hd)
		hd->fd = tu_walk_dir_fd(d);
	return hd;
}

static int hc_enter(struct tu_walk_dir *d, void *ctx)
{
	struct tu_hashcache *hc = ctx;
	struct tu_walk_dir *pd = tu_walk_dir_parent(d);
	struct tu_hashdir *parent = pd ? *(struct tu_hashdir **)tu_walk_dir_slot(pd) : NULL;
	/* A mount below may be another filesystem: learn it afresh. */
	if (tu_walk_dir_is_mount(d))
		parent = NULL;
	struct tu_hashdir *hd = tu_hc_dir_new(hc, tu_walk_dir_fd(d), parent);
	if (!hd) {
		tu_walk_report(d, NULL, "read directory", ENOMEM, NULL);
		return TU_WALK_SKIP;
	}
	hd->wd = d;
	hd->listing = true;
	*(struct tu_hashdir **)tu_walk_dir_slot(d) = hd;
	/* Where records will come from the sidecar, load it before any file,
	   so records of names that are gone can be pruned. */
	enum tu_hashcache_store st = hc->o.store;
	if (st == TU_STORE_FILE || (st == TU_STORE_AUTO && hd->no_xattr) ||
	    (hc->o.mode == TU_HASHCACHE_CLEAR && st != TU_STORE_XATTR))
		tu_hc_dir_sidecar(hd);
	return TU_WALK_NEXT;
}

static int hc_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct tu_hashcache *hc = ctx;
	if (e->is_dir)
		return TU_WALK_DESCEND;
	struct tu_hashdir *hd = slot_hd(d);
	if (strcmp(e->name, TU_SIDECAR_NAME) == 0)
		return TU_WALK_NEXT;
	if (tu_is_tmp_name(e->name)) {
		tu_hc_dir_tmp_name(hd, e->name);
		return TU_WALK_NEXT;
	}
	/* d_type decides first: a symlink, FIFO, socket or device is never
	   looked at further, let alone opened. */
	if (e->type != DT_REG && e->type != DT_UNKNOWN) {
		COUNT(hc, skipped, 1);
		return TU_WALK_NEXT;
	}
	tu_hc_dir_name(hd, e->name, NULL);
	return TU_WALK_NEXT;
}

static int hc_leave(struct tu_walk_dir *d, void *ctx)
{
	(void)ctx;
	struct tu_hashdir *hd = slot_hd(d);
	if (!hd)
		return TU_WALK_NEXT;
	tu_hc_dir_finish(hd, tu_walk_dir_aborted(d));
	tu_hc_dir_free(hd);
	*(struct tu_hashdir **)tu_walk_dir_slot(d) = NULL;
	return TU_WALK_NEXT;
}

static int hc_walk_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct tu_hashcache *hc = ctx;
	if (d && strcmp(e->op, "read directory") == 0) {
		struct tu_hashdir *hd = *(struct tu_hashdir **)tu_walk_dir_slot(d);
		if (hd)
			hd->incomplete = true;	/* prune nothing */
	}
	if (tu_walk_err_vanished(e) || tu_walk_err_skipped_mount(e))
		return TU_CONTINUE;
	return tu_rep_fail_err(&hc->rep, e);
}

/* PATH names a directory (opened as DFD): walk it. */
static int tree_walk(struct tu_hashcache *hc, int dfd, const char *display)
{
	static const struct tu_walk_ops ops = {
		.enter = hc_enter, .entry = hc_entry, .leave = hc_leave, .error = hc_walk_error,
	};
	struct tu_walk_opts wo = {
		.jobs = hc->o.jobs,
		.one_file_system = hc->o.one_file_system,
		/* Inode order walks the inode table, and on most
		   filesystems the data, in order. */
		.sort_by_inode = true,
		.stop = &hc->rep.stop,
	};
	/* The root's own path is "/" itself, not "" + "/" + name. */
	int r = tu_walk(dfd, strcmp(display, "/") == 0 ? "" : display, &wo, &ops, hc);
	if (r < 0 && r != -ECANCELED) {
		tu_rep_fail(&hc->rep, display, "walk", -r, NULL);
	}
	return r;
}

/* PATH names a regular file, NAME in PFD. */
static void tree_file(struct tu_hashcache *hc, int pfd, const char *name, const char *display)
{
	struct tu_hashdir *hd = tu_hc_dir_new(hc, pfd, NULL);
	if (!hd) {
		tu_rep_fail(&hc->rep, display, "hash", ENOMEM, NULL);
		return;
	}
	/* Messages about the directory name it as the argument does. */
	const char *slash = strrchr(display, '/');
	if (slash)
		hd->display = slash == display ? strdup("/") :
			      strndup(display, (size_t)(slash - display));
	tu_hc_dir_name(hd, name, display);
	tu_hc_dir_finish(hd, false);
	tu_hc_dir_free(hd);
}

int tu_hashcache_tree(const char *path, const struct tu_hashcache_opts *o)
{
	struct tu_hashcache *hc;
	int r = tu_hashcache_open(&hc, o);
	if (r < 0)
		return r;
	size_t len = strlen(path);
	char *buf = malloc(len + 2);
	char *display = strdup(path);
	int pfd = -1;
	if (!buf || !display) {
		r = -ENOMEM;
		goto out;
	}
	/* Messages show the argument without trailing slashes. */
	size_t dl = len;
	while (dl > 1 && display[dl - 1] == '/')
		display[--dl] = '\0';
	/* "link/" asks for what the link points to, as with ls or find. */
	bool follow = len > 1 && path[len - 1] == '/';
	if (len == 0) {
		r = -ENOENT;
		tu_rep_fail(&hc->rep, path, "open", ENOENT, NULL);
		goto out;
	}
	const char *last;
	r = tu_open_parent(path, buf, len + 2, &last);
	if (r < 0) {
		tu_rep_fail(&hc->rep, display, "open", -r, NULL);
		goto out;
	}
	pfd = r;
	struct fmeta m = { 0 };
	r = tu_hc_meta_at(pfd, last, &m);
	if (r == 0 && S_ISLNK(m.mode) && follow) {
		struct tu_ident did;
		int dfd = tu_dir_open_follow(pfd, last, &did);
		if (dfd < 0) {
			r = dfd;
		} else {
			tree_walk(hc, dfd, display);
			close(dfd);
			r = 0;
			goto done;
		}
	}
	if (r < 0) {
		tu_rep_fail(&hc->rep, display, "open", -r, NULL);
		goto out;
	}
	if (S_ISDIR(m.mode)) {
		struct tu_ident id;
		int dfd = tu_dir_open_at(pfd, last, &id);
		if (dfd < 0) {
			r = dfd;
			tu_rep_fail(&hc->rep, display, "open directory", -r, NULL);
			goto out;
		}
		tree_walk(hc, dfd, display);
		close(dfd);
	} else if (S_ISREG(m.mode)) {
		tree_file(hc, pfd, last, display);
	} else {
		COUNT(hc, skipped, 1);
		tu_rep_warn(&hc->rep, display, "hash", S_ISLNK(m.mode) ? ELOOP : EINVAL,
			    S_ISLNK(m.mode) ? "a symbolic link, not followed; write 'LINK/' "
			    "to walk the directory it points to" : "not a regular file; skipped");
	}
done:
	r = tu_rep_result(&hc->rep);
out:
	if (pfd >= 0)
		close(pfd);
	free(buf);
	free(display);
	tu_hashcache_close(hc);
	return r;
}
