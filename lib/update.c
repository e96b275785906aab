/* SPDX-License-Identifier: Apache-2.0 */
/* update.c: cptree --update, as a policy of the copy engine (copy.h): per
 * entry of SOURCE, leave DEST's entry alone, apply metadata only, or rebuild
 * it under a temporary name and rename it over the old one; --delete
 * removes what SOURCE lacks; -i records say what was done, in rsync's
 * format (itemize.c). Also the exclude rules for every copy (exclude.c) and
 * "same content?" through the hash cache (tu_copy_same_content).
 *
 * Orderings that matter:
 *  - a file is rebuilt whole under a TU_TMP_PREFIX name in its directory
 *    and only then put in place (tu_replace_name: an exchange, checked), so
 *    an interrupted update leaves every file old or new; a directory that
 *    gives way to a non-directory is exchanged with its ready replacement
 *    and only then removed, with the rmtree engine;
 *  - a non-directory that gives way to a directory is exchanged with a new
 *    empty directory, which is then filled;
 *  - --delete runs per directory once its entries are in place
 *    (done_entries), before its subdirectories are entered; a directory's
 *    metadata (its times above all) is set after all of its contents;
 *  - immutable and append-only flags are lifted from a DEST entry only to
 *    change it, and set again last; those of a hard-link group wait for the
 *    end of the walk, since a locked inode refuses new links;
 *  - with --checksum, both sides of an equal file get one identical record
 *    (so -a's xattrs stay equal), written after every other change but
 *    the flags.
 *
 * Hard links (-a): the first name of a SOURCE group to be seen leads; its
 * DEST inode is what every other name of the group must be, and a name that
 * is not becomes a new link to it (in place, as above). A DEST file linked
 * where SOURCE's is not is rebuilt as its own inode.
 *
 * An update with nothing to do writes nothing: no ctime or directory mtime
 * in DEST moves, and -i prints nothing.
 *
 * This file must never follow a symlink in either tree, never write outside
 * DEST (nor to SOURCE but hash records), never remove a DEST entry before
 * its replacement is complete, and never print.
 */
#define TU_INTERNAL
#include "compare.h"
#include "copy.h"
#include "exclude.h"
#include "hashdir.h"
#include "hashstore.h"
#include "itemize.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define STX_MASK (STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | STATX_SIZE | \
		  STATX_MTIME | STATX_CTIME | STATX_INO)
#define LOCK_ATTRS (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)
#define LOCK_FLAGS (FS_IMMUTABLE_FL | FS_APPEND_FL)
/* The chattr flags a user may set, as lib/meta.c copies them (its
   COPY_FLAGS: keep the lists alike). */
#define UPD_FLAGS (FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL | FS_IMMUTABLE_FL | \
		   FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL | FS_JOURNAL_DATA_FL | \
		   FS_NOTAIL_FL | FS_DIRSYNC_FL | FS_TOPDIR_FL | FS_PROJINHERIT_FL)

/* ---- state ------------------------------------------------------------------ */

/* A hard-link group of SOURCE, by its first name seen. */
struct lgroup {
	dev_t dev;
	ino_t ino;
	bool busy;		/* its leader is being brought up to date */
	bool ok;		/* DST is what every name must be */
	struct tu_ident dst;
	char *rel;		/* the leader's path below DEST */
	unsigned long relock;	/* flags to set again after the walk */
	struct lgroup *next;
};

/* Names, for one directory: SOURCE's names (what --delete keeps) and the
   directories made in DEST (whose own line -i has printed). */
struct nameset {
	char **slot;
	size_t cap, count;
};

struct udir {
	struct nameset seen;	/* SOURCE's names here, but excluded ones */
	struct nameset made;	/* directories made here by this run */
	unsigned changed;	/* its own metadata differed (dir_entered) */
	bool is_new;		/* made by this run: all of its metadata */
	_Atomic bool touched;	/* an entry was added, replaced or removed:
				   its times are set again */
	struct tu_hashdir *shd, *dhd;	/* --checksum: the directories'
					   granularity, from enter() to
					   done_entries() */
};

struct upd {
	pthread_mutex_t lock;	/* the groups */
	pthread_cond_t cond;
	struct lgroup **tab;
	size_t cap, count;
	unsigned rec_flags;	/* TU_ITEMIZE_* */
	bool root_new;
	/* DEST inodes seen with links where SOURCE's file has none: every
	   such name is rebuilt, whatever the order (a dry run says so too) */
	struct lgroup **shared;
	size_t shared_cap, shared_count;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool ns_has(const struct nameset *n, const char *name)
{
	if (!n->cap)
		return false;
	for (size_t i = hash_str(name) & (n->cap - 1);; i = (i + 1) & (n->cap - 1)) {
		if (!n->slot[i])
			return false;
		if (strcmp(n->slot[i], name) == 0)
			return true;
	}
}

static int ns_add(struct nameset *n, const char *name)
{
	if ((n->count + 1) * 2 > n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 64;
		char **slot = calloc(cap, sizeof *slot);
		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < n->cap; i++) {
			if (!n->slot[i])
				continue;
			size_t j = hash_str(n->slot[i]) & (cap - 1);
			while (slot[j])
				j = (j + 1) & (cap - 1);
			slot[j] = n->slot[i];
		}
		free(n->slot);
		n->slot = slot;
		n->cap = cap;
	}
	size_t i = hash_str(name) & (n->cap - 1);
	for (; n->slot[i]; i = (i + 1) & (n->cap - 1))
		if (strcmp(n->slot[i], name) == 0)
			return 0;
	n->slot[i] = strdup(name);
	if (!n->slot[i])
		return -ENOMEM;
	n->count++;
	return 0;
}

static void ns_free(struct nameset *n)
{
	for (size_t i = 0; i < n->cap; i++)
		free(n->slot[i]);
	free(n->slot);
	*n = (struct nameset){ 0 };
}

static struct udir *udir_of(struct tu_walk_dir *d)
{
	struct dnode *n = cp_slot_dn(d);
	return n ? n->pol : NULL;
}

/* ---- system calls on one entry (no name is followed) --------------------------- */

static int stx_at(int dirfd, const char *name, struct statx *x)
{
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STX_MASK, x) < 0)
		return -errno;
	return 0;
}

static int stx_fd(int fd, struct statx *x)
{
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STX_MASK, x) < 0)
		return -errno;
	return 0;
}

static bool stx_same(const struct statx *a, const struct statx *b)
{
	return a->stx_ino == b->stx_ino && a->stx_dev_major == b->stx_dev_major &&
	       a->stx_dev_minor == b->stx_dev_minor &&
	       (a->stx_mode & S_IFMT) == (b->stx_mode & S_IFMT);
}

static dev_t stx_dev(const struct statx *x)
{
	return makedev(x->stx_dev_major, x->stx_dev_minor);
}

/* Open NAME in DIRFD as what X (its statx by name) says, and check it is
   that inode: a regular file or directory readable (xattrs, flags and
   content are read through it), anything else O_PATH. The fd, or -errno
   (-EAGAIN: it changed between the two). */
static int open_entry(int dirfd, const char *name, const struct statx *x)
{
	int fd;
	if (S_ISREG(x->stx_mode))
		fd = tu_file_open_at(dirfd, name, false);
	else if (S_ISDIR(x->stx_mode))
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	else
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fd == -1 ? -errno : fd;
	struct statx now;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STX_MASK, &now) < 0 ||
	    !stx_same(&now, x)) {
		close(fd);
		return -EAGAIN;
	}
	return fd;
}

static int get_flags(int fd, unsigned long *out)
{
	int v = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &v) != 0)
		return errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL ? 0 : -errno;
	*out = (unsigned long)(unsigned)v;
	return 0;
}

/* Set the chattr flags of FD to WANT in the bits MASK (0 clears them too,
   which tu_meta_apply_fd leaves alone). */
static int put_flags(int fd, unsigned long want, unsigned long mask)
{
	unsigned long cur = 0;
	int r = get_flags(fd, &cur);
	if (r < 0)
		return r;
	int next = (int)((cur & ~mask) | (want & mask));
	if ((unsigned long)(unsigned)next == cur)
		return 0;
	return ioctl(fd, FS_IOC_SETFLAGS, &next) == 0 ? 0 : -errno;
}

/* Lift +i/+a from the regular file or directory NAME in DIRFD, if set, so
   that it can be changed, renamed over or removed. */
static int unlock_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct statx x;
	int r = stx_fd(fd, &x);
	if (r == 0 && (S_ISREG(x.stx_mode) || S_ISDIR(x.stx_mode)))
		r = put_flags(fd, 0, LOCK_FLAGS);
	close(fd);
	return r;
}

/* The xattrs of FD that SRC's metadata lacks (ACLs aside: "system."),
   removed: an update mirrors them. */
static void prune_xattrs(int fd, const struct tu_meta *src)
{
	char buf[4096];
	ssize_t n = flistxattr(fd, buf, sizeof buf);
	if (n <= 0)
		return;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		if (strncmp(p, "system.", 7) == 0)
			continue;
		bool keep = false;
		const char *name;
		const void *v;
		size_t len;
		if (src->ae && archive_entry_xattr_reset(src->ae) > 0)
			while (archive_entry_xattr_next(src->ae, &name, &v, &len) == ARCHIVE_OK)
				if (strcmp(name, p) == 0)
					keep = true;
		if (!keep)
			fremovexattr(fd, p);
	}
}

/* Directory entries of FD, one by one, to FN; it may not change FD. */
static int list_dir(int fd, void (*fn)(const char *name, unsigned char type, void *ctx),
		    void *ctx)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fn(de->d_name, de->d_type, ctx);
	closedir(dir);
	return 0;
}

/* ---- records (-i) -------------------------------------------------------------- */

/* One record: the entry at REL (below the roots), to the caller's copied(). */
static void emit(struct tu_copy *cp, const char *rel, char type, char how, unsigned changed,
		 const char *link)
{
	if (cp->o->stats)
		atomic_fetch_add(&cp->o->stats->entries, 1);
	if (!cp->o->copied)
		return;
	struct tu_item it = { .how = how, .type = type, .changed = changed, .path = rel,
			      .link = link };
	char small[512];
	char *buf = small;
	size_t len = tu_itemize_line(small, sizeof small, &it, cp->upd->rec_flags);
	if (len >= sizeof small) {
		buf = malloc(len + 1);
		if (!buf)
			return;
		tu_itemize_line(buf, len + 1, &it, cp->upd->rec_flags);
	}
	char *src = cp_join(cp->src_display, rel), *dst = cp_join(cp->dst_display, rel);
	if (src && dst) {
		struct tu_copy_item ci = { .path = rel, .src = src, .dst = dst, .type = type,
					   .how = how == TU_ITEM_DELETED ? 'd' : how == TU_ITEM_HARDLINK ? 'h' : 'c',
					   .target = link, .record = buf, .record_len = len };
		pthread_mutex_lock(&cp->out_lock);
		cp->o->copied(&ci, cp->o->ctx);
		pthread_mutex_unlock(&cp->out_lock);
	}
	free(src);
	free(dst);
	if (buf != small)
		free(buf);
}

/* What the copy engine made while update.c was asking it to (copyfile.c's
   items): caught here, said by update.c itself. */
struct capture {
	bool made;
	char type;
	char *target;
};
static _Thread_local struct capture *capturing;

static void upd_item(struct tu_copy *cp, const struct where *w, char type, char how,
		     const char *target, uint64_t size)
{
	(void)how, (void)size;
	struct capture *c = capturing;
	if (c) {
		c->made = true;
		c->type = type;
		free(c->target);
		c->target = target ? strdup(target) : NULL;
		return;
	}
	/* The engine's own: a new directory (or the DEST root). */
	if (!w->d)
		cp->upd->root_new = true;
	char *rel = cp_rel_of(cp, w);
	if (rel)
		emit(cp, rel, type, tu_itemize_how(type, TU_CHG_NEW, true, false), TU_CHG_NEW,
		     target);
	free(rel);
}

/* ---- the exclude rules ------------------------------------------------------------ */

static int add_exclude_file(struct tu_copy *cp, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		cp_refuse(cp, path, "open exclude file", err, NULL);
		return -err;
	}
	size_t line = 0;
	int r = tu_exclude_add_file(cp->excl, fd, &line);
	close(fd);
	if (r == -EINVAL) {
		char detail[96];
		snprintf(detail, sizeof detail, "line %zu: not a pattern cptree takes (cptree(1), EXCLUDE RULES)",
			 line);
		cp_refuse(cp, path, "read exclude file", EINVAL, detail);
	} else if (r < 0) {
		cp_refuse(cp, path, "read exclude file", -r, NULL);
	}
	return r;
}

static int excludes_init(struct tu_copy *cp)
{
	const struct tu_cptree_opts *o = cp->o;
	if ((!o->exclude || !o->exclude[0]) && (!o->exclude_from || !o->exclude_from[0]))
		return 0;
	int r = tu_exclude_new(&cp->excl);
	if (r < 0)
		return r;
	for (const char *const *p = o->exclude; p && *p; p++) {
		r = tu_exclude_add(cp->excl, *p);
		if (r < 0) {
			cp_refuse(cp, *p, "exclude", -r,
				  r == -EINVAL ? "not a pattern cptree takes (cptree(1), EXCLUDE RULES)"
					       : NULL);
			return r;
		}
	}
	for (const char *const *p = o->exclude_from; p && *p; p++) {
		r = add_exclude_file(cp, *p);
		if (r < 0)
			return r;
	}
	cp->excl_path = tu_exclude_needs_path(cp->excl);
	return 0;
}

/* NAME in D (a directory: IS_DIR) excluded? */
static bool excluded_name(struct tu_copy *cp, struct tu_walk_dir *d, const char *name, bool is_dir)
{
	if (!cp->excl)
		return false;
	char *rel = NULL;
	if (cp->excl_path) {
		struct where w = { d, name };
		rel = cp_rel_of(cp, &w);
		if (!rel)
			return false;
	}
	bool x = tu_exclude_match(cp->excl, rel, name, is_dir);
	free(rel);
	return x;
}

bool cp_excluded(struct tu_copy *cp, const struct tu_copy_entry *e)
{
	return excluded_name(cp, e->d, e->e->name, e->e->is_dir);
}

/* ---- content, through the hash cache ---------------------------------------------- */

static bool same_rec(const struct tu_hashrec *a, const struct tu_hashrec *b)
{
	return !memcmp(a->digest, b->digest, 16) && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->hashed_ns == b->hashed_ns &&
	       a->written_ns == b->written_ns;
}

/* May a record go on the file X? Not, as root, on one with other links
   (hashcache(1), SECURITY), nor on a locked one (it would refuse it, and
   its partner's would then differ). */
static bool may_record(const struct tu_copy *cp, const struct statx *x)
{
	if (x->stx_attributes & LOCK_ATTRS)
		return false;
	return !(cp->is_root && x->stx_nlink > 1);
}

/* A record hashed less than this after the file's mtime is "racy" as the
   hash cache reads records without a directory's granularity (hashcache.c:
   2 s): it would not be believed, so none is written. */
#define RACY_NS (2 * 1000000000LL)

static int64_t coarse_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* As tu_copy_same_content; *WROTE: a record pair was written (or, in a dry
   run, would be), which changes both files' xattrs.
 *
 * Both files are asked of the cache without storing: a record goes on
 * SOURCE only together with the same bytes on DEST, so that -a's xattrs
 * stay equal and an update with nothing to do writes nothing. */
static int same_content(struct tu_copy *cp, struct tu_hashdir *shd, int sfd,
			struct tu_hashdir *dhd, int dfd, unsigned flags, bool *wrote)
{
	bool dry = cp->o->dry_run;
	*wrote = false;
	if (!cp->hc_ro)
		return -EINVAL;
	/* The cache reads from the file offset: from the start, whatever was
	   read through these fds before (a copy). */
	if (lseek(sfd, 0, SEEK_SET) < 0 || lseek(dfd, 0, SEEK_SET) < 0)
		return -errno;
	/* Before the first byte is read: what the new record says. */
	int64_t start = coarse_now();
	struct tu_hash_info hs, hd;
	int r = tu_hashcache_get_fd(cp->hc_ro, shd, sfd, NULL, &hs);
	if (r < 0)
		return r;
	r = tu_hashcache_get_fd(cp->hc_ro, dhd, dfd, NULL, &hd);
	if (r < 0)
		return r;
	if (memcmp(hs.digest, hd.digest, sizeof hs.digest) != 0)
		return 0;
	if (flags & TU_SAME_KEEP_DST)
		return 1;
	struct tu_hashrec rs, rd;
	bool have_s = tu_xattr_get_fd(sfd, &rs) == 0;
	bool have_d = tu_xattr_get_fd(dfd, &rd) == 0;
	if (hs.status == TU_HASH_CACHED && hd.status == TU_HASH_CACHED && have_s && have_d &&
	    same_rec(&rs, &rd))
		return 1;
	struct statx xs, xd;
	if (stx_fd(sfd, &xs) < 0 || stx_fd(dfd, &xd) < 0 || !may_record(cp, &xs) ||
	    !may_record(cp, &xd))
		return 1;
	struct tu_hashrec rec = { .size = xs.stx_size,
				  .mtime_ns = (int64_t)xs.stx_mtime.tv_sec * 1000000000LL +
					      xs.stx_mtime.tv_nsec };
	memcpy(rec.digest, hs.digest, sizeof rec.digest);
	bool src_valid = hs.status == TU_HASH_CACHED && have_s &&
			 !memcmp(rs.digest, hs.digest, 16) && rs.size == rec.size &&
			 rs.mtime_ns == rec.mtime_ns;
	rec.hashed_ns = src_valid ? rs.hashed_ns : start;
	/* The granularity the cache will judge it by: the directories'
	   (hashcache.c), 2 s without them or for whole-second mtimes. */
	int64_t gran = shd && dhd ? (shd->gran_ns > dhd->gran_ns ? shd->gran_ns : dhd->gran_ns)
				  : RACY_NS;
	if (rec.mtime_ns % 1000000000LL == 0)
		gran = RACY_NS;
	if (rec.hashed_ns - rec.mtime_ns <= gran)
		return 1;	/* changed too lately to be believed: no record */
	if (dry) {
		*wrote = true;	/* what a real run would do */
		return 1;
	}
	*wrote = tu_xattr_set_pair(sfd, dfd, &rec) == 0;
	return 1;
}

int tu_copy_same_content(struct tu_copy *cp, int sfd, int dfd, unsigned flags)
{
	bool wrote;
	return same_content(cp, NULL, sfd, NULL, dfd, flags, &wrote);
}

/* A DEST file's record, before and after: "x" in -i when it changed. */
struct rec_state {
	bool have;
	struct tu_hashrec r;
};

static void rec_read(int fd, struct rec_state *st)
{
	st->have = fd >= 0 && tu_xattr_get_fd(fd, &st->r) == 0;
}

static unsigned rec_change(const struct rec_state *a, const struct rec_state *b)
{
	bool differ = a->have != b->have || (a->have && !same_rec(&a->r, &b->r));
	return differ ? TU_CHG_XATTR : 0;
}

/* A file just written to DEST as NAME in DFD from SOURCE's file SFD_FILE:
   both get one record. Returns what that changes in DEST, against OLD
   (the record of the file it replaces): TU_CHG_XATTR or 0. A dry run
   says what a real one would. */
static unsigned seal(struct tu_copy *cp, struct udir *u, int dfd, const char *name,
		     int sfd_file, const struct rec_state *old)
{
	if (!cp->o->checksum)
		return 0;
	if (cp->o->dry_run)
		return TU_CHG_XATTR;
	int fd = tu_file_open_at(dfd, name, false);
	if (fd < 0)
		return 0;
	bool wrote = false;
	(void)same_content(cp, u ? u->shd : NULL, sfd_file, u ? u->dhd : NULL, fd, 0, &wrote);
	struct rec_state now;
	rec_read(fd, &now);
	close(fd);
	return rec_change(old, &now);
}

/* ---- hard-link groups ------------------------------------------------------------- */

static size_t group_hash(dev_t dev, ino_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) ^ dev);
}

/* The group of (DEV, INO): new (*LEAD set: the caller leads it, and must
   call group_done) or the leader's, once it is done. NULL: no memory. */
static struct lgroup *group_claim(struct tu_copy *cp, dev_t dev, ino_t ino, bool *lead)
{
	struct upd *u = cp->upd;
	pthread_mutex_lock(&u->lock);
	if (u->cap == 0 || (u->count + 1) * 2 > u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		struct lgroup **tab = calloc(cap, sizeof *tab);
		if (!tab) {
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
		for (size_t i = 0; i < u->cap; i++)
			for (struct lgroup *g = u->tab[i], *nx; g; g = nx) {
				nx = g->next;
				size_t h = group_hash(g->dev, g->ino) & (cap - 1);
				g->next = tab[h];
				tab[h] = g;
			}
		free(u->tab);
		u->tab = tab;
		u->cap = cap;
	}
	size_t h = group_hash(dev, ino) & (u->cap - 1);
	struct lgroup *g;
	for (g = u->tab[h]; g; g = g->next)
		if (g->dev == dev && g->ino == ino)
			break;
	if (g) {
		while (g->busy)
			pthread_cond_wait(&u->cond, &u->lock);
		pthread_mutex_unlock(&u->lock);
		*lead = false;
		return g;
	}
	g = calloc(1, sizeof *g);
	if (g) {
		g->dev = dev;
		g->ino = ino;
		g->busy = true;
		g->next = u->tab[h];
		u->tab[h] = g;
		u->count++;
	}
	pthread_mutex_unlock(&u->lock);
	*lead = true;
	return g;
}

/* The leader is in place (or failed: OK false): NAME in DFD is what the
   group's other names must be. */
static void group_done(struct tu_copy *cp, struct lgroup *g, int dfd, const char *name,
		       const char *rel, bool ok)
{
	if (ok && !cp->o->dry_run)
		ok = tu_ident_at(dfd, name, &g->dst) == 0;
	if (ok)
		g->rel = strdup(rel);
	pthread_mutex_lock(&cp->upd->lock);
	g->ok = ok && (g->rel || cp->o->dry_run);
	g->busy = false;
	pthread_cond_broadcast(&cp->upd->cond);
	pthread_mutex_unlock(&cp->upd->lock);
}

/* Was the DEST inode (DEV, INO) seen shared by names SOURCE does not link
   (NLINK now)? Marked when first seen so; true from then on. */
static bool dest_shared(struct tu_copy *cp, dev_t dev, ino_t ino, uint64_t nlink)
{
	struct upd *u = cp->upd;
	bool found = false;
	pthread_mutex_lock(&u->lock);
	for (size_t i = u->shared_cap ? group_hash(dev, ino) & (u->shared_cap - 1) : 0;
	     u->shared_cap && u->shared[i]; i = (i + 1) & (u->shared_cap - 1))
		if (u->shared[i]->dev == dev && u->shared[i]->ino == ino) {
			found = true;
			break;
		}
	if (!found && nlink > 1 && (u->shared_count + 1) * 2 > u->shared_cap) {
		size_t cap = u->shared_cap ? u->shared_cap * 2 : 64;
		struct lgroup **t = calloc(cap, sizeof *t);
		if (t) {
			for (size_t i = 0; i < u->shared_cap; i++) {
				struct lgroup *g = u->shared[i];
				if (!g)
					continue;
				size_t j = group_hash(g->dev, g->ino) & (cap - 1);
				while (t[j])
					j = (j + 1) & (cap - 1);
				t[j] = g;
			}
			free(u->shared);
			u->shared = t;
			u->shared_cap = cap;
		}
	}
	if (!found && nlink > 1 && (u->shared_count + 1) * 2 <= u->shared_cap) {
		struct lgroup *g = calloc(1, sizeof *g);
		if (g) {
			g->dev = dev;
			g->ino = ino;
			size_t j = group_hash(dev, ino) & (u->shared_cap - 1);
			while (u->shared[j])
				j = (j + 1) & (u->shared_cap - 1);
			u->shared[j] = g;
			u->shared_count++;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return found || nlink > 1;
}

/* ---- putting a new entry in place ---------------------------------------------------- */

/* TMP in DFD, complete, takes the place of NAME, which holds OLD (its statx
   before). A directory is exchanged with it and removed only then. */
static int place(struct tu_copy *cp, const struct where *w, int dfd, const char *tmp,
		 const char *name, const struct statx *old)
{
	struct tu_ident ours, was = { .dev = stx_dev(old), .ino = old->stx_ino };
	int r = tu_ident_at(dfd, tmp, &ours);
	if (r < 0)
		return r;
	if (old->stx_attributes & LOCK_ATTRS)
		unlock_at(dfd, name);
	if (S_ISDIR(old->stx_mode)) {
		r = tu_exchange_at(dfd, tmp, name);
		if (r < 0)
			return r;
		struct tu_rmtree_opts ro;
		tu_rmtree_opts_init(&ro);
		ro.jobs = 1;
		ro.expect_id = true;
		ro.expect_dev = was.dev;
		ro.expect_ino = was.ino;
		ro.timeout = cp->o->timeout;
		r = tu_rmtree_at(dfd, tmp, &ro);
		if (r < 0 || r == TU_RMTREE_KEPT) {
			char *rel = cp_rel_of(cp, w);
			char detail[64 + TU_TMP_NAME_MAX];
			snprintf(detail, sizeof detail, "the old directory is left as '%s'", tmp);
			cp_report(cp, w, false, "remove", r < 0 ? -r : ENOTEMPTY, detail);
			free(rel);
		}
		return 0;
	}
	bool left = false;
	r = tu_replace_name(dfd, tmp, name, &ours, &was, NULL, NULL, &left);
	return r;
}

/* ---- one non-directory --------------------------------------------------------------- */

struct side {
	struct statx x;
	int fd;
	bool have;
};

/* Build SOURCE's NAME anew in DFD under DNAME (a new name), with the copy
   engine: 0 when made (C says what), else -errno (reported). */
static int build(struct tu_copy *cp, struct tu_walk_dir *d, int sfd, int dfd, const char *name,
		 const char *dname, unsigned char dtype, struct capture *c)
{
	capturing = c;
	int r = cp_copy_nondir(cp, d, sfd, dfd, name, dname, dtype);
	capturing = NULL;
	if (r == 0 && !c->made)
		r = -EIO;
	return r;
}

/* Without -a an update still keeps a file's mtime: the next update
   compares it. */
static void keep_mtime(struct tu_copy *cp, int dfd, const char *dname, const struct side *s)
{
	if (cp->o->archive || cp->o->dry_run)
		return;
	struct tu_meta m = { 0 };
	m.st.st_mode = s->x.stx_mode;
	m.st.st_atim.tv_sec = s->x.stx_mtime.tv_sec;	/* no atime asked: mtime */
	m.st.st_atim.tv_nsec = s->x.stx_mtime.tv_nsec;
	m.st.st_mtim.tv_sec = s->x.stx_mtime.tv_sec;
	m.st.st_mtim.tv_nsec = s->x.stx_mtime.tv_nsec;
	tu_meta_apply_at(dfd, dname, &m, TU_META_TIMES, NULL, NULL);
}

/* The +i/+a flags of SOURCE's file (FD) onto DNAME in DFD, after it is in
   place; a hard-link group's wait for the end of the walk (G). */
static void lock_last(struct tu_copy *cp, const struct where *w, int sfd_file, int dfd,
		      const char *dname, struct lgroup *g)
{
	unsigned long f = 0;
	if (!cp->o->archive || cp->o->dry_run || sfd_file < 0 || get_flags(sfd_file, &f) < 0)
		return;
	int fd = openat(dfd, dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		cp_report(cp, w, false, "set flags", errno, NULL);
		return;
	}
	/* The file was made in a DEST directory that already has its flags:
	   what it inherited from there (tmpfs and ext4 hand A and d down)
	   goes, unless SOURCE's file has it too. */
	int r = put_flags(fd, f, UPD_FLAGS & ~LOCK_FLAGS);
	if (r == 0 && (f & LOCK_FLAGS)) {
		if (g)
			g->relock = f & LOCK_FLAGS;
		else
			r = put_flags(fd, f, LOCK_FLAGS);
	}
	close(fd);
	if (r < 0)
		cp_report(cp, w, false, "set flags", -r, NULL);
}

/* The metadata CHANGED says differs, from S onto D. */
static int apply_meta(struct tu_copy *cp, const struct where *w, int sfd, const char *name,
		      const struct side *s, const struct side *d, unsigned changed)
{
	if (cp->o->dry_run)
		return 0;
	unsigned what = 0;
	if (changed & (TU_CHG_OWNER | TU_CHG_GROUP))
		what |= TU_META_OWNER | TU_META_MODE;	/* chown clears setuid */
	if (changed & TU_CHG_PERMS)
		what |= TU_META_MODE;
	if (changed & TU_CHG_XATTR)
		what |= TU_META_XATTR;
	if (changed & TU_CHG_ACL)
		what |= TU_META_ACL | TU_META_MODE;
	if (changed & TU_CHG_MTIME)
		what |= TU_META_TIMES;
	bool is_file = S_ISREG(s->x.stx_mode) || S_ISDIR(s->x.stx_mode);
	struct tu_meta m;
	struct stat st;
	int r = tu_stat_fd(s->fd, &st);
	if (r == 0)
		r = is_file ? tu_meta_read_fd(cp->mr, s->fd, &st, &m)
			    : tu_meta_read_at(cp->mr, sfd, name, &st, &m);
	if (r < 0) {
		cp_report(cp, w, true, "read metadata", -r, NULL);
		return r;
	}
	if (!cp->o->archive)
		what &= TU_META_TIMES;
	bool locked = is_file && (d->x.stx_attributes & LOCK_ATTRS);
	if (locked)
		put_flags(d->fd, 0, LOCK_FLAGS);
	struct cp_meta_fail_ctx mf = { cp, w };
	if ((what & TU_META_XATTR) && is_file)
		prune_xattrs(d->fd, &m);
	if (what)
		r = is_file ? tu_meta_apply_fd(d->fd, &m, what, cp_meta_fail, &mf)
			    : tu_meta_apply_held(d->fd, &m, what, cp_meta_fail, &mf);
	if (is_file && cp->o->archive && (locked || (changed & TU_CHG_FLAGS))) {
		int fr = put_flags(d->fd, m.fflags, ~0UL);
		if (fr < 0)
			cp_report(cp, w, false, "set flags", -fr, NULL);
	}
	tu_meta_free(&m);
	return r;
}

/* A new hard link to the group's DEST inode takes the place of NAME. */
static int link_to_group(struct tu_copy *cp, const struct where *w, int dfd, const char *name,
			 const struct side *d, struct lgroup *g)
{
	if (cp->o->dry_run)
		return 0;
	int fd = tu_open_beneath(cp->dst_root_fd, g->rel, O_PATH, false);
	if (fd < 0)
		return fd;
	struct tu_ident id;
	int r = tu_ident_fd(fd, &id);
	if (r == 0 && (id.dev != g->dst.dev || id.ino != g->dst.ino))
		r = -ESTALE;
	if (r == 0 && (id.immutable || id.append)) {
		/* A locked inode refuses links: unlocked, and locked again
		   after the walk. */
		int rfd = tu_open_beneath(cp->dst_root_fd, g->rel, O_RDONLY | O_NONBLOCK, false);
		unsigned long f = 0;
		if (rfd >= 0 && get_flags(rfd, &f) == 0 && put_flags(rfd, 0, LOCK_FLAGS) == 0) {
			pthread_mutex_lock(&cp->upd->lock);
			g->relock |= f & LOCK_FLAGS;
			pthread_mutex_unlock(&cp->upd->lock);
		}
		if (rfd >= 0)
			close(rfd);
	}
	char tmp[TU_TMP_NAME_MAX];
	if (r == 0)
		r = d->have ? tu_link_tmp(fd, dfd, tmp) : 0;
	if (r == 0 && !d->have) {
		static _Atomic bool no_empty_path;
		r = tu_link_held(fd, dfd, name, &no_empty_path);
	} else if (r == 0) {
		r = place(cp, w, dfd, tmp, name, &d->x);
		if (r < 0)
			tu_replace_drop_tmp(dfd, tmp, id.dev, id.ino);
	}
	close(fd);
	return r;
}

/* Changes to show for an entry made anew over D (another type: all new). */
static unsigned changes_over(const struct tu_cmp *c)
{
	return c->changed & TU_CHG_TYPE ? TU_CHG_NEW : c->changed;
}

static void upd_nondir(struct tu_copy *cp, const struct tu_copy_entry *e)
{
	const char *name = e->e->name;
	struct where w = { e->d, name };
	struct udir *ud = udir_of(e->d);
	int sfd = e->sfd, dfd = e->dfd;
	bool dry = cp->o->dry_run;
	struct side s = { .fd = -1 }, d = { .fd = -1 };
	struct capture cap = { 0 };
	char *rel = cp_rel_of(cp, &w);
	struct lgroup *g = NULL;
	bool lead = false;
	int r;
	if (!rel)
		goto fail_nomem;

	r = stx_at(sfd, name, &s.x);
	if (r == 0)
		r = open_entry(sfd, name, &s.x);
	if (r < 0) {
		cp_report(cp, &w, true, "open", -r, NULL);
		goto out;
	}
	s.fd = r;
	s.have = true;
	if (dfd >= 0) {
		r = stx_at(dfd, name, &d.x);
		if (r == 0) {
			d.have = true;
			if (!S_ISDIR(d.x.stx_mode)) {
				r = open_entry(dfd, name, &d.x);
				if (r < 0) {
					cp_report(cp, &w, false, "open", -r, NULL);
					goto out;
				}
				d.fd = r;
			}
		} else if (r != -ENOENT) {
			cp_report(cp, &w, false, "stat", -r, NULL);
			goto out;
		}
	}

	bool linked = cp->o->archive && s.x.stx_nlink > 1 && !(cp->o->dereference & TU_DEREF_HARD);
	/* Every DEST inode seen with links is remembered, before any name of
	   it is replaced: whichever name comes first. */
	bool dest_was_shared = cp->o->archive && d.have && S_ISREG(d.x.stx_mode) &&
			       dest_shared(cp, stx_dev(&d.x), d.x.stx_ino, d.x.stx_nlink);
	if (linked) {
		g = group_claim(cp, stx_dev(&s.x), s.x.stx_ino, &lead);
		if (!g)
			goto fail_nomem;
		if (!lead && g->ok) {
			/* A later name: it must be the leader's inode. */
			if (d.have && !dry && stx_dev(&d.x) == g->dst.dev && d.x.stx_ino == g->dst.ino)
				goto out;
			if (d.have && dry && S_ISREG(d.x.stx_mode) && d.x.stx_nlink > 1)
				goto out;	/* as far as a dry run can tell */
			struct tu_cmp c = { TU_CHG_NEW, true };
			if (d.have && d.fd >= 0) {
				struct tu_cmp_entry se = { s.fd, &s.x }, de = { d.fd, &d.x };
				if (tu_compare(&se, &de, cp->is_root ? TU_CMP_ARCHIVE
								       : TU_CMP_ARCHIVE & ~TU_CMP_OWNER, &c) < 0)
					c = (struct tu_cmp){ TU_CHG_NEW, true };
			} else if (d.have) {
				c.changed = TU_CHG_TYPE;
			}
			r = link_to_group(cp, &w, dfd, name, &d, g);
			if (r < 0) {
				cp_report(cp, &w, false, "link", -r, NULL);
				goto out;
			}
			if (ud)
				atomic_store(&ud->touched, true);
			emit(cp, rel, tu_itemize_type(s.x.stx_mode), TU_ITEM_HARDLINK, changes_over(&c),
			     g->rel);
			goto out;
		}
		/* A leader, or the leader failed: brought up to date alone. */
	}

	if (!d.have) {
		r = build(cp, e->d, sfd, dfd, name, name, e->e->type, &cap);
		if (r < 0)
			goto out;
		if (!dry) {
			keep_mtime(cp, dfd, name, &s);
			atomic_store(&ud->touched, true);
			if (S_ISREG(s.x.stx_mode))
				seal(cp, ud, dfd, name, s.fd, &(struct rec_state){ 0 });
			lock_last(cp, &w, S_ISREG(s.x.stx_mode) ? s.fd : -1, dfd, name,
				  lead ? g : NULL);
		}
		emit(cp, rel, cap.type, tu_itemize_how(cap.type, TU_CHG_NEW, true, false), TU_CHG_NEW,
		     cap.type == 'L' ? cap.target : NULL);
		goto done_ok;
	}

	struct tu_cmp c = { TU_CHG_TYPE, true };
	unsigned extra = 0;
	struct rec_state old = { 0 };
	if (cp->o->checksum && S_ISREG(d.x.stx_mode))
		rec_read(d.fd, &old);
	if (d.fd >= 0 && (s.x.stx_mode & S_IFMT) == (d.x.stx_mode & S_IFMT)) {
		unsigned what = cp->o->archive ? TU_CMP_ARCHIVE : 0;
		if (!cp->is_root)
			what &= ~TU_CMP_OWNER;
		bool same = false, compared = false, wrote = false;
		if (cp->o->checksum && S_ISREG(s.x.stx_mode) && s.x.stx_size == d.x.stx_size) {
			r = same_content(cp, ud->shd, s.fd, ud->dhd, d.fd, 0, &wrote);
			if (r < 0) {
				cp_report(cp, &w, r == -EAGAIN, "read", -r, NULL);
				goto out;
			}
			same = r == 1;
			compared = true;
		}
		struct tu_cmp_entry se = { s.fd, &s.x }, de = { d.fd, &d.x };
		r = tu_compare(&se, &de, what, &c);
		if (r < 0) {
			cp_report(cp, &w, false, "compare", -r, NULL);
			goto out;
		}
		if (compared)
			tu_compare_content(&c, same);
		else if (cp->o->checksum && S_ISREG(s.x.stx_mode))
			c.changed |= TU_CHG_CONTENT;	/* sizes differ: rsync -c says 'c' too */
		/* The records written on both: DEST's xattrs changed (rsync
		   sees it so), with nothing left to apply. */
		if (wrote && dry) {
			extra |= TU_CHG_XATTR;
		} else if (wrote) {
			struct rec_state now;
			rec_read(d.fd, &now);
			extra |= rec_change(&old, &now);
		}
		/* A DEST file linked where SOURCE's is not: its own inode. */
		if (dest_was_shared && !linked)
			c.data = true;
		if (!c.changed && !c.data && !extra)
			goto done_ok;
		if (!c.data) {
			if (c.changed)
				apply_meta(cp, &w, sfd, name, &s, &d, c.changed);
			char *target = NULL;
			if (S_ISLNK(s.x.stx_mode))
				tu_read_link_at(sfd, name, s.x.stx_size, &target);
			emit(cp, rel, tu_itemize_type(s.x.stx_mode), TU_ITEM_ATTRS,
			     c.changed | extra, target);
			free(target);
			goto done_ok;
		}
	}

	/* Rebuilt whole under a temporary name, then put in place. */
	char tmp[TU_TMP_NAME_MAX];
	if (dry) {
		cap.type = tu_itemize_type(s.x.stx_mode);
		if (S_ISLNK(s.x.stx_mode))
			tu_read_link_at(sfd, name, s.x.stx_size, &cap.target);
		if (S_ISREG(s.x.stx_mode))
			extra |= seal(cp, ud, dfd, name, s.fd, &old);
	} else {
		r = tu_tmp_name(tmp);
		if (r < 0) {
			cp_report(cp, &w, false, "create", -r, NULL);
			goto out;
		}
		r = build(cp, e->d, sfd, dfd, name, tmp, e->e->type, &cap);
		if (r < 0)
			goto out;
		keep_mtime(cp, dfd, tmp, &s);
		if (S_ISREG(s.x.stx_mode))
			extra |= seal(cp, ud, dfd, tmp, s.fd, &old);
		r = place(cp, &w, dfd, tmp, name, &d.x);
		if (r < 0) {
			cp_report(cp, &w, false, "replace", -r,
				  r == -ESTALE ? "changed in DEST meanwhile; left as it is" : NULL);
			struct tu_ident t;
			if (tu_ident_at(dfd, tmp, &t) == 0)
				tu_replace_drop_tmp(dfd, tmp, t.dev, t.ino);
			goto out;
		}
		atomic_store(&ud->touched, true);
		lock_last(cp, &w, S_ISREG(s.x.stx_mode) ? s.fd : -1, dfd, name, lead ? g : NULL);
	}
	{
		unsigned shown = changes_over(&c);
		if (!(shown & TU_CHG_NEW))
			shown |= extra;
		char type = cap.type ? cap.type : tu_itemize_type(s.x.stx_mode);
		emit(cp, rel, type, tu_itemize_how(type, shown, true, false), shown,
		     type == 'L' ? cap.target : NULL);
	}
done_ok:
	if (lead)
		group_done(cp, g, dfd, name, rel, true);
	lead = false;
	goto out;
fail_nomem:
	cp_report(cp, &w, false, "update", ENOMEM, NULL);
out:
	if (lead)
		group_done(cp, g, dfd, name, rel ? rel : "", false);
	if (s.fd >= 0)
		close(s.fd);
	if (d.fd >= 0)
		close(d.fd);
	free(cap.target);
	free(rel);
}

/* ---- directories -------------------------------------------------------------------- */

/* SOURCE's directory E: new (the engine makes it), there (descended into
   as it is), or another type in DEST (exchanged with a new directory). */
static enum tu_copy_decision upd_dir(struct tu_copy *cp, const struct tu_copy_entry *e)
{
	const char *name = e->e->name;
	struct where w = { e->d, name };
	struct udir *ud = udir_of(e->d);
	if (e->dfd < 0)
		return TU_COPY_NEW;
	struct statx x;
	int r = stx_at(e->dfd, name, &x);
	if (r == -ENOENT) {
		if (ud && ns_add(&ud->made, name) < 0)
			return TU_COPY_SKIP;
		if (ud)
			atomic_store(&ud->touched, true);
		return TU_COPY_NEW;
	}
	if (r < 0) {
		cp_report(cp, &w, false, "stat", -r, NULL);
		return TU_COPY_SKIP;
	}
	if (S_ISDIR(x.stx_mode))
		return TU_COPY_REPLACE;
	/* Another type: a new directory takes its place, then is filled. */
	char *rel = cp_rel_of(cp, &w);
	if (!rel || ns_add(&ud->made, name) < 0) {
		free(rel);
		cp_report(cp, &w, false, "update", ENOMEM, NULL);
		return TU_COPY_SKIP;
	}
	if (!cp->o->dry_run) {
		char tmp[TU_TMP_NAME_MAX];
		r = tu_dir_create_tmp(e->dfd, 0700, tmp);
		if (r == 0) {
			r = place(cp, &w, e->dfd, tmp, name, &x);
			if (r < 0)
				unlinkat(e->dfd, tmp, AT_REMOVEDIR);
		}
		if (r < 0) {
			cp_report(cp, &w, false, "replace", -r, NULL);
			free(rel);
			return TU_COPY_SKIP;
		}
		atomic_store(&ud->touched, true);
	}
	emit(cp, rel, 'd', TU_ITEM_LOCAL, TU_CHG_NEW, NULL);
	free(rel);
	return cp->o->dry_run ? TU_COPY_NEW : TU_COPY_REPLACE;
}

static enum tu_copy_decision upd_decide(struct tu_copy *cp, const struct tu_copy_entry *e)
{
	if (cp_excluded(cp, e))
		return TU_COPY_SKIP;
	struct udir *ud = udir_of(e->d);
	if (ud && cp->o->delete_absent && ns_add(&ud->seen, e->e->name) < 0) {
		struct where w = { e->d, e->e->name };
		cp_report(cp, &w, false, "update", ENOMEM, NULL);
		return TU_COPY_SKIP;
	}
	if (ud && tu_is_tmp_name(e->e->name))
		ns_add(&ud->seen, e->e->name);	/* SOURCE's own: not a leftover */
	if (e->e->is_dir)
		return upd_dir(cp, e);
	upd_nondir(cp, e);
	return TU_COPY_SKIP;
}

/* The DEST directory N of D is open: its own comparison, and -i's line. */
static void upd_dir_entered(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n)
{
	struct udir *u = calloc(1, sizeof *u);
	struct where w = { d, NULL };
	if (!u) {
		cp_report(cp, &w, false, "update", ENOMEM, NULL);
		return;
	}
	n->pol = u;
	if (cp->hc_ro) {
		tu_hashdir_open(cp->hc_ro, tu_walk_dir_fd(d), NULL, &u->shd);
		tu_hashdir_open(cp->hc_ro, n->dc.fd, NULL, &u->dhd);
	}
	struct tu_walk_dir *p = tu_walk_dir_parent(d);
	if (p) {
		struct udir *pu = udir_of(p);
		u->is_new = pu && ns_has(&pu->made, tu_walk_dir_name(d));
	} else {
		u->is_new = cp->upd->root_new;
	}
	if (u->is_new)
		return;
	struct statx sx, dx;
	struct tu_cmp c;
	int sfd = tu_walk_dir_fd(d);
	int r = stx_fd(sfd, &sx);
	if (r == 0)
		r = stx_fd(n->dc.fd, &dx);
	unsigned what = cp->o->archive ? TU_CMP_ARCHIVE : 0;
	if (!cp->is_root)
		what &= ~TU_CMP_OWNER;
	if (r == 0) {
		struct tu_cmp_entry se = { sfd, &sx }, de = { n->dc.fd, &dx };
		r = tu_compare(&se, &de, what, &c);
	}
	if (r < 0) {
		cp_report(cp, &w, false, "compare", -r, NULL);
		return;
	}
	u->changed = c.changed;
	if (c.changed) {
		char *rel = cp_rel_of(cp, &w);
		if (rel)
			emit(cp, rel, 'd', TU_ITEM_ATTRS, c.changed, NULL);
		free(rel);
	}
}

/* --delete, in one directory. */
struct del {
	struct tu_copy *cp;
	struct tu_walk_dir *d;
	struct udir *u;
	int dfd;
	char *dir_rel;		/* "" for the root */
};

static char *join_rel(const char *dir, const char *rel)
{
	size_t a = strlen(dir), b = strlen(rel);
	char *s = malloc(a + b + 2);
	if (!s)
		return NULL;
	memcpy(s, dir, a);
	if (a)
		s[a++] = '/';
	memcpy(s + a, rel, b + 1);
	return s;
}

/* tu_rmtree_at's may_remove: an excluded entry stays (unless
   --delete-excluded), and a locked one is unlocked to go. */
static bool del_may(const struct tu_rmtree_entry *e, void *ctx)
{
	struct del *x = ctx;
	struct tu_copy *cp = x->cp;
	if (cp->excl && !cp->o->delete_excluded) {
		char *rel = join_rel(x->dir_rel, e->rel);
		bool ex = rel && tu_exclude_match(cp->excl, rel, e->name, e->is_dir);
		free(rel);
		if (ex)
			return false;
	}
	/* A DEST inode with another name that stays, or is replaced later:
	   remembered as shared, so that name is rebuilt as its own inode
	   whichever of the two names the walk reaches first (and a dry run,
	   which removes nothing, says the same). */
	if (cp->o->archive && S_ISREG(e->mode) && e->nlink > 1)
		(void)dest_shared(cp, e->dev, e->ino, e->nlink);
	if (!cp->o->dry_run && (S_ISREG(e->mode) || S_ISDIR(e->mode))) {
		struct statx sx;
		if (stx_at(e->dirfd, e->name, &sx) == 0 && (sx.stx_attributes & LOCK_ATTRS))
			unlock_at(e->dirfd, e->name);
	}
	return true;
}

static void del_removed(const char *path, bool is_dir, void *ctx)
{
	struct del *x = ctx;
	emit(x->cp, path, is_dir ? 'd' : 'f', TU_ITEM_DELETED, 0, NULL);
}

static int del_error(const struct tu_err *e, void *ctx)
{
	struct del *x = ctx;
	cp_note_failure(x->cp, e->err);
	char *path = cp_join(x->cp->dst_display, e->path);
	cp_call_locked(x->cp, x->cp->o->error, path ? path : e->path, e->op, e->err, e->detail);
	free(path);
	return TU_CONTINUE;
}

static void del_one(const char *name, unsigned char type, void *ctx)
{
	struct del *x = ctx;
	struct tu_copy *cp = x->cp;
	if (ns_has(&x->u->seen, name))
		return;
	bool leftover = tu_is_tmp_name(name);
	if (!cp->o->delete_absent && !leftover)
		return;
	bool is_dir = type == DT_DIR;
	if (type == DT_UNKNOWN) {
		struct statx sx;
		is_dir = stx_at(x->dfd, name, &sx) == 0 && S_ISDIR(sx.stx_mode);
	}
	if (!leftover) {
		if (!cp->o->delete_excluded && excluded_name(cp, x->d, name, is_dir))
			return;
		/* Another type in SOURCE, under this name: dealt with. */
		struct stat st;
		if (tu_stat_at(tu_walk_dir_fd(x->d), name, &st, false) == 0 &&
		    !excluded_name(cp, x->d, name, S_ISDIR(st.st_mode)))
			return;
	}
	if (leftover && cp->o->dry_run)
		return;
	struct tu_rmtree_opts ro;
	tu_rmtree_opts_init(&ro);
	ro.jobs = 1;
	ro.timeout = cp->o->timeout;
	ro.dry_run = cp->o->dry_run;
	ro.may_remove = del_may;
	ro.removed = leftover ? NULL : del_removed;
	ro.error = del_error;
	ro.ctx = x;
	char *disp = join_rel(x->dir_rel, name);
	ro.display = disp;
	tu_rmtree_at(x->dfd, name, &ro);
	free(disp);
	atomic_store(&x->u->touched, true);
}

static void upd_entries_done(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n)
{
	struct udir *u = n->pol;
	if (!u)
		return;
	struct where w = { d, NULL };
	char *rel = cp_rel_of(cp, &w);
	if (!rel)
		return;
	struct del x = { cp, d, u, n->dc.fd, strcmp(rel, ".") ? rel : (char *)"" };
	int r = list_dir(n->dc.fd, del_one, &x);
	if (r < 0)
		cp_report(cp, &w, false, "read directory", -r, NULL);
	free(rel);
	ns_free(&u->seen);
	tu_hashdir_close(u->shd);
	tu_hashdir_close(u->dhd);
	u->shd = u->dhd = NULL;
}

/* D's metadata, once its contents are in place: what differed, and its
   times again where its entries changed. */
static void upd_dir_finish(struct tu_copy *cp, struct tu_walk_dir *d, struct dnode *n, int fd)
{
	struct udir *u = n->pol;
	struct where w = { d, NULL };
	if (!u || cp->o->dry_run || !n->have_meta)
		goto out;
	struct cp_meta_fail_ctx mf = { cp, &w };
	if (u->is_new) {
		if (cp->o->archive) {
			tu_meta_apply_fd(fd, &n->meta, TU_META_ALL, cp_meta_fail, &mf);
			/* Made in a DEST directory that has its flags already:
			   what it inherited (A, d) goes unless SOURCE's has it. */
			int r = put_flags(fd, n->meta.fflags, UPD_FLAGS);
			if (r < 0)
				cp_report(cp, &w, false, "set flags", -r, NULL);
		} else {
			mode_t mode;
			int r = tu_meta_new_mode(fd, n->meta.st.st_mode, cp->umask, &mode);
			if (r == 0)
				r = tu_chmod_fd(fd, mode);
			if (r < 0)
				cp_report(cp, &w, false, "set mode", -r, NULL);
			tu_meta_apply_fd(fd, &n->meta, TU_META_TIMES, cp_meta_fail, &mf);
		}
		goto out;
	}
	unsigned changed = u->changed;
	if (atomic_load(&u->touched))
		changed |= TU_CHG_MTIME;
	if (!changed)
		goto out;
	struct side s = { .fd = tu_walk_dir_fd(d) }, dd = { .fd = fd };
	if (stx_fd(s.fd, &s.x) < 0 || stx_fd(fd, &dd.x) < 0)
		goto out;
	s.have = dd.have = true;
	apply_meta(cp, &w, -1, NULL, &s, &dd, changed);
out:
	if (u) {
		ns_free(&u->seen);
		ns_free(&u->made);
		free(u);
		n->pol = NULL;
	}
}

/* After the walk: the flags of hard-link groups, which refuse links. */
static void relock_groups(struct tu_copy *cp)
{
	struct upd *u = cp->upd;
	for (size_t i = 0; i < u->cap; i++)
		for (struct lgroup *g = u->tab[i]; g; g = g->next) {
			if (!g->relock || !g->rel || cp->dst_root_fd < 0)
				continue;
			int fd = tu_open_beneath(cp->dst_root_fd, g->rel, O_RDONLY | O_NONBLOCK, false);
			struct tu_ident id;
			if (fd >= 0 && tu_ident_fd(fd, &id) == 0 && id.dev == g->dst.dev &&
			    id.ino == g->dst.ino)
				put_flags(fd, g->relock, LOCK_FLAGS);
			if (fd >= 0)
				close(fd);
		}
}

static void upd_walk_done(struct tu_copy *cp)
{
	if (cp->upd && !cp->o->dry_run)
		relock_groups(cp);
}

const struct tu_copy_policy tu_copy_update = {
	.name = "update",
	.decide = upd_decide,
	.existing_dest = true,
	.own_links = true,
	.dir_entered = upd_dir_entered,
	.entries_done = upd_entries_done,
	.dir_finish = upd_dir_finish,
	.item = upd_item,
	.walk_done = upd_walk_done,
};

/* ---- set up and release -------------------------------------------------------------- */

int cp_policy_init(struct tu_copy *cp)
{
	int r = excludes_init(cp);
	if (r < 0 || !cp->o->update)
		return r;
	cp->upd = calloc(1, sizeof *cp->upd);
	if (!cp->upd)
		return -ENOMEM;
	pthread_mutex_init(&cp->upd->lock, NULL);
	pthread_cond_init(&cp->upd->cond, NULL);
	if (cp->o->itemize & TU_CPTREE_ITEMIZE_NUL)
		cp->upd->rec_flags |= TU_ITEMIZE_NUL;
	if (cp->o->itemize & TU_CPTREE_ITEMIZE_UTF8)
		cp->upd->rec_flags |= TU_ITEMIZE_UTF8;
	if (cp->o->checksum) {
		struct tu_hashcache_opts ho;
		tu_hashcache_opts_init(&ho);
		ho.store = TU_STORE_XATTR;
		ho.no_store = true;	/* records go on in pairs (same_content) */
		r = tu_hashcache_open(&cp->hc_ro, &ho);
	}
	return r;
}

void cp_policy_free(struct tu_copy *cp)
{
	tu_exclude_free(cp->excl);
	cp->excl = NULL;
	if (cp->hc)
		tu_hashcache_close(cp->hc);
	if (cp->hc_ro)
		tu_hashcache_close(cp->hc_ro);
	cp->hc = cp->hc_ro = NULL;
	struct upd *u = cp->upd;
	if (!u)
		return;
	for (size_t i = 0; i < u->cap; i++)
		for (struct lgroup *g = u->tab[i], *nx; g; g = nx) {
			nx = g->next;
			free(g->rel);
			free(g);
		}
	free(u->tab);
	for (size_t i = 0; i < u->shared_cap; i++)
		free(u->shared[i]);
	free(u->shared);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
	cp->upd = NULL;
}
