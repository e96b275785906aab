/* SPDX-License-Identifier: Apache-2.0 */
/* treeutils.h: the public API of libtreeutils, the whole of what a tool may use.
 *
 * The library never prints and never exits. Problems with single entries of
 * a tree go to the caller's error callback, which answers TU_CONTINUE or
 * TU_STOP; the front end turns them into messages.
 *
 * One return convention for every tu_<tool>() entry point (tu_rmtree,
 * tu_rmtree_at, tu_cptree, tu_mvtree, tu_dedup, tu_hashcache_tree, the link
 * listings):
 *	0		all was done;
 *	TU_PARTIAL	some entries failed, each already reported (also when
 *			the error callback answered TU_STOP: the run stopped
 *			there);
 *	-errno		nothing could start (reported too, where an error
 *			callback was given).
 * tu_rmtree and tu_rmtree_at also return TU_RMTREE_KEPT: all went but what
 * may_remove kept, which is no failure. The front end maps these to exit
 * status 0, 1 and 2 (tools/common: tu_exit_status).
 *
 * Typical use (what tools/rmtree/rmtree.c does):
 *
 *	static int on_error(const struct tu_err *e, void *ctx)
 *	{
 *		report(e);		// quote e->path, print strerror(e->err)
 *		return TU_CONTINUE;
 *	}
 *
 *	struct tu_rmtree_opts o;
 *	tu_rmtree_opts_init(&o);
 *	o.error = on_error;
 *	int r = tu_rmtree("some/dir", &o);	// 0 when all of it is gone
 */
#ifndef TREEUTILS_H
#define TREEUTILS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TU_API marks what libtreeutils exports: the library is built with
   -fvisibility=hidden and a version script (lib/treeutils.map), so a
   function declared here without TU_API is missing from the shared library,
   and nothing that is not declared here is in it. */
#ifdef __GNUC__
#define TU_API __attribute__((visibility("default")))
#else
#define TU_API
#endif

/* TU_ATOMIC(uint64_t) is a counter the library adds to from its threads
   while the caller reads it. C++ has no _Atomic: there it is the same bytes
   (same size and alignment as _Atomic uint64_t), to be read with
   __atomic_load_n(&x, __ATOMIC_RELAXED) or std::atomic_ref. Use
   TU_ATOMIC, never _Atomic, in this header. */
#ifdef __cplusplus
#define TU_ATOMIC(T) alignas(sizeof(T)) T
#else
#define TU_ATOMIC(T) _Atomic T
#endif

#define TU_CONTINUE 0
#define TU_STOP     1

/* Returned by a tu_<tool>() entry point when some entries failed, each
   already reported (see the convention above). */
#define TU_PARTIAL  2

/* One problem with one entry. Every string is valid only during the call. */
struct tu_err {
	const char *op;		/* what failed: "remove", "open", "read", ... */
	int err;		/* errno value */
	const char *path;	/* where: the argument as given, joined with the
				   entry's path below it ("" never appears) */
	const char *detail;	/* extra words, e.g. "immutable" or "left at
				   'x/.rmtree-…'"; NULL when there are none */
};

typedef int tu_error_fn(const struct tu_err *e, void *ctx);
/* An entry was dealt with (removed, or would be with dry_run). PATH as in
   struct tu_err. Called from worker threads, never two at once. */
typedef void tu_entry_fn(const char *path, bool is_dir, void *ctx);

/* Counters a front end may read at any time from another thread (for
   --progress); the library only adds to them. */
struct tu_stats {
	TU_ATOMIC(uint64_t) entries;
	TU_ATOMIC(uint64_t) bytes;
	TU_ATOMIC(uint64_t) errors;
};

/* ---- random names -------------------------------------------------------- */

/* Fill OUT with NHEX lowercase hex digits from getrandom(2) and a NUL.
   OUT must hold NHEX + 1 bytes. Returns 0 or -errno. */
TU_API int tu_random_hex(char *out, size_t nhex);

/* Prefix of every temporary or hidden name the tools make. Names that start
   with it and carry TU_TMP_HEX hex digits after it are ours. */
#define TU_TMP_PREFIX ".tu-"
#define TU_TMP_HEX    32
/* True if NAME is one of our temporary names. */
TU_API bool tu_is_tmp_name(const char *name);

/* ---- names ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence that starts at S (1 to 4 bytes), or 0
   if it is not valid UTF-8 (overlong, surrogate, past U+10FFFF, cut short).
   Used to escape names in messages and in the hash cache's sidecar. */
TU_API size_t tu_utf8_len(const unsigned char *s);

/* ---- rmtree --------------------------------------------------------------- */

/* An entry about to be removed, as shown to may_remove(). Strings and the
   fd are valid only during the call; never close DIRFD. */
struct tu_rmtree_entry {
	const char *path;	/* for messages, as in struct tu_err */
	const char *rel;	/* from the directory given to tu_rmtree_at (or
				   PATH's parent): "NAME", "NAME/a/b" */
	int dirfd;		/* the held directory it lies in */
	const char *name;	/* its name in DIRFD */
	bool is_dir;
	dev_t dev;
	ino_t ino;
	mode_t mode;		/* type and permission bits */
	uid_t uid;
	uint64_t nlink;
	uint64_t size;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
};

/* Answer true to let the entry go, false to keep it. A directory is asked
   once, when it is reached and before anything in it is removed: false
   keeps it and everything below it (nothing in it is entered); true goes
   on into it, asking for each entry, and removes it only if all of them
   went. Every directory that holds a kept entry is kept too. Called from
   worker threads, never two at once. */
typedef bool tu_rmtree_pred_fn(const struct tu_rmtree_entry *e, void *ctx);

struct tu_rmtree_opts {
	double timeout;		/* seconds to retry transient failures and to
				   keep deleting entries that appear; default
				   TU_RMTREE_TIMEOUT */
	int jobs;		/* worker threads; 0 = online CPUs */
	bool hide;		/* rename DIR to a hidden name first */
	bool all_or_nothing;	/* check everything can go before removing */
	bool cross_mounts;	/* enter other mounts (bind mounts too) and
				   empty them; by default a mount point is
				   left alone, reported, and so are the
				   directories above it */
	bool preserve_root_all;	/* also refuse a DIR that is a mount point
				   ("/", ".", ".." and "" are always refused) */
	bool dry_run;		/* report what would go, change nothing; what
				   the same permission checks as
				   all_or_nothing say cannot go is reported
				   as an error instead */
	bool force;		/* a missing DIR is no error */
	/* tu_rmtree_at only: remove NAME only if it is still the entry with
	   this identity (a caller removing what it made); otherwise nothing is
	   removed and the call returns -ESTALE (reported). */
	bool expect_id;
	dev_t expect_dev;
	ino_t expect_ino;
	/* tu_rmtree_at only: how NAME is shown in messages; NULL = NAME. */
	const char *display;
	tu_rmtree_pred_fn *may_remove;	/* NULL = everything may go */
	tu_error_fn *error;	/* per-entry problems; NULL = ignore */
	tu_entry_fn *removed;	/* each entry removed; NULL = not wanted */
	tu_entry_fn *kept;	/* each entry kept because may_remove said
				   so, and each directory kept because it
				   holds one (after its contents); NULL = not
				   wanted */
	struct tu_stats *stats;	/* NULL = not wanted */
	void *ctx;		/* passed to the callbacks */
};

#define TU_RMTREE_TIMEOUT 10.0
/* Returned when all went but what may_remove kept (and the directories that
   hold it): not a failure. */
#define TU_RMTREE_KEPT 1

TU_API void tu_rmtree_opts_init(struct tu_rmtree_opts *o);

/* Remove PATH and everything below it. A symlink is removed as a link, never
   followed. Returns 0 when PATH is gone (or, with force, was never there),
   TU_RMTREE_KEPT when only entries may_remove kept (and their directories)
   remain, TU_PARTIAL when some entries could not be removed (each was
   reported; also when the error callback answered TU_STOP), -errno when
   nothing could be done (also reported: PATH itself could not be reached,
   opened or removed, or was refused), and with all_or_nothing -ECANCELED
   when blockers were found and nothing was removed. */
TU_API int tu_rmtree(const char *path, const struct tu_rmtree_opts *o);

/* As tu_rmtree, for the entry NAME (one component: no '/', not "." or "..")
   of the directory held by DIRFD, which is never changed (its mode stays).
   The same engine: held fds, no symlink followed, retries, rename-aside
   into NAME. With expect_id, NAME must still be that (dev, ino). */
TU_API int tu_rmtree_at(int dirfd, const char *name, const struct tu_rmtree_opts *o);

/* ---- hashcache ------------------------------------------------------------ */

/* SpookyHash V2 digests of regular files, cached per file in the xattr
 * user.spookyhash or per directory in a .spookyhashes sidecar (design.md
 * section 5; formats in hashcache(1)). A record is trusted only while the
 * file's size and mtime (in the sidecar also ctime and inode) still match,
 * and only if the file's mtime was safely older than the moment it was
 * hashed (the "racy" rule: see hashcache.c).
 *
 * Two ways in:
 *  - tu_hashcache_tree(): a file or a whole tree, as the hashcache tool does;
 *  - tu_hashcache_open() + tu_hashdir_open() + tu_hashcache_get_fd(): "the
 *    hash of this open file, from its record if valid, else read it, and
 *    store it", for dedup and cptree;
 *  - tu_hashcache_get_at(): "the cached hash of this name, if a valid
 *    record holds one", without opening the file (dedup's first look).
 *
 *	struct tu_hashcache_opts o;
 *	tu_hashcache_opts_init(&o);
 *	struct tu_hashcache *hc;
 *	if (tu_hashcache_open(&hc, &o) == 0) {
 *		struct tu_hashdir *hd;		// optional: the sidecar of dirfd
 *		tu_hashdir_open(hc, dirfd, "some/dir", &hd);
 *		struct tu_hash_info h;
 *		if (tu_hashcache_get_fd(hc, hd, fd, name, &h) == 0)
 *			use(h.digest);		// h.status: TU_HASH_CACHED or _HASHED
 *		tu_hashdir_close(hd);		// writes the sidecar if it changed
 *		tu_hashcache_close(hc);
 *	}
 */

enum tu_hashcache_mode {
	TU_HASHCACHE_UPDATE = 0,	/* give every file a valid record; read
					   only files without one */
	TU_HASHCACHE_CHECK,		/* read every file, compare with its record */
	TU_HASHCACHE_SHOW,		/* report records; read and write nothing */
	TU_HASHCACHE_CLEAR,		/* remove our records */
};

enum tu_hashcache_store {
	TU_STORE_AUTO = 0,	/* xattr; the sidecar where xattrs are refused */
	TU_STORE_XATTR,		/* the xattr only */
	TU_STORE_FILE,		/* the .spookyhashes sidecar only */
};

/* What became of one regular file. */
enum tu_hash_status {
	TU_HASH_CACHED = 0,	/* update: a valid record answered; no data read */
	TU_HASH_HASHED,		/* update: read and hashed (no record, stale, racy) */
	TU_HASH_OK,		/* check: the content matches the record */
	TU_HASH_NEW,		/* check: there was no record */
	TU_HASH_CHANGED,	/* check: the record is outdated (size or mtime, in
				   the sidecar ctime or inode, moved; or it was
				   racy); now updated */
	TU_HASH_CORRUPT,	/* check: size and mtime unchanged, content differs;
				   the record is kept unless fix */
	TU_HASH_SHOWN,		/* show: a valid record */
	TU_HASH_MISSING,	/* show: no valid record (none, stale or racy) */
	TU_HASH_CLEARED,	/* clear: a record was removed */
	TU_HASH_NONE,		/* clear: there was none */
	TU_HASH_NSTATUS
};

struct tu_hash_info {
	enum tu_hash_status status;
	bool have_digest;	/* digest and hex are set */
	unsigned char digest[16];	/* hash1 LE then hash2 LE */
	char hex[33];		/* 32 lowercase hex digits, or "" */
	bool stored;		/* a record was written (sidecar: will be, when its
				   directory is closed) */
	uint64_t size;
};

/* One regular file dealt with. PATH as in struct tu_err. Called from worker
   threads, never two at once. */
typedef void tu_hash_fn(const char *path, const struct tu_hash_info *h, void *ctx);

/* Counters a front end may read at any time; the library only adds to them. */
struct tu_hashcache_counts {
	TU_ATOMIC(uint64_t) files;		/* regular files dealt with */
	TU_ATOMIC(uint64_t) cached;	/* answered by a valid record */
	TU_ATOMIC(uint64_t) hashed;	/* files whose data was read */
	TU_ATOMIC(uint64_t) bytes_read;	/* bytes of file data read */
	TU_ATOMIC(uint64_t) stored;	/* records written */
	TU_ATOMIC(uint64_t) not_stored;	/* records that could not be written */
	TU_ATOMIC(uint64_t) skipped;	/* symlinks, special files (never opened) */
	TU_ATOMIC(uint64_t) status[TU_HASH_NSTATUS];
};

struct tu_hashcache_opts {
	enum tu_hashcache_mode mode;
	enum tu_hashcache_store store;
	bool no_store;		/* use records, write and remove none */
	bool fix;		/* check: replace a CORRUPT record */
	int jobs;		/* worker threads; 0 = online CPUs */
	bool one_file_system;	/* never enter another mount */
	tu_error_fn *error;	/* failures with an entry (the front end exits 1) */
	tu_error_fn *warning;	/* work left undone that is no failure: records
				   not stored on a read-only mount or in a
				   directory we may not write, bad records
				   ignored; NULL = ignore */
	tu_hash_fn *file;	/* each regular file; NULL = not wanted */
	struct tu_stats *stats;	/* entries = files, bytes = bytes read */
	struct tu_hashcache_counts *counts;
	void *ctx;		/* passed to the callbacks */
};

TU_API void tu_hashcache_opts_init(struct tu_hashcache_opts *o);

/* Deal with PATH, a regular file or a directory walked recursively, as
   O->mode says. Symlinks inside the tree are never followed and special
   files never opened; a symlink PATH is followed only when written with a
   trailing slash. Returns 0 when every file was dealt with, TU_PARTIAL when
   some failed (every failure is reported to O->error; also when O->error
   answered TU_STOP), or -errno when nothing could start (PATH could not be
   opened, reported). Warnings do not count as failures. */
TU_API int tu_hashcache_tree(const char *path, const struct tu_hashcache_opts *o);

/* A cache session for single files; safe to share between threads. O is
   copied. 0 or -errno. */
struct tu_hashcache;
TU_API int tu_hashcache_open(struct tu_hashcache **hc, const struct tu_hashcache_opts *o);
TU_API void tu_hashcache_close(struct tu_hashcache *hc);

/* The sidecar state of one directory, held by DIRFD (not closed, and kept
   open by the caller until tu_hashdir_close). DISPLAY prefixes names in
   messages (NULL: names alone). Loaded on first use. One thread at a time. */
struct tu_hashdir;
TU_API int tu_hashdir_open(struct tu_hashcache *hc, int dirfd, const char *display,
		    struct tu_hashdir **hd);
/* Write the sidecar if it changed (unless no_store), report records that
   could not be stored, and free HD. 0 or -errno. */
TU_API int tu_hashdir_close(struct tu_hashdir *hd);

/* The hash of the regular file open for reading as FD, named NAME in HD's
   directory (HD and NAME may be NULL: then only the xattr is used). As the
   session's mode says: update (record if valid, else read and store),
   check (always read and compare), show (record only). Open FD with
   O_NOATIME where you may: reading through it is ours, opening is yours.
   Returns 0, -EAGAIN if the file changed while it was read (nothing
   stored), -EINVAL if FD is not a regular file, or another -errno. */
TU_API int tu_hashcache_get_fd(struct tu_hashcache *hc, struct tu_hashdir *hd, int fd,
			const char *name, struct tu_hash_info *out);

/* The digest of what PATH holds (NULL: standard input), read to its end
   with no record looked at or stored, for checking md5sum-style lists
   (hashcache -c). PATH is opened as md5sum does, following symlinks; a
   pipe or terminal is read as it comes. 0 (OUT->status TU_HASH_HASHED) or
   -errno. */
TU_API int tu_hashcache_digest_path(struct tu_hashcache *hc, const char *path,
			     struct tu_hash_info *out);

/* What the caller's own statx said of a file, for tu_hashcache_get_at().
   INO matters only with a sidecar (HD given); CTIME_NS with both stores
   (an xattr record is outdated by a ctime later than its writing); UID
   decides whether a sidecar record is trusted, and whether the fallback
   open below may use O_NOATIME. */
struct tu_hash_state {
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
	uid_t uid;
};

/* The cached hash of NAME in DIRFD (HD, if not NULL, must be DIRFD's), a
   regular file the caller found in state ST, without opening it and
   without reading data, whatever the session's mode: the record (xattr, by
   getxattrat(2); the sidecar with HD) is trusted by the same rules as in
   tu_hashcache_get_fd(), checked against ST. Only on a kernel without
   getxattrat is the file opened, for its xattr, and then it must still be
   the inode of ST. Returns 0 (OUT->status TU_HASH_CACHED; counted as a
   cached file), -ENODATA when there is no valid record (none, stale, racy,
   unreadable; OUT->status TU_HASH_MISSING; nothing counted), or -errno
   from that fallback open. */
TU_API int tu_hashcache_get_at(struct tu_hashcache *hc, struct tu_hashdir *hd, int dirfd,
			const char *name, const struct tu_hash_state *st,
			struct tu_hash_info *out);

/* ---- dedup ------------------------------------------------------------------ */

/* Find regular files under some directories whose content and extended
 * attributes (all but our own user.spookyhash) are identical, and replace
 * them with hard links to one kept file, or share their extents with
 * FIDEDUPERANGE. dedup(1) has the rules; lib/dedup.c the pipeline:
 *
 *	struct tu_dedup_opts o;
 *	tu_dedup_opts_init(&o);
 *	o.error = on_error;
 *	const char *dirs[] = { "a", "b" };
 *	int r = tu_dedup(dirs, 2, &o);	// 0 when every entry was dealt with
 */

enum tu_dedup_keep {
	TU_KEEP_MOST_LINKED = 0,	/* default: most links; ties: oldest, then first */
	TU_KEEP_OLDEST,			/* oldest mtime; ties: first */
	TU_KEEP_NEWEST,			/* newest mtime; ties: first */
	TU_KEEP_FIRST,			/* the first DIR given, then the path first in
					   byte order */
};

enum tu_dedup_reflink {
	TU_DEDUP_HARDLINK = 0,	/* hard links */
	TU_DEDUP_REFLINK,	/* FIDEDUPERANGE only; a filesystem without it is
				   reported (once) */
	TU_DEDUP_REFLINK_AUTO,	/* FIDEDUPERANGE, else hard links (warned once) */
};

/* One duplicate name dealt with (or, with dry_run, that would be). */
struct tu_dedup_action {
	const char *path;	/* the duplicate */
	const char *kept;	/* the file whose data it now shares */
	uint64_t size;
	bool reflink;		/* extents shared; names and inodes unchanged */
	bool freed;		/* its inode lost its last link: size bytes freed */
	bool leftover;		/* PATH was one of our temporary names left by a
				   crash, removed (KEPT: its other name) */
};
typedef void tu_dedup_action_fn(const struct tu_dedup_action *a, void *ctx);
/* A group of identical files: every path of every inode, the kept file's
   first; SIZE bytes each; DIGEST their SpookyHash V2 (16 bytes, as the hash
   cache records it), or NULL where the run did not need it. Called from
   worker threads, never two at once. */
typedef void tu_dedup_group_fn(const char *const *paths, size_t n, uint64_t size,
			       const unsigned char *digest, void *ctx);

/* Counters; the library only adds to them. */
struct tu_dedup_counts {
	TU_ATOMIC(uint64_t) files;		/* regular files within the size limits */
	TU_ATOMIC(uint64_t) git_dirs;	/* .git directories left out */
	TU_ATOMIC(uint64_t) groups;	/* groups of identical files found */
	TU_ATOMIC(uint64_t) linked;	/* names replaced by a hard link */
	TU_ATOMIC(uint64_t) reflinked;	/* files whose extents were shared */
	TU_ATOMIC(uint64_t) bytes_freed;	/* sizes of inodes whose last link went */
	TU_ATOMIC(uint64_t) bytes_shared;	/* bytes FIDEDUPERANGE shared */
	TU_ATOMIC(uint64_t) prefixes;	/* files whose first block was read */
	TU_ATOMIC(uint64_t) hashed;	/* files read whole to hash them */
	TU_ATOMIC(uint64_t) cached;	/* hashes answered by the hash cache */
	TU_ATOMIC(uint64_t) compared;	/* byte comparisons made */
	TU_ATOMIC(uint64_t) changed;	/* files skipped: changed during the run */
	TU_ATOMIC(uint64_t) leftovers;	/* our temporary names removed */
};

struct tu_dedup_opts {
	enum tu_dedup_keep keep;
	enum tu_dedup_reflink reflink;
	uint64_t min_size;	/* smaller files are left out; default 1 */
	uint64_t max_size;	/* larger files are left out; default UINT64_MAX */
	bool ignore_owner;	/* owner and group need not match */
	bool ignore_mode;	/* permission bits need not match */
	bool ignore_time;	/* mtime need not match */
	bool trust_hash;	/* no byte comparison before linking */
	bool dry_run;		/* change nothing, not even ctime (no hash
				   records stored, no leftovers removed) */
	bool one_file_system;	/* do not enter other mounts below a DIR */
	const char *const *exclude;	/* fnmatch(3) patterns: an entry below a
					   DIR whose name matches one is left out
					   (a directory is not entered) */
	size_t nexclude;
	bool include_git;	/* enter directories named .git (default: left
				   out and counted: linking git's own files can
				   corrupt a repository) */
	enum tu_hashcache_store store;	/* where hash records are stored, as
					   hashcache's; read from both (auto),
					   or that one place */
	int jobs;		/* worker threads; 0 = online CPUs */
	tu_error_fn *error;	/* per-entry failures (the front end exits 1) */
	tu_error_fn *warning;	/* no failure: reflink fallback, files that
				   changed during the run; NULL = ignore */
	tu_dedup_group_fn *group;	/* each group; NULL = not wanted */
	tu_dedup_action_fn *action;	/* each name dealt with; NULL = not wanted */
	struct tu_stats *stats;	/* entries = files seen, bytes = bytes read */
	struct tu_dedup_counts *counts;
	void *ctx;
};

TU_API void tu_dedup_opts_init(struct tu_dedup_opts *o);

/* Deduplicate the regular files under DIRS[0..NDIRS). Returns 0 when every
   entry was dealt with, TU_PARTIAL when some failed (each reported to
   O->error; also when O->error answered TU_STOP), or -errno when nothing
   could start: no DIR could be opened (each reported), NDIRS is 0
   (-EINVAL), or the hash cache could not be opened. */
TU_API int tu_dedup(const char *const *dirs, size_t ndirs, const struct tu_dedup_opts *o);

/* ---- links ------------------------------------------------------------------ */

/* Hard-link groups in trees: every inode with more than one link whose
 * names lie under the DIRs, and how many of its links lie elsewhere.
 * Symlinks are never followed; directories are never grouped. */

/* One inode: its NLINK, and the N paths of it found under the DIRs. NLINK - N
   links lie outside them. Called once per inode, never two at once. */
typedef void tu_links_group_fn(const char *const *paths, size_t n, uint64_t nlink, void *ctx);

struct tu_links_opts {
	int jobs;		/* worker threads; 0 = online CPUs */
	bool one_file_system;	/* do not enter other mounts */
	tu_error_fn *error;
	tu_links_group_fn *group;
	struct tu_stats *stats;	/* entries = entries seen */
	void *ctx;
};

TU_API void tu_links_opts_init(struct tu_links_opts *o);

/* Every inode under DIRS with nlink > 1, grouped, in (device, inode) order.
   0, TU_PARTIAL when some entries failed (each reported; also when O->error
   answered TU_STOP, and then no group is handed over), or -errno when
   nothing could start (no DIR could be opened, reported; -EINVAL for no
   DIR). */
TU_API int tu_links(const char *const *dirs, size_t ndirs, const struct tu_links_opts *o);

/* Every path under DIRS that is FILE (FILE itself not followed if it is a
   symlink): one call of O->group (none if FILE is not a non-directory we can
   stat; that is reported). 0, TU_PARTIAL or -errno, as tu_links; -errno
   also when FILE cannot be stat'd or is a directory. */
TU_API int tu_paths_of(const char *file, const char *const *dirs, size_t ndirs,
		const struct tu_links_opts *o);

/* ---- cptree ------------------------------------------------------------------ */

/* Copy the tree SOURCE to DEST (DEST names the copy itself). Plain copy is
 * like `cp -r`; with archive, everything is kept (cptree(1) lists it). Every
 * file is written under a temporary name (or O_TMPFILE) and linked into place
 * when complete, so no partial file ever carries a final name.
 *
 *	struct tu_cptree_opts o;
 *	tu_cptree_opts_init(&o);
 *	o.archive = true;
 *	o.error = on_error;
 *	int r = tu_cptree("src", "dst", &o);	// 0: all copied
 */

enum tu_reflink {
	TU_REFLINK_AUTO = 0,	/* FICLONE where the filesystem can; else copy */
	TU_REFLINK_ALWAYS,	/* FICLONE or fail the file */
	TU_REFLINK_NEVER,	/* always copy the bytes */
};

enum tu_cptree_link {
	TU_CPLINK_NONE = 0,	/* copy the files */
	TU_CPLINK_HARD,		/* hard-link each non-directory (cp -al) */
	TU_CPLINK_SYMBOLIC,	/* a symlink to each source non-directory (cp -rs);
				   relative unless absolute_links */
};

/* One entry created (or, with dry_run, that would be). Strings are valid only
   during the call. */
struct tu_copy_item {
	const char *path;	/* below DEST: "." for DEST itself */
	const char *src;	/* SOURCE as given joined with path */
	const char *dst;	/* DEST as given joined with path */
	char type;		/* 'f' file, 'd' directory, 'L' symlink, 'D' device,
				   'S' FIFO or socket */
	char how;		/* 'c' created, 'h' hard link to an earlier entry,
				   'l' linked to the source (link modes),
				   'r' a symlink rewritten to point into DEST
				   (fix_symlinks), 'b' shared with a
				   clone_from BASE (a reflink or a hard link) */
	const char *target;	/* symlink target, or the path (below DEST) of
				   the earlier hard link; else NULL */
	const char *old_target;	/* how 'r': the source link's target */
	uint64_t size;		/* bytes of file data */
	/* The rsync -i record (code, name, its end), as the library formats
	   it for an update (tu_cptree_opts.itemize); NULL otherwise. It may
	   hold NUL bytes: RECORD_LEN says how long it is. */
	const char *record;
	size_t record_len;
};
typedef void tu_copy_fn(const struct tu_copy_item *it, void *ctx);

/* What to dereference (bits). */
enum tu_deref {
	TU_DEREF_SYMBOLIC = 1u << 0,	/* copy what symlinks point to (-L) */
	TU_DEREF_HARD     = 1u << 1,	/* break hard links into separate copies */
};

struct tu_cptree_opts {
	bool archive;		/* -a: owner, mode, times, xattrs, ACLs, flags,
				   hard links, specials */
	bool atomic;		/* build under a hidden name, rename to DEST */
	bool dry_run;		/* report what would be copied; write nothing */
	bool one_file_system;	/* mount points are copied as empty directories */
	enum tu_reflink reflink;
	enum tu_cptree_link link;
	bool absolute_links;	/* TU_CPLINK_SYMBOLIC: absolute targets */
	bool fix_symlinks;	/* rewrite symlinks into SOURCE to point into
				   DEST (copied symlinks; not with link or
				   TU_DEREF_SYMBOLIC) */
	unsigned dereference;	/* TU_DEREF_* bits */
	double timeout;		/* seconds to retry transient failures (opens,
				   and data calls with no byte copied) and files
				   that change while copied; default
				   TU_CPTREE_TIMEOUT */
	int jobs;		/* worker threads; 0 = online CPUs; more than
				   one also copies files with 128 MiB of data or
				   more in 64 MiB pieces, in parallel */
	tu_error_fn *error;	/* per-entry failures (the front end exits 1) */
	tu_error_fn *warning;	/* what could not be kept but is no failure: the
				   owner of a file when not root; NULL = ignore */
	tu_copy_fn *copied;	/* each entry; NULL = not wanted */
	struct tu_stats *stats;	/* entries, bytes of data written */
	struct tu_stats *total;	/* non-NULL: SOURCE is counted first (entries,
				   bytes of regular files; symlinks not
				   followed); entries is stored last, so once it
				   is non-zero both are final. For an ETA. */
	const volatile sig_atomic_t *interrupted;	/* non-NULL: polled; once
				   non-zero (a signal handler sets it), no new
				   entry is started, files being copied are
				   dropped, with atomic the hidden tree is
				   removed, and tu_cptree returns -EINTR */
	bool force_dest;	/* take an existing DEST that another user owns
				   or can write, and (link hard) a DEST whose
				   parent lets others rename it; refused with
				   -EPERM otherwise (cptree(1): DEST AND OTHER
				   USERS) */
	void *ctx;		/* passed to the callbacks */
	/* Update (cptree(1), UPDATE RULES): DEST may exist and is brought up
	   to date, each entry skipped, given metadata only, or rebuilt
	   under a temporary name and renamed over the old one. */
	bool update;
	bool delete_absent;	/* update: remove DEST entries SOURCE lacks */
	bool delete_excluded;	/* ... and DEST entries that are excluded */
	bool checksum;		/* update: compare content too, through the
				   hash cache */
	const char *const *exclude;	/* patterns (cptree(1), EXCLUDE RULES),
					   NULL-terminated; NULL: none */
	const char *const *exclude_from;	/* files of patterns, likewise */
	unsigned itemize;	/* TU_CPTREE_ITEMIZE_* for tu_copy_item.record */
	/* --clone-from: DEST is made under a hidden name beside it (as
	   atomic) and shares storage with these BASE trees wherever a file
	   is unchanged; the first BASE that matches wins. At most
	   TU_CLONE_MAX; cptree(1) has the rules. */
	const char *const *clone_from;
	int nclone_from;
};

/* How tu_copy_item.record is written (update). */
enum {
	TU_CPTREE_ITEMIZE_NUL = 1u << 0,	/* ends with NUL, nothing escaped */
	TU_CPTREE_ITEMIZE_UTF8 = 1u << 1,	/* valid UTF-8 printed as it is */
};

#define TU_CPTREE_TIMEOUT 10.0
#define TU_CLONE_MAX 20

TU_API void tu_cptree_opts_init(struct tu_cptree_opts *o);

/* Copy SOURCE to DEST. DEST must not exist or be an empty directory; DEST
   inside SOURCE and DEST = SOURCE are refused, and so are a DEST others can
   write (unless force_dest) and link hard or reflink always across
   filesystems (-EXDEV). Returns 0 when everything was copied; TU_PARTIAL
   when the copy ran but some entries failed (each reported; also when
   O->error answered TU_STOP; with atomic, DEST was then not made); -EINTR
   when *interrupted stopped it (with atomic, DEST was not made and the
   hidden tree was removed); another -errno when nothing could start
   (reported; nothing was written). */
TU_API int tu_cptree(const char *source, const char *dest, const struct tu_cptree_opts *o);

/* ---- mvtree ------------------------------------------------------------------ */

/* Move SOURCE to DEST (DEST names the result and must not exist). Within one
 * filesystem: one renameat2(RENAME_NOREPLACE). Across filesystems: copy with
 * tu_cptree (archive) into a hidden name beside DEST, verify it, sync it,
 * rename it into place, and only then remove SOURCE with the rmtree engine,
 * keeping every SOURCE entry that changed after the copy began. A crash at
 * any instant leaves the whole data in at least one place, and the same call
 * made again finishes the job (mvtree(1) has the table of states).
 *
 *	struct tu_mvtree_opts o;
 *	tu_mvtree_opts_init(&o);
 *	o.error = on_error;
 *	int r = tu_mvtree("src", "dst", &o);	// 0: moved
 */

/* How a move was made, for tu_mvtree_opts.moved. */
enum tu_move_how {
	TU_MOVE_RENAMED = 'r',		/* one rename (same filesystem) */
	TU_MOVE_EXCHANGED = 'x',	/* exchange: SOURCE and DEST swapped */
	TU_MOVE_COPIED = 'c',		/* copied, verified, placed; SOURCE removed */
	TU_MOVE_FINISHED = 'f',		/* an earlier, interrupted run of this move
					   was finished */
};
typedef void tu_moved_fn(const char *source, const char *dest, enum tu_move_how how,
			 void *ctx);

struct tu_mvtree_opts {
	bool dry_run;		/* check, report what would happen; change nothing */
	bool exchange;		/* swap SOURCE and an existing DEST (same
				   filesystem only) */
	bool verify;		/* across filesystems, compare the content of
				   every regular file too (SpookyHash; SOURCE's
				   hash records are reused, none are written) */
	bool one_file_system;	/* mounts below SOURCE are copied as empty
				   directories (and are never removed either way) */
	bool mounts;		/* move the content of mounts: a SOURCE that is a
				   mount point (directory), and, unless
				   one_file_system, mounts below SOURCE; the
				   mount points themselves stay, each reported
				   as a warning */
	enum tu_reflink reflink;
	double timeout;		/* seconds to retry transient failures, copying
				   and removing; default TU_CPTREE_TIMEOUT */
	int jobs;		/* worker threads; 0 = online CPUs */
	tu_error_fn *error;	/* per-entry failures (the front end exits 1) */
	tu_error_fn *warning;	/* no failure: what a copy could not keep, an
				   unfinished copy of an earlier run removed;
				   NULL = ignore */
	tu_copy_fn *copied;	/* each entry copied across filesystems; paths
				   as given (SOURCE, DEST), not the hidden name */
	tu_entry_fn *removed;	/* each SOURCE entry removed after the copy */
	tu_moved_fn *moved;	/* the move as a whole, once it is done */
	struct tu_stats *stats;	/* copying: entries and bytes written */
	struct tu_stats *total;	/* as in tu_cptree_opts: SOURCE counted first */
	void *ctx;		/* passed to the callbacks */
};

TU_API void tu_mvtree_opts_init(struct tu_mvtree_opts *o);

/* tu_mvtree() returns this when it ran but the move is not complete: the
   copy failed and was undone (SOURCE untouched), or DEST is in place and
   some SOURCE entries were kept (changed after the copy began, or could not
   be removed). Each problem was reported. It is the convention's
   TU_PARTIAL. */
#define TU_MVTREE_INCOMPLETE TU_PARTIAL

/* Move SOURCE (a directory, file, symlink or special file; a symlink is moved
   as the link) to DEST. Returns 0 when moved (and SOURCE is gone),
   TU_MVTREE_INCOMPLETE as above, or -errno when it was refused or could not
   start, with nothing changed: DEST exists (-EEXIST), SOURCE = DEST, a
   directory into itself, "/", "." or "..", a mount point as SOURCE
   without mounts (-EBUSY), --exchange across filesystems (-EXDEV). */
TU_API int tu_mvtree(const char *source, const char *dest, const struct tu_mvtree_opts *o);

#ifdef __cplusplus
}
#endif
#endif
