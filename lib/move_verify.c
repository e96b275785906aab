/* SPDX-License-Identifier: Apache-2.0 */
/* move_verify.c: the check of a move's copy against SOURCE, entry by entry
 * (type, size, mode, owner, ns mtime, device number, link target, every
 * xattr and ACL, and with verify the content through the hash cache), and
 * the set of SOURCE entries found equal, by (dev, ino), which is all that
 * SOURCE's removal may take (move_across.c's source_may_remove).
 *
 * It must never change SOURCE or the copy, never follow a symlink, never
 * write a hash record, and never add an entry to the set that it did not
 * find equal to its copy.
 */
#define TU_INTERNAL
#include "move_state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- what was verified ------------------------------------------------------- */

static size_t vset_slot(const struct vset *v, uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ dev * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h ^ (h >> 31)) & (v->cap - 1);
}

struct vkey *mv_vset_find_locked(struct vset *v, uint64_t dev, uint64_t ino)
{
	if (!v->cap)
		return NULL;
	for (size_t i = vset_slot(v, dev, ino);; i = (i + 1) & (v->cap - 1)) {
		struct vkey *k = &v->keys[i];
		if (k->ino == 0)
			return NULL;
		if (k->ino == ino && k->dev == dev)
			return k;
	}
}

static int vset_add(struct vset *v, const struct stat *st)
{
	pthread_mutex_lock(&v->lock);
	if ((v->count + 1) * 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct vkey *keys = calloc(cap, sizeof *keys);
		if (!keys) {
			pthread_mutex_unlock(&v->lock);
			return -ENOMEM;
		}
		struct vset n = { .keys = keys, .cap = cap };
		for (size_t i = 0; i < v->cap; i++) {
			struct vkey *k = &v->keys[i];
			if (k->ino)
				for (size_t s = vset_slot(&n, k->dev, k->ino);; s = (s + 1) & (cap - 1))
					if (keys[s].ino == 0) {
						keys[s] = *k;
						break;
					}
		}
		free(v->keys);
		v->keys = keys;
		v->cap = cap;
	}
	uint64_t dev = st->st_dev, ino = st->st_ino ? st->st_ino : 1;
	struct vkey *k = mv_vset_find_locked(v, dev, ino);
	if (!k) {
		size_t i = vset_slot(v, dev, ino);
		while (v->keys[i].ino)
			i = (i + 1) & (v->cap - 1);
		k = &v->keys[i];
		v->count++;
	}
	*k = (struct vkey){ dev, ino, mv_ts_ns(st->st_ctim), mv_ts_ns(st->st_mtim),
			    (uint64_t)st->st_size, st->st_mode, st->st_uid, false };
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/* ---- verifying the copy ----------------------------------------------------- */

struct vdir {
	int dfd;		/* the copy's directory, or -1 once let go
				   (under verify.fdlock) */
	int pending;		/* subdirectories not yet entered (fdlock) */
	struct tu_ident did;	/* its identity when first opened */
	struct tu_hashdir *hd;	/* SOURCE's records, with verify */
};

struct verify {
	struct mv *m;
	int root_dfd;
	struct tu_hashcache *shc, *dhc;
	pthread_mutex_t fdlock;	/* the dfd and pending of every vdir */
	long held;
	long budget;
	_Atomic long bad;
	bool owners;		/* compare owners (we are root) */
	bool strict;		/* a difference fails the move (else: the entry
				   is kept in SOURCE, when finishing a move) */
};

static void mismatch(struct verify *v, struct tu_walk_dir *d, const char *name, int err,
		     const char *what)
{
	atomic_fetch_add(&v->bad, 1);
	char *p = tu_walk_path(d, name);
	char *s = p ? mv_shown(v->m, p) : NULL;
	char *w = NULL;
	if (!v->strict && asprintf(&w, "%s; kept in SOURCE", what) < 0)
		w = NULL;
	mv_say(v->m, v->m->o->error, s ? s : "?", v->strict ? "verify the copy of" : "remove", err,
	    w ? w : what);
	free(w);
	free(s);
	free(p);
}

/* XFS shows root its own on-disk form of POSIX ACLs as trusted.SGI_ACL_*
   beside system.posix_acl_*; the ACL itself is compared through the
   latter. */
static bool fs_private_xattr(const char *name)
{
	return strncmp(name, "trusted.SGI_ACL_", 16) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The extended attributes of NAME in DIRFD (symlinks too, not followed),
   names sorted, as one blob of "name\0" "length" "value". */
static int xattr_blob(int dirfd, const char *name, char **out, size_t *outlen)
{
	char path[PATH_MAX + 64];
	if (snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dirfd, name) >= (int)sizeof path)
		return -ENAMETOOLONG;
	*out = NULL;
	*outlen = 0;
	ssize_t n = llistxattr(path, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (n == 0)
		return 0;
	char *list = malloc((size_t)n);
	if (!list)
		return -ENOMEM;
	n = llistxattr(path, list, (size_t)n);
	if (n < 0) {
		free(list);
		return -errno;
	}
	const char *names[512];
	size_t k = 0;
	for (char *p = list; p < list + n && k < 512; p += strlen(p) + 1)
		if (!fs_private_xattr(p))
			names[k++] = p;
	if (k > 1)
		qsort(names, k, sizeof names[0], cmp_names);
	int r = 0;
	size_t cap = 0, len = 0;
	char *blob = NULL;
	for (size_t i = 0; i < k && r == 0; i++) {
		ssize_t vl = lgetxattr(path, names[i], NULL, 0);
		if (vl < 0) {
			r = -errno;
			break;
		}
		size_t nl = strlen(names[i]) + 1;
		size_t need = len + nl + sizeof(size_t) + (size_t)vl;
		if (need > cap) {
			cap = need * 2;
			char *nb = realloc(blob, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			blob = nb;
		}
		memcpy(blob + len, names[i], nl);
		len += nl;
		vl = lgetxattr(path, names[i], blob + len + sizeof(size_t), (size_t)vl);
		if (vl < 0) {
			r = -errno;
			break;
		}
		size_t v = (size_t)vl;
		memcpy(blob + len, &v, sizeof v);
		len += sizeof v + v;
	}
	free(list);
	if (r < 0) {
		free(blob);
		return r;
	}
	*out = blob;
	*outlen = len;
	return 0;
}

static int open_file(int dirfd, const char *name)
{
	int fl = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd = openat(dirfd, name, fl | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, fl);
	return fd;
}

/* Content of the regular file NAME, SOURCE side (records reused) against
   the copy (always read). */
static bool compare_content(struct verify *v, struct tu_walk_dir *d, struct vdir *vd,
			    int sfd, int dfd, const char *name, const struct stat *ss,
			    const struct stat *ds)
{
	bool same = false;
	int a = open_file(sfd, name);
	int b = open_file(dfd, name);
	struct stat sa, sb;
	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0 || sa.st_ino != ss->st_ino ||
	    sb.st_ino != ds->st_ino) {
		mismatch(v, d, name, a < 0 || b < 0 ? errno : ESTALE, "could not read it to compare");
	} else {
		struct tu_hash_info h1, h2;
		int r = tu_hashcache_get_fd(v->shc, vd->hd, a, name, &h1);
		int q = r == 0 ? tu_hashcache_get_fd(v->dhc, NULL, b, name, &h2) : 0;
		if (r < 0 || q < 0)
			mismatch(v, d, name, -(r < 0 ? r : q),
				 r == -EAGAIN ? "changed while it was read" : "could not hash it");
		else if (!h1.have_digest || !h2.have_digest || memcmp(h1.digest, h2.digest, 16))
			mismatch(v, d, name, EIO, "content differs");
		else
			same = true;
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return same;
}

/* One entry of SOURCE against its copy: type, size, mode, owner, times,
   device number, symlink target, extended attributes (ACLs included). */
static void compare_entry(struct verify *v, struct tu_walk_dir *d, struct vdir *vd, int sfd,
			  int dfd, const char *name)
{
	struct stat ss, ds;
	if (fstatat(sfd, name, &ss, AT_SYMLINK_NOFOLLOW) < 0) {
		mismatch(v, d, name, errno, "SOURCE entry vanished");
		return;
	}
	if (fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) < 0) {
		mismatch(v, d, name, errno, "missing in the copy");
		return;
	}
	const char *what = NULL;
	mode_t type = ss.st_mode & S_IFMT;
	bool later = mv_ts_ns(ss.st_ctim) > v->m->t0;
	if (later && type != S_IFDIR)
		return;	/* changed since the copy began: kept in SOURCE, reported then */
	/* A directory's ctime and mtime move when entries come and go (ours
	   too, when a rerun finishes a removal): then only its type, mode and
	   owner are compared, and each entry in it is checked on its own. */
	bool loose = type == S_IFDIR && (later || !v->strict);
	if (type == S_IFDIR && v->m->o->one_file_system && S_ISDIR(ds.st_mode)) {
		/* With -x a mount below SOURCE is copied as an empty directory,
		   which is not the mount's root: nothing more to compare. It is
		   never removed (the removal does not enter mounts then); it is
		   remembered so that the removal reports it as a mount. */
		struct tu_ident id;
		if (tu_ident_at(sfd, name, &id) == 0 && id.mount_root) {
			if (vset_add(&v->m->set, &ss) < 0)
				mismatch(v, d, name, ENOMEM, "cannot remember it");
			return;
		}
	}
	if (type != (ds.st_mode & S_IFMT))
		what = "type differs in the copy";
	else if (type != S_IFLNK && (ss.st_mode & 07777) != (ds.st_mode & 07777))
		what = "mode differs in the copy";
	else if (v->owners && (ss.st_uid != ds.st_uid || ss.st_gid != ds.st_gid))
		what = "owner differs in the copy";
	else if (type != S_IFDIR && ss.st_size != ds.st_size)
		what = "size differs in the copy";
	else if (!loose && mv_ts_ns(ss.st_mtim) != mv_ts_ns(ds.st_mtim))
		what = "modification time differs in the copy";
	else if ((type == S_IFCHR || type == S_IFBLK) && ss.st_rdev != ds.st_rdev)
		what = "device number differs in the copy";
	if (!what && type == S_IFLNK) {
		char a[PATH_MAX], b[PATH_MAX];
		ssize_t na = readlinkat(sfd, name, a, sizeof a);
		ssize_t nb = readlinkat(dfd, name, b, sizeof b);
		if (na < 0 || na != nb || memcmp(a, b, (size_t)na) != 0)
			what = "symlink target differs in the copy";
	}
	if (!what && !loose) {
		char *xa, *xb;
		size_t la, lb;
		int r = xattr_blob(sfd, name, &xa, &la);
		int q = r == 0 ? xattr_blob(dfd, name, &xb, &lb) : -1;
		if (r < 0 || q < 0 || la != lb || (la && memcmp(xa, xb, la) != 0))
			what = "extended attributes or ACLs differ in the copy";
		if (r == 0)
			free(xa);
		if (q == 0)
			free(xb);
	}
	if (what) {
		mismatch(v, d, name, EIO, what);
		return;
	}
	if (type == S_IFREG && v->m->o->verify && !compare_content(v, d, vd, sfd, dfd, name, &ss, &ds))
		return;
	if (vset_add(&v->m->set, &ss) < 0)
		mismatch(v, d, name, ENOMEM, "cannot remember it");
}

/* A directory of the copy the child D needs: its parent's, re-opened from
   the nearest ancestor still held when it was let go. */
static int parent_dfd(struct tu_walk_dir *d, bool *temp)
{
	struct tu_walk_dir *p = tu_walk_dir_parent(d);
	struct vdir *pv = *tu_walk_dir_slot(p);
	*temp = false;
	if (pv->dfd >= 0)
		return pv->dfd;
	/* Climb to a held one, then down again by name, each checked. */
	struct tu_walk_dir *chain[4096];
	int n = 0;
	struct tu_walk_dir *a = p;
	while (((struct vdir *)*tu_walk_dir_slot(a))->dfd < 0) {
		if (n == 4096)
			return -ENAMETOOLONG;
		chain[n++] = a;
		a = tu_walk_dir_parent(a);
	}
	int fd = ((struct vdir *)*tu_walk_dir_slot(a))->dfd;
	bool own = false;
	while (n > 0) {
		struct tu_walk_dir *c = chain[--n];
		struct vdir *cv = *tu_walk_dir_slot(c);
		int next = tu_dir_reopen_at(fd, tu_walk_dir_name(c), &cv->did);
		if (own)
			close(fd);
		if (next < 0)
			return next;
		fd = next;
		own = true;
	}
	*temp = true;
	return fd;
}

static int v_enter(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = calloc(1, sizeof *vd);
	if (!vd)
		return TU_WALK_STOP;
	*tu_walk_dir_slot(d) = vd;
	vd->dfd = -1;
	if (tu_walk_dir_depth(d) == 0) {
		vd->dfd = dup(v->root_dfd);
		if (vd->dfd >= 0)
			tu_ident_fd(vd->dfd, &vd->did);
	} else {
		/* A directory's copy is let go as soon as its last
		   subdirectory has opened its own from it, so a deep chain
		   holds a few fds, not one per level. */
		pthread_mutex_lock(&v->fdlock);
		bool temp;
		int pfd = parent_dfd(d, &temp);
		vd->dfd = pfd < 0 ? pfd : tu_dir_open_at(pfd, tu_walk_dir_name(d), &vd->did);
		if (temp)
			close(pfd);
		struct tu_walk_dir *p = tu_walk_dir_parent(d);
		struct vdir *pv = *tu_walk_dir_slot(p);
		if (--pv->pending == 0 && tu_walk_dir_depth(p) > 0 && pv->dfd >= 0) {
			close(pv->dfd);
			pv->dfd = -1;
			v->held--;
		}
		pthread_mutex_unlock(&v->fdlock);
	}
	if (vd->dfd < 0) {
		mismatch(v, tu_walk_dir_parent(d) ? tu_walk_dir_parent(d) : d,
			 tu_walk_dir_parent(d) ? tu_walk_dir_name(d) : NULL, -vd->dfd,
			 "could not open the copy of this directory");
		return TU_WALK_SKIP;
	}
	pthread_mutex_lock(&v->fdlock);
	v->held++;
	pthread_mutex_unlock(&v->fdlock);
	if (v->m->o->verify)
		tu_hashdir_open(v->shc, tu_walk_dir_fd(d), NULL, &vd->hd);
	return TU_WALK_NEXT;
}

static int v_entry(struct tu_walk_dir *d, const struct tu_dirent *e, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	compare_entry(v, d, vd, tu_walk_dir_fd(d), vd->dfd, e->name);
	if (e->is_dir)
		vd->pending++;	/* before any child is entered: no lock needed */
	return e->is_dir ? TU_WALK_DESCEND : TU_WALK_NEXT;
}

/* Let the copy's directory go once its entries are done if no subdirectory
   needs it, or if too many are held: a child then re-opens it (checked). */
static void v_done(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	pthread_mutex_lock(&v->fdlock);
	if (tu_walk_dir_depth(d) > 0 && vd->dfd >= 0 && (vd->pending == 0 || v->held > v->budget)) {
		close(vd->dfd);
		vd->dfd = -1;
		v->held--;
	}
	pthread_mutex_unlock(&v->fdlock);
}

static int v_leave(struct tu_walk_dir *d, void *ctx)
{
	struct verify *v = ctx;
	struct vdir *vd = *tu_walk_dir_slot(d);
	if (!vd)
		return TU_WALK_NEXT;
	if (vd->hd)
		tu_hashdir_close(vd->hd);
	pthread_mutex_lock(&v->fdlock);
	if (vd->dfd >= 0) {
		close(vd->dfd);
		v->held--;
	}
	pthread_mutex_unlock(&v->fdlock);
	free(vd);
	*tu_walk_dir_slot(d) = NULL;
	return TU_WALK_NEXT;
}

static int v_error(struct tu_walk_dir *d, const struct tu_err *e, void *ctx)
{
	struct verify *v = ctx;
	(void)d;
	if (v->m->o->one_file_system && tu_walk_err_skipped_mount(e))
		return TU_CONTINUE;
	atomic_fetch_add(&v->bad, 1);
	return mv_forward(v->m, v->m->o->error, e);
}

static int hash_error(const struct tu_err *e, void *ctx)
{
	(void)e, (void)ctx;
	return TU_CONTINUE;	/* the comparison reports the file */
}

/* Compare the tree held by SFD (SOURCE, or the stage of a non-directory)
   with its copy held by DFD. Returns the number of differences (reported),
   or -errno. */
long mv_verify_copy(struct mv *m, int sfd, int dfd, const char *disp, bool strict)
{
	/* The copy's directories held at most: a quarter of what the fd
	   limit leaves (the walker takes its own share of SOURCE's). */
	struct rlimit rl;
	long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
		   (long)rl.rlim_cur : 1024;
	long budget = (lim - 32) / 4;
	struct verify v = { .m = m, .root_dfd = dfd, .owners = geteuid() == 0,
			    .budget = budget < 4 ? 4 : budget > 256 ? 256 : budget,
			    .strict = strict, .fdlock = PTHREAD_MUTEX_INITIALIZER };
	struct tu_hashcache_opts ho;
	if (m->o->verify) {
		tu_hashcache_opts_init(&ho);
		ho.no_store = true;
		ho.jobs = m->o->jobs;
		ho.error = hash_error;
		int r = tu_hashcache_open(&v.shc, &ho);
		if (r == 0) {
			ho.mode = TU_HASHCACHE_CHECK;
			ho.store = TU_STORE_XATTR;
			r = tu_hashcache_open(&v.dhc, &ho);
		}
		if (r < 0) {
			tu_hashcache_close(v.shc);
			return r;
		}
	}
	/* SOURCE's own directory against the copy's. */
	struct stat ss, ds;
	if (fstat(sfd, &ss) < 0 || fstat(dfd, &ds) < 0)
		atomic_fetch_add(&v.bad, 1);
	else if ((ss.st_mode & 07777) != (ds.st_mode & 07777) ||
		 (strict && mv_ts_ns(ss.st_ctim) <= m->t0 && mv_ts_ns(ss.st_mtim) != mv_ts_ns(ds.st_mtim)) ||
		 (v.owners && (ss.st_uid != ds.st_uid || ss.st_gid != ds.st_gid))) {
		atomic_fetch_add(&v.bad, 1);
		mv_fail(m, disp, strict ? "verify the copy of" : "remove", EIO,
		     strict ? "mode, owner or time differs in the copy" :
			      "mode, owner or time differs from DEST; kept in SOURCE");
	} else if (vset_add(&m->set, &ss) < 0) {
		atomic_fetch_add(&v.bad, 1);
	}
	struct tu_walk_opts wo = { .jobs = m->o->jobs, .one_file_system = m->o->one_file_system };
	struct tu_walk_ops ops = { .enter = v_enter, .entry = v_entry, .leave = v_leave,
				   .done_entries = v_done, .error = v_error };
	char root[128];
	/* The walk's root as the maps know it (the last one added is
	   SOURCE's), or as shown when none was added. */
	snprintf(root, sizeof root, "%s", m->nmap > 0 ? m->map[m->nmap - 1].from : disp);
	int r = tu_walk(sfd, root, &wo, &ops, &v);
	tu_hashcache_close(v.shc);
	tu_hashcache_close(v.dhc);
	if (r < 0 && r != -ECANCELED)
		return r;
	return strict ? atomic_load(&v.bad) + (r == -ECANCELED) : 0;
}
