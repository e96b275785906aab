/* treeutils.h: the public API of libtreeutils, the whole of what a tool may use.
 *
 * The library never prints and never exits. A call returns 0 or a negative
 * errno. Problems with single entries of a tree go to the caller's error
 * callback, which answers TU_CONTINUE or TU_STOP; the front end turns them
 * into messages and, at the end, into exit status 1.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TU_CONTINUE 0
#define TU_STOP     1

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
	_Atomic uint64_t entries;
	_Atomic uint64_t bytes;
	_Atomic uint64_t errors;
};

/* ---- random names -------------------------------------------------------- */

/* Fill OUT with NHEX lowercase hex digits from getrandom(2) and a NUL.
   OUT must hold NHEX + 1 bytes. Returns 0 or -errno. */
int tu_random_hex(char *out, size_t nhex);

/* Prefix of every temporary or hidden name the tools make. Names that start
   with it and carry TU_TMP_HEX hex digits after it are ours. */
#define TU_TMP_PREFIX ".tu-"
#define TU_TMP_HEX    32
/* True if NAME is one of our temporary names. */
bool tu_is_tmp_name(const char *name);

/* ---- names ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence that starts at S (1 to 4 bytes), or 0
   if it is not valid UTF-8 (overlong, surrogate, past U+10FFFF, cut short).
   Used to escape names in messages and in the hash cache's sidecar. */
size_t tu_utf8_len(const unsigned char *s);

/* ---- rmtree --------------------------------------------------------------- */

struct tu_rmtree_opts {
	double timeout;		/* seconds to retry transient failures and to
				   keep deleting entries that appear; default
				   TU_RMTREE_TIMEOUT */
	int jobs;		/* worker threads; 0 = online CPUs */
	bool hide;		/* rename DIR to a hidden name first */
	bool all_or_nothing;	/* check everything can go before removing */
	bool one_file_system;	/* never enter another mount */
	bool preserve_root_all;	/* also refuse a DIR that is a mount point
				   ("/", ".", ".." and "" are always refused) */
	bool dry_run;		/* report what would go, change nothing */
	bool force;		/* a missing DIR is no error */
	tu_error_fn *error;	/* per-entry problems; NULL = ignore */
	tu_entry_fn *removed;	/* each entry removed; NULL = not wanted */
	struct tu_stats *stats;	/* NULL = not wanted */
	void *ctx;		/* passed to the callbacks */
};

#define TU_RMTREE_TIMEOUT 10.0

void tu_rmtree_opts_init(struct tu_rmtree_opts *o);

/* Remove PATH and everything below it. A symlink is removed as a link, never
   followed. Returns 0 when PATH is gone (or, with force, was never there),
   -ENOTEMPTY when some entries could not be removed (each was reported),
   another -errno when nothing could be done (also reported), and with
   all_or_nothing -ECANCELED when blockers were found and nothing was
   removed. */
int tu_rmtree(const char *path, const struct tu_rmtree_opts *o);


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
 *    store it", for dedup and cptree.
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
	_Atomic uint64_t files;		/* regular files dealt with */
	_Atomic uint64_t cached;	/* answered by a valid record */
	_Atomic uint64_t hashed;	/* files whose data was read */
	_Atomic uint64_t bytes_read;	/* bytes of file data read */
	_Atomic uint64_t stored;	/* records written */
	_Atomic uint64_t not_stored;	/* records that could not be written */
	_Atomic uint64_t skipped;	/* symlinks, special files (never opened) */
	_Atomic uint64_t status[TU_HASH_NSTATUS];
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

void tu_hashcache_opts_init(struct tu_hashcache_opts *o);

/* Deal with PATH, a regular file or a directory walked recursively, as
   O->mode says. Symlinks inside the tree are never followed and special
   files never opened; a symlink PATH is followed only when written with a
   trailing slash. Returns 0 when every file was dealt with, else the first
   failure as -errno (every failure is reported to O->error). Warnings do
   not count as failures. */
int tu_hashcache_tree(const char *path, const struct tu_hashcache_opts *o);

/* A cache session for single files; safe to share between threads. O is
   copied. 0 or -errno. */
struct tu_hashcache;
int tu_hashcache_open(struct tu_hashcache **hc, const struct tu_hashcache_opts *o);
void tu_hashcache_close(struct tu_hashcache *hc);

/* The sidecar state of one directory, held by DIRFD (not closed, and kept
   open by the caller until tu_hashdir_close). DISPLAY prefixes names in
   messages (NULL: names alone). Loaded on first use. One thread at a time. */
struct tu_hashdir;
int tu_hashdir_open(struct tu_hashcache *hc, int dirfd, const char *display,
		    struct tu_hashdir **hd);
/* Write the sidecar if it changed (unless no_store), report records that
   could not be stored, and free HD. 0 or -errno. */
int tu_hashdir_close(struct tu_hashdir *hd);

/* The hash of the regular file open for reading as FD, named NAME in HD's
   directory (HD and NAME may be NULL: then only the xattr is used). As the
   session's mode says: update (record if valid, else read and store),
   check (always read and compare), show (record only). Open FD with
   O_NOATIME where you may: reading through it is ours, opening is yours.
   Returns 0, -EAGAIN if the file changed while it was read (nothing
   stored), -EINVAL if FD is not a regular file, or another -errno. */
int tu_hashcache_get_fd(struct tu_hashcache *hc, struct tu_hashdir *hd, int fd,
			const char *name, struct tu_hash_info *out);

#ifdef __cplusplus
}
#endif
#endif
