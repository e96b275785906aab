/* SPDX-License-Identifier: Apache-2.0 */
/* itemize.c: rsync's itemize records (format in itemize.h).
 *
 * Pure formatting: this file never touches the filesystem, never allocates
 * and never prints; the caller writes the record where it wants it.
 */
#define TU_INTERNAL
#include "itemize.h"
#include "treeutils.h"

#include <string.h>
#include <sys/stat.h>

char tu_itemize_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'L';
	case S_IFCHR:
	case S_IFBLK:
		return 'D';
	case S_IFIFO:
	case S_IFSOCK:
		return 'S';
	default:
		return 'f';
	}
}

char tu_itemize_how(char type, unsigned changed, bool data, bool hardlinked)
{
	if (hardlinked)
		return TU_ITEM_HARDLINK;
	if (changed & (TU_CHG_NEW | TU_CHG_TYPE))
		return type == 'f' ? TU_ITEM_RECEIVED : TU_ITEM_LOCAL;
	if (data)
		return type == 'f' ? TU_ITEM_RECEIVED : TU_ITEM_LOCAL;
	return TU_ITEM_ATTRS;
}

void tu_itemize_code(const struct tu_item *it, char code[TU_ITEMIZE_CODE_LEN + 1])
{
	if (it->how == TU_ITEM_DELETED) {
		memcpy(code, "*deleting  ", TU_ITEMIZE_CODE_LEN + 1);
		return;
	}
	unsigned c = it->changed;
	code[0] = it->how;
	code[1] = it->type;
	code[TU_ITEMIZE_CODE_LEN] = '\0';
	if (c & (TU_CHG_NEW | TU_CHG_TYPE)) {
		memset(code + 2, '+', TU_ITEMIZE_CODE_LEN - 2);
		return;
	}
	code[2] = c & TU_CHG_CONTENT ? 'c' : '.';
	code[3] = c & TU_CHG_SIZE ? 's' : '.';
	code[4] = c & TU_CHG_MTIME ? 't' : c & TU_CHG_MTIME_NOW ? 'T' : '.';
	code[5] = c & TU_CHG_PERMS ? 'p' : '.';
	code[6] = c & TU_CHG_OWNER ? 'o' : '.';
	code[7] = c & TU_CHG_GROUP ? 'g' : '.';
	if ((c & TU_CHG_ATIME) && (c & TU_CHG_BTIME))
		code[8] = 'b';
	else
		code[8] = c & TU_CHG_ATIME ? 'u' : c & TU_CHG_BTIME ? 'n' : '.';
	code[9] = c & TU_CHG_ACL ? 'a' : '.';
	code[10] = c & TU_CHG_XATTR ? 'x' : '.';
	/* Nothing in a column: rsync prints spaces, so the line reads as "this
	   entry, for its Y alone". */
	if (!strcmp(code + 2, "........."))
		memset(code + 2, ' ', TU_ITEMIZE_CODE_LEN - 2);
}

/* A bounded writer that counts what it could not write. */
struct out {
	char *buf;
	size_t len, at;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->at < o->len) {
		size_t room = o->len - o->at;
		memcpy(o->buf + o->at, s, n < room ? n : room);
	}
	o->at += n;
}

static void put_escaped(struct out *o, const char *s, unsigned flags)
{
	static const char oct[] = "01234567";
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (flags & TU_ITEMIZE_NUL) {
			put(o, (const char *)p, 1);
			p++;
			continue;
		}
		bool esc;
		size_t n = 1;
		if (*p == '\\')
			/* Only "\#DDD" is escaped, so an escaped name cannot be
			   mistaken for another name's escape. */
			esc = p[1] == '#' && p[2] >= '0' && p[2] <= '9' && p[3] >= '0' &&
			      p[3] <= '9' && p[4] >= '0' && p[4] <= '9';
		else if (*p < 0x20)
			esc = *p != '\t';
		else if (*p < 0x80)
			esc = false;
		else if (flags & TU_ITEMIZE_UTF8)
			esc = (n = tu_utf8_len(p)) == 0;
		else
			esc = true;
		if (esc) {
			char e[5] = { '\\', '#', oct[*p >> 6], oct[(*p >> 3) & 7], oct[*p & 7] };
			put(o, e, sizeof e);
			n = 1;
		} else {
			put(o, (const char *)p, n);
		}
		p += n;
	}
}

size_t tu_itemize_line(char *buf, size_t len, const struct tu_item *it, unsigned flags)
{
	struct out o = { buf, len ? len - 1 : 0, 0 };
	char code[TU_ITEMIZE_CODE_LEN + 1];
	tu_itemize_code(it, code);
	put(&o, code, TU_ITEMIZE_CODE_LEN);
	put(&o, " ", 1);
	put_escaped(&o, it->path, flags);
	if (it->type == 'd')
		put(&o, "/", 1);	/* SOURCE itself reads "./" */
	if (it->link && it->how != TU_ITEM_DELETED) {
		put(&o, it->type == 'L' && it->how != TU_ITEM_HARDLINK ? " -> " : " => ", 4);
		put_escaped(&o, it->link, flags);
	}
	put(&o, flags & TU_ITEMIZE_NUL ? "" : "\n", 1);
	if (len)
		buf[o.at < o.len ? o.at : o.len] = '\0';
	return o.at;
}
