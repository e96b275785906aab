/* SPDX-License-Identifier: Apache-2.0 */
/* test_itemize.c: unit tests of lib/itemize.c, rsync's itemize records.
 *
 * The table's lines are the ones rsync 3 printed for each kind of change
 * (tests/cli/itemize-oracle.bats checks them against a live rsync); here
 * they pin the formatter alone: Y from tu_itemize_how(), each column, the
 * all-spaces rule, " -> " and " => ", "./", escapes, NUL records, and the
 * snprintf-like length when the buffer is short.
 */
#define TU_INTERNAL
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itemize.h"

#include <string.h>
#include <sys/stat.h>

struct row {
	char type;
	unsigned changed;
	bool data, hardlinked, deleted;
	const char *path, *link;
	unsigned flags;
	const char *want;
};

#define N TU_CHG_NEW
#define C TU_CHG_CONTENT
#define S TU_CHG_SIZE
#define T TU_CHG_MTIME

static const struct row rows[] = {
	{ 'f', N, true, false, false, "n", NULL, 0, ">f+++++++++ n\n" },
	{ 'd', N, true, false, false, "nd", NULL, 0, "cd+++++++++ nd/\n" },
	{ 'd', N, true, false, false, ".", NULL, 0, "cd+++++++++ ./\n" },
	{ 'L', N, true, false, false, "l2", "tgt", 0, "cL+++++++++ l2 -> tgt\n" },
	{ 'D', N, true, false, false, "dev", NULL, 0, "cD+++++++++ dev\n" },
	{ 'S', N, true, false, false, "fifo", NULL, 0, "cS+++++++++ fifo\n" },
	{ 'f', N, true, true, false, "h2", "f", 0, "hf+++++++++ h2 => f\n" },
	{ 'f', S | T, true, false, false, "f", NULL, 0, ">f.st...... f\n" },
	{ 'f', T, true, false, false, "f", NULL, 0, ">f..t...... f\n" },
	{ 'f', T, false, false, false, "f", NULL, 0, ".f..t...... f\n" },
	{ 'f', C, true, false, false, "f", NULL, 0, ">fc........ f\n" },
	{ 'f', TU_CHG_PERMS, false, false, false, "f", NULL, 0, ".f...p..... f\n" },
	{ 'f', TU_CHG_OWNER, false, false, false, "f", NULL, 0, ".f....o.... f\n" },
	{ 'f', TU_CHG_GROUP, false, false, false, "f", NULL, 0, ".f.....g... f\n" },
	{ 'f', TU_CHG_ACL, false, false, false, "f", NULL, 0, ".f.......a. f\n" },
	{ 'f', TU_CHG_XATTR, false, false, false, "f", NULL, 0, ".f........x f\n" },
	{ 'f', TU_CHG_XATTR, false, true, false, "h", NULL, 0, "hf........x h\n" },
	{ 'f', S, true, true, false, "h", "f", 0, "hf.s....... h => f\n" },
	{ 'f', 0, false, true, false, "h", "f", 0, "hf          h => f\n" },
	{ 'f', TU_CHG_FLAGS, false, false, false, "f", NULL, 0, ".f          f\n" },
	{ 'L', C | T, true, false, false, "l", "other", 0, "cLc.t...... l -> other\n" },
	{ 'L', TU_CHG_OWNER, false, false, false, "l", "other", 0, ".L....o.... l -> other\n" },
	{ 'D', C | T, true, false, false, "dev", NULL, 0, "cDc.t...... dev\n" },
	{ 'd', T, false, false, false, "d", NULL, 0, ".d..t...... d/\n" },
	{ 'd', T, false, false, false, ".", NULL, 0, ".d..t...... ./\n" },
	{ 'd', TU_CHG_PERMS, false, false, false, "d", NULL, 0, ".d...p..... d/\n" },
	{ 'd', T | TU_CHG_ACL, false, false, false, "d", NULL, 0, ".d..t....a. d/\n" },
	{ 'd', TU_CHG_TYPE, true, false, false, "h", NULL, 0, "cd+++++++++ h/\n" },
	{ 'f', TU_CHG_TYPE, true, false, false, "h", NULL, 0, ">f+++++++++ h\n" },
	{ 'f', 0, false, false, true, "gone", NULL, 0, "*deleting   gone\n" },
	{ 'd', 0, false, false, true, "nd", NULL, 0, "*deleting   nd/\n" },
	{ 'L', 0, false, false, true, "l", "ignored", 0, "*deleting   l\n" },
	/* every column at once, in order */
	{ 'f', C | S | T | TU_CHG_PERMS | TU_CHG_OWNER | TU_CHG_GROUP | TU_CHG_ATIME | TU_CHG_ACL |
		       TU_CHG_XATTR, true, false, false, "f", NULL, 0, ">fcstpoguax f\n" },
	{ 'f', TU_CHG_MTIME_NOW, true, false, false, "f", NULL, 0, ">f..T...... f\n" },
	{ 'f', TU_CHG_BTIME, false, false, false, "f", NULL, 0, ".f......n.. f\n" },
	{ 'f', TU_CHG_BTIME | TU_CHG_ATIME, false, false, false, "f", NULL, 0, ".f......b.. f\n" },
	/* escapes, as rsync writes them */
	{ 'f', N, true, false, false, "a\nb", NULL, 0, ">f+++++++++ a\\#012b\n" },
	{ 'f', N, true, false, false, "t\tb", NULL, 0, ">f+++++++++ t\tb\n" },
	{ 'f', N, true, false, false, "x\\#123", NULL, 0, ">f+++++++++ x\\#134#123\n" },
	{ 'f', N, true, false, false, "x\\#12", NULL, 0, ">f+++++++++ x\\#12\n" },
	{ 'f', N, true, false, false, "y\\z", NULL, 0, ">f+++++++++ y\\z\n" },
	{ 'f', N, true, false, false, "del\x7f", NULL, 0, ">f+++++++++ del\x7f\n" },
	{ 'f', N, true, false, false, "\xc3\xa9", NULL, 0, ">f+++++++++ \\#303\\#251\n" },
	{ 'f', N, true, false, false, "\xc3\xa9", NULL, TU_ITEMIZE_UTF8, ">f+++++++++ \xc3\xa9\n" },
	{ 'f', N, true, false, false, "bad\xff", NULL, TU_ITEMIZE_UTF8, ">f+++++++++ bad\\#377\n" },
	{ 'f', N, true, false, false, "s\xed\xa0\x80", NULL, TU_ITEMIZE_UTF8,
	  ">f+++++++++ s\\#355\\#240\\#200\n" },
	{ 'f', N, true, false, false, "cut\xc3", NULL, TU_ITEMIZE_UTF8, ">f+++++++++ cut\\#303\n" },
	{ 'L', N, true, false, false, "l", "t\n", 0, "cL+++++++++ l -> t\\#012\n" },
	/* NUL records: nothing escaped */
	{ 'f', N, true, false, false, "a\nb\xff", NULL, TU_ITEMIZE_NUL, ">f+++++++++ a\nb\xff" },
};

static void test_table_lines_are_rsyncs(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct tu_item it = {
			.how = r->deleted ? TU_ITEM_DELETED
					  : tu_itemize_how(r->type, r->changed, r->data, r->hardlinked),
			.type = r->type,
			.changed = r->changed,
			.path = r->path,
			.link = r->link,
		};
		char buf[256];
		size_t n = tu_itemize_line(buf, sizeof buf, &it, r->flags);
		/* a NUL record's terminator is in the length */
		size_t want = strlen(r->want) + ((r->flags & TU_ITEMIZE_NUL) ? 1 : 0);
		if (n != want || memcmp(buf, r->want, want)) {
			print_error("row %zu: want '%s' (%zu), got '%.*s' (%zu)\n", i, r->want, want,
				    (int)n, buf, n);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_type_letters_from_mode(void **state)
{
	(void)state;
	assert_int_equal(tu_itemize_type(S_IFREG | 0644), 'f');
	assert_int_equal(tu_itemize_type(S_IFDIR | 0755), 'd');
	assert_int_equal(tu_itemize_type(S_IFLNK | 0777), 'L');
	assert_int_equal(tu_itemize_type(S_IFCHR), 'D');
	assert_int_equal(tu_itemize_type(S_IFBLK), 'D');
	assert_int_equal(tu_itemize_type(S_IFIFO), 'S');
	assert_int_equal(tu_itemize_type(S_IFSOCK), 'S');
}

static void test_code_is_eleven_characters(void **state)
{
	(void)state;
	char code[TU_ITEMIZE_CODE_LEN + 1];
	struct tu_item it = { TU_ITEM_DELETED, 'f', 0, "x", NULL };
	tu_itemize_code(&it, code);
	assert_string_equal(code, "*deleting  ");
	assert_int_equal(strlen(code), 11);
	it = (struct tu_item){ TU_ITEM_ATTRS, 'f', TU_CHG_PERMS, "x", NULL };
	tu_itemize_code(&it, code);
	assert_string_equal(code, ".f...p.....");
}

/* A short buffer: cut and NUL-terminated, and the full length returned, as
   snprintf does; a zero-length buffer is not written. */
static void test_short_buffer_returns_the_full_length(void **state)
{
	(void)state;
	struct tu_item it = { TU_ITEM_RECEIVED, 'f', TU_CHG_NEW, "some/long/name", NULL };
	char full[64];
	size_t n = tu_itemize_line(full, sizeof full, &it, 0);
	assert_string_equal(full, ">f+++++++++ some/long/name\n");
	assert_int_equal(n, strlen(full));
	char cut[8];
	memset(cut, 'X', sizeof cut);
	assert_int_equal(tu_itemize_line(cut, sizeof cut, &it, 0), n);
	assert_string_equal(cut, ">f+++++");
	char none = 'X';
	assert_int_equal(tu_itemize_line(&none, 0, &it, 0), n);
	assert_int_equal(none, 'X');
	/* escapes count in full too */
	it.path = "\n\n";
	assert_int_equal(tu_itemize_line(cut, sizeof cut, &it, 0), 12 + 10 + 1);
}

static void test_how_letters(void **state)
{
	(void)state;
	assert_int_equal(tu_itemize_how('f', TU_CHG_NEW, true, false), '>');
	assert_int_equal(tu_itemize_how('L', TU_CHG_NEW, true, false), 'c');
	assert_int_equal(tu_itemize_how('d', TU_CHG_TYPE, true, false), 'c');
	assert_int_equal(tu_itemize_how('f', TU_CHG_MTIME, true, false), '>');
	assert_int_equal(tu_itemize_how('f', TU_CHG_MTIME, false, false), '.');
	assert_int_equal(tu_itemize_how('D', TU_CHG_CONTENT, true, false), 'c');
	assert_int_equal(tu_itemize_how('f', TU_CHG_NEW, true, true), 'h');
	assert_int_equal(tu_itemize_how('d', 0, false, false), '.');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_lines_are_rsyncs),
		cmocka_unit_test(test_type_letters_from_mode),
		cmocka_unit_test(test_code_is_eleven_characters),
		cmocka_unit_test(test_short_buffer_returns_the_full_length),
		cmocka_unit_test(test_how_letters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
