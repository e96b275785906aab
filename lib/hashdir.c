/* SPDX-License-Identifier: Apache-2.0 */
/* hashdir.c: the hash cache's state of one directory (its sidecar, loaded on
 * first use and written when the directory is done, and what could not be
 * stored in it), and the messages of the cache: failures and warnings for
 * the caller's callbacks, under the session's lock.
 *
 * This file must never follow a symlink, never act on a path string inside
 * the tree (paths are built for messages only), and never print.
 */
#define TU_INTERNAL
#include "hashdir.h"
#include "hashstore.h"
#include "walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

/* Timestamp granularity by filesystem type (see the top of hashcache.c). */
static int64_t fs_granularity(unsigned long type)
{
	switch (type) {
	case 0x4d44:		/* FAT (msdos, vfat): 2 s */
	case 0x2011bab0:	/* exFAT */
	case 0x65735546:	/* FUSE: FAT, NTFS, sshfs... nothing is known */
	case 0x6969:		/* NFS: the server's clock stamps files */
	case 0xff534d42:	/* CIFS */
	case 0xfe534d42:	/* SMB2 */
	case 0x517b:		/* SMB */
	case 0x00c36400:	/* Ceph */
	case 0x01021997:	/* 9p */
	case 0x5346414f:	/* AFS */
	case 0x4244:		/* HFS: 1 s */
	case 0x482b:		/* HFS+: 1 s */
	case 0x9660:		/* ISO 9660: 1 s */
		return GRAN_COARSE;
	default:
		return GRAN_FINE;
	}
}

/* Refusals by the place, not failures of the work: the front end warns and
   exits 0. Anything else (ENOSPC, EIO, ...) is an error. */
static bool is_refusal(int err)
{
	return err == EROFS || err == EACCES || err == EPERM || err == EOPNOTSUPP;
}

/* ---- messages ----------------------------------------------------------------------- */

/* The path of NAME in HD (NAME NULL: HD itself), for messages only. */
char *tu_hc_path_of(const struct tu_hashdir *hd, const char *name)
{
	if (hd->wd)
		return tu_walk_path(hd->wd, name);
	char *out = NULL;
	if (!name)
		out = strdup(hd->display ? hd->display : ".");
	else if (!hd->display)
		out = strdup(name);
	else if (asprintf(&out, "%s%s%s", hd->display,
			  strcmp(hd->display, "/") == 0 ? "" : "/", name) < 0)
		out = NULL;
	return out;
}

/* A failure with NAME in HD (NULL: HD itself), or with PATH when given. */
void tu_hc_report(struct tu_hashdir *hd, const char *path, const char *name, const char *op,
		   int err, const char *detail)
{
	struct tu_hashcache *hc = hd->hc;
	if (hd->wd && !path) {
		/* Through the walker, so a STOP answer stops the walk;
		   hc_walk_error() counts it. */
		tu_walk_report(hd->wd, name, op, err, detail);
		return;
	}
	char *p = path ? NULL : tu_hc_path_of(hd, name);
	tu_rep_fail(&hc->rep, path ? path : p, op, err, detail);
	free(p);
}

void tu_hc_warn(struct tu_hashdir *hd, const char *name, const char *op, int err,
		 const char *detail)
{
	struct tu_hashcache *hc = hd->hc;
	if (!hc->o.warning || tu_rep_stopped(&hc->rep))
		return;
	char *p = tu_hc_path_of(hd, name);
	tu_rep_warn(&hc->rep, p, op, err, detail);
	free(p);
}

/* ---- directories ---------------------------------------------------------------------- */

struct tu_hashdir *tu_hc_dir_new(struct tu_hashcache *hc, int fd,
				      const struct tu_hashdir *parent)
{
	struct tu_hashdir *hd = calloc(1, sizeof *hd);
	if (!hd)
		return NULL;
	hd->hc = hc;
	hd->fd = fd;
	if (parent) {
		hd->gran_ns = parent->gran_ns;
		hd->rdonly = parent->rdonly;
		hd->no_xattr = parent->no_xattr;
		return hd;
	}
	struct statfs sf;
	if (fstatfs(fd, &sf) == 0) {
		hd->gran_ns = fs_granularity((unsigned long)sf.f_type);
		hd->rdonly = (sf.f_flags & ST_RDONLY) != 0;
	} else {
		hd->gran_ns = GRAN_COARSE;
	}
	return hd;
}

static void sidecar_warn(unsigned line, const char *why, void *ctx)
{
	struct tu_hashdir *hd = ctx;
	char detail[160];
	if (line)
		snprintf(detail, sizeof detail, "line %u: %s; ignored", line, why);
	else
		snprintf(detail, sizeof detail, "%s; ignored", why);
	tu_hc_warn(hd, TU_SIDECAR_NAME, "read cache", EBADMSG, detail);
}

/* HD's sidecar, loaded on first use; NULL if it cannot be read (then it is
   neither used nor replaced). */
struct tu_sidecar *tu_hc_dir_sidecar(struct tu_hashdir *hd)
{
	if (hd->sc || hd->sc_err)
		return hd->sc;
	hd->prune_ok = hd->files_seen == 0;
	int r = tu_sidecar_load(hd->fd, &hd->sc, sidecar_warn, hd);
	if (r < 0) {
		/* Said once here; records that cannot go in it are not said
		   again (report_not_stored), and are no failure: the name is
		   not ours to use. */
		hd->sc_err = -r;
		hd->sc_said = true;
		tu_hc_warn(hd, TU_SIDECAR_NAME, "read cache", -r,
		     r == -EINVAL || r == -ELOOP ? "not a regular file; left alone, no "
		     "records kept in this directory" : "left alone; no records stored in it");
	}
	return hd->sc;
}

void tu_hc_not_stored(struct tu_hashdir *hd, int err, unsigned long n)
{
	COUNT(hd->hc, not_stored, n);
	/* The sidecar could not be had, and that was said when it was
	   looked for. */
	if (hd->sc_said && err == hd->sc_err)
		return;
	if (!hd->nostore_err)
		hd->nostore_err = err;
	hd->nostore_n += n;
}

/* As not_stored, with what to say instead of the errno's text (a refusal
   of ours: a warning, exit 0). */
void tu_hc_not_stored_why(struct tu_hashdir *hd, int err, const char *why)
{
	if (!hd->nostore_why || hd->nostore_err == err)
		hd->nostore_why = why;
	tu_hc_not_stored(hd, err, 1);
}

/* Say once per directory which records could not be stored, and why. A
   read-only mount, or a filesystem without user xattrs under --store=xattr,
   is said once per run. */
static void report_not_stored(struct tu_hashdir *hd)
{
	struct tu_hashcache *hc = hd->hc;
	int err = hd->nostore_err;
	if (!hd->nostore_n)
		return;
	char detail[128];
	snprintf(detail, sizeof detail, "%lu hash record%s not stored%s%s", hd->nostore_n,
		 hd->nostore_n == 1 ? "" : "s", hd->nostore_why ? ": " : "",
		 hd->nostore_why ? hd->nostore_why : "");
	if (!is_refusal(err)) {
		tu_hc_report(hd, NULL, NULL, "store hashes in", err, detail);
		return;
	}
	if (err == EROFS) {
		if (atomic_exchange(&hc->warned_erofs, true))
			return;
		snprintf(detail, sizeof detail, "hashes are printed, not stored");
	} else if (err == EOPNOTSUPP) {
		if (atomic_exchange(&hc->warned_nosupp, true))
			return;
		snprintf(detail, sizeof detail, "no user xattrs here; --store=auto or "
			 "--store=file would use a .spookyhashes file");
	}
	tu_hc_warn(hd, NULL, "store hashes in", err, detail);
}

/* Write the sidecar if it changed and report what was not stored. ABORTED:
   the walk is being abandoned; write nothing. */
int tu_hc_dir_finish(struct tu_hashdir *hd, bool aborted)
{
	struct tu_hashcache *hc = hd->hc;
	int ret = 0;
	bool may_write = !aborted && hd->sc && !hc->o.no_store &&
			 hc->o.mode != TU_HASHCACHE_SHOW;
	if (may_write && hd->listing && !hd->incomplete && hd->prune_ok)
		tu_sidecar_prune(hd->sc);
	if (may_write && tu_sidecar_dirty(hd->sc)) {
		int r = hd->rdonly ? -EROFS : tu_sidecar_write(hd->fd, hd->sc);
		if (r == 0) {
			COUNT(hc, stored, hd->sc_pending);
		} else if (hc->o.mode == TU_HASHCACHE_CLEAR) {
			tu_hc_report(hd, NULL, TU_SIDECAR_NAME, "clear", -r, NULL);
			ret = r;
		} else if (hd->sc_pending) {
			tu_hc_not_stored(hd, -r, hd->sc_pending);
		} else if (!is_refusal(-r)) {
			/* Only bad lines were to be dropped: a rewrite that
			   fails for want of space is worth saying. */
			tu_hc_report(hd, NULL, TU_SIDECAR_NAME, "rewrite", -r, NULL);
			ret = r;
		}
		hd->sc_pending = 0;
	}
	if (!aborted)
		report_not_stored(hd);
	if (hd->nostore_n && !is_refusal(hd->nostore_err) && ret == 0)
		ret = -hd->nostore_err;
	return ret;
}

void tu_hc_dir_free(struct tu_hashdir *hd)
{
	if (!hd)
		return;
	tu_sidecar_free(hd->sc);
	free(hd->display);
	free(hd);
}
