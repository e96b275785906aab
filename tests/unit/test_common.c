/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for tools/common: quoting names for messages, option parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"

#include <string.h>

static void check_quote(const char *in, const char *want)
{
	char *q = tu_quote(in);
	assert_string_equal(q, want);
	tu_quote_free(q);
}

static void test_quote(void **state)
{
	(void)state;
	check_quote("plain", "'plain'");
	check_quote("", "''");
	check_quote("new\nline", "'new\\nline'");
	check_quote("tab\there", "'tab\\there'");
	check_quote("it's", "'it\\'s'");
	check_quote("back\\slash", "'back\\\\slash'");
	check_quote("\x01\x1b[31m", "'\\x01\\x1b[31m'");
	check_quote("del\x7f", "'del\\x7f'");
	check_quote("bad\xff\xfe", "'bad\\xff\\xfe'");
	/* Valid UTF-8 passes through; overlong, surrogate and truncated
	   sequences are escaped byte by byte. */
	check_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'");
	check_quote("\xc0\xaf", "'\\xc0\\xaf'");
	check_quote("\xed\xa0\x80", "'\\xed\\xa0\\x80'");
	check_quote("cut\xe2\x82", "'cut\\xe2\\x82'");
	check_quote("\xf4\x90\x80\x80", "'\\xf4\\x90\\x80\\x80'");
}

static void test_parse(void **state)
{
	(void)state;
	int j;
	double s;
	assert_int_equal(tu_parse_jobs("4", &j), 0);
	assert_int_equal(j, 4);
	assert_int_equal(tu_parse_jobs("0", &j), -1);
	assert_int_equal(tu_parse_jobs("-1", &j), -1);
	assert_int_equal(tu_parse_jobs("4x", &j), -1);
	assert_int_equal(tu_parse_jobs("", &j), -1);
	assert_int_equal(tu_parse_jobs("99999999999999999999", &j), -1);
	assert_int_equal(tu_parse_seconds("0.5", &s), 0);
	assert_true(s == 0.5);
	assert_int_equal(tu_parse_seconds("0", &s), 0);
	assert_int_equal(tu_parse_seconds("-1", &s), -1);
	assert_int_equal(tu_parse_seconds("nan", &s), -1);
	assert_int_equal(tu_parse_seconds("soon", &s), -1);
	assert_int_equal(tu_parse_seconds("1e99", &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
