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

#ifdef __cplusplus
}
#endif
#endif
