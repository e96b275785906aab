/* SPDX-License-Identifier: Apache-2.0 */
/* itemize.h: rsync's --itemize-changes records, for cptree -i: one line per
 * changed entry, so scripts that parse `rsync -i` work unchanged. Private to
 * the library (the tool prints what the library hands it).
 *
 * A record is "YXcstpoguax NAME", where:
 *   Y  how the entry was brought up to date: '>' its data was written (a
 *      regular file; rsync's "received"), 'c' made or re-made locally (a
 *      directory, symlink, device or special file), 'h' made as a hard
 *      link to another name of its group, '.' only attributes changed (or
 *      none), '*' a message: the whole code is then "*deleting  ";
 *   X  the type: 'f' file, 'd' directory, 'L' symlink, 'D' device, 'S'
 *      special (FIFO, socket);
 *   then one column per attribute, '.' when unchanged: 'c' content (a
 *      regular file's checksum with --checksum; a symlink's target, a
 *      device's numbers), 's' size, 't' mtime ('T': set to the time of the
 *      update, when times are not kept), 'p' permissions, 'o' owner, 'g'
 *      group, 'u' atime ('n' creation time, 'b' both), 'a' ACL, 'x' xattrs.
 *      A new entry shows "+++++++++". When every column is '.', they are all
 *      spaces, as rsync prints an entry mentioned for its Y alone (a hard
 *      link, or a change no column shows: chattr flags, which rsync does not
 *      know, have no column).
 * NAME is the path relative to SOURCE, "./" for SOURCE itself, with a '/'
 * after a directory, then " -> TARGET" for a symlink or " => NAME" for a
 * hard link when the caller gives one. Each record ends with '\n', or with
 * '\0' under TU_ITEMIZE_NUL (cptree -0).
 *
 * Escaping is rsync's (checked against rsync 3 in tests/cli/itemize-oracle.bats):
 * bytes below 0x20 other than tab, and a backslash that starts "\#DDD", are
 * written "\#OOO" (octal); bytes of 0x80 and up are written so too, except,
 * under TU_ITEMIZE_UTF8 (a UTF-8 locale), those of valid UTF-8 sequences.
 * Under TU_ITEMIZE_NUL nothing is escaped: the record's end cannot be forged.
 */
#ifndef TU_ITEMIZE_H
#define TU_ITEMIZE_H
#ifndef TU_INTERNAL
#error "itemize.h is private to libtreeutils; include treeutils.h"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What changed: the columns of the record, plus what lib/compare.c finds
   that has no column of its own. */
enum {
	TU_CHG_NEW	  = 1u << 0,	/* created: "+++++++++" */
	TU_CHG_CONTENT	  = 1u << 1,	/* 'c' */
	TU_CHG_SIZE	  = 1u << 2,	/* 's' */
	TU_CHG_MTIME	  = 1u << 3,	/* 't' */
	TU_CHG_MTIME_NOW  = 1u << 4,	/* 'T': mtime set to the update's time */
	TU_CHG_PERMS	  = 1u << 5,	/* 'p' */
	TU_CHG_OWNER	  = 1u << 6,	/* 'o' */
	TU_CHG_GROUP	  = 1u << 7,	/* 'g' */
	TU_CHG_ATIME	  = 1u << 8,	/* 'u' (with TU_CHG_BTIME: 'b') */
	TU_CHG_BTIME	  = 1u << 9,	/* 'n' */
	TU_CHG_ACL	  = 1u << 10,	/* 'a' */
	TU_CHG_XATTR	  = 1u << 11,	/* 'x' */
	TU_CHG_FLAGS	  = 1u << 12,	/* chattr flags: no column */
	TU_CHG_TYPE	  = 1u << 13,	/* another type: the entry is made anew,
					   shown as TU_CHG_NEW */
};

/* Y, how the entry was brought up to date. */
enum {
	TU_ITEM_RECEIVED = '>',
	TU_ITEM_LOCAL	 = 'c',
	TU_ITEM_HARDLINK = 'h',
	TU_ITEM_ATTRS	 = '.',
	TU_ITEM_DELETED	 = '*',
};

enum {
	TU_ITEMIZE_NUL	= 1u << 0,	/* end records with '\0', escape nothing */
	TU_ITEMIZE_UTF8 = 1u << 1,	/* valid UTF-8 is printed as it is */
};

#define TU_ITEMIZE_CODE_LEN 11

/* One record. */
struct tu_item {
	char how;		/* TU_ITEM_* */
	char type;		/* from tu_itemize_type() */
	unsigned changed;	/* TU_CHG_* */
	const char *path;	/* relative to SOURCE; "." is SOURCE itself */
	const char *link;	/* symlink target, or the name a hard link
				   was made to; NULL for none */
};

/* X for an entry of MODE (st_mode): 'f', 'd', 'L', 'D' or 'S'. */
char tu_itemize_type(mode_t mode);

/* Y for an entry of TYPE: NEW or TYPE changes make it anew ('>' for a file,
   'c' otherwise); DATA: its data (or a symlink's target, a device's
   numbers) was written again; HARDLINKED: it was placed as a hard link to
   another name. */
char tu_itemize_how(char type, unsigned changed, bool data, bool hardlinked);

/* The 11 characters of IT's code, and a NUL, into CODE. */
void tu_itemize_code(const struct tu_item *it, char code[TU_ITEMIZE_CODE_LEN + 1]);

/* IT's whole record into BUF (at most LEN bytes, always NUL-terminated when
   LEN > 0). Returns the record's length, its terminator included and the
   C string's NUL not: when that is >= LEN the record was cut, and the
   caller retries with a larger buffer, as with snprintf. */
size_t tu_itemize_line(char *buf, size_t len, const struct tu_item *it, unsigned flags);

#endif
