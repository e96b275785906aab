/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_options: libFuzzer target for one tool's option parsing: its argp
 * table and parse_opt, with the shared parsers of tools/common (--jobs,
 * --timeout, --store). Built once per tool by `make fuzz` with
 * -DTOOL=<tool>: the tool's own source is included here, its main renamed,
 * so the static option table and parser are the ones the tool runs.
 *
 * The input is the argument list, NUL-separated (up to 64 arguments).
 * argp is run as the tool runs it, with one difference: a usage error
 * (argp_error, argp_failure) must not exit the fuzzer, so they are wrapped
 * (ld --wrap, see the Makefile): the wrapper longjmps back here, which is
 * what exit is to the tool's code (no line after such a call runs). glibc's
 * own errors (an unknown option) return under ARGP_NO_EXIT. Messages go to
 * stderr, which `make fuzz` closes with -close_fd_mask. Checked: no crash,
 * no undefined behaviour, no read outside an argument; the parsed values
 * are in range (--jobs 0 or 1..1024, --timeout >= 0 and finite); the
 * operands are argv's. Leaks: argp's own parser state is lost by the
 * longjmp, so leaks allocated below argp_parse are not reported (the only
 * allocation parse_opt makes, dedup's --exclude list, is freed here).
 *
 * Only the parse is run: never the tool's work, so no input can make it
 * touch the filesystem.
 */
#define main tool_main
int main(int argc, char **argv);
#define STR2(x) #x
#define STR(x) STR2(x)
#define TOOL_SRC(t) STR(../../tools/t/t.c)
#include TOOL_SRC(TOOL)
#undef main
#include "fuzz.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#define TOOL_rmtree 1
#define TOOL_cptree 2
#define TOOL_mvtree 3
#define TOOL_dedup 4
#define TOOL_hashcache 5
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define THIS_TOOL CAT(TOOL_, TOOL)

static jmp_buf usage_error;
static bool in_parse;

void __real_argp_error(const struct argp_state *state, const char *fmt, ...);
void __wrap_argp_error(const struct argp_state *state, const char *fmt, ...);
void __wrap_argp_failure(const struct argp_state *state, int status, int errnum,
			 const char *fmt, ...);

/* The tool's argp_error: print as argp does, then leave as exit would. */
void __wrap_argp_error(const struct argp_state *state, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	__real_argp_error(state, "%s", msg);
	if (in_parse)
		longjmp(usage_error, 1);
	abort();
}

void __wrap_argp_failure(const struct argp_state *state, int status, int errnum,
			 const char *fmt, ...)
{
	(void)state;
	(void)errnum;
	(void)fmt;
	if (status == 0)
		return;
	if (in_parse)
		longjmp(usage_error, 1);
	abort();
}

/* See the top comment: argp's parser state, lost by the longjmp. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:argp_parse\n";
}

static void init(struct cli *c)
{
	memset(c, 0, sizeof *c);
#if THIS_TOOL == TOOL_rmtree
	tu_rmtree_opts_init(&c->o);
#elif THIS_TOOL == TOOL_cptree
	tu_cptree_opts_init(&c->o);
#elif THIS_TOOL == TOOL_mvtree
	tu_mvtree_opts_init(&c->o);
#elif THIS_TOOL == TOOL_dedup
	tu_dedup_opts_init(&c->o);
#elif THIS_TOOL == TOOL_hashcache
	tu_hashcache_opts_init(&c->o);
#endif
}

static bool operand_of(const char *a, char **argv, int argc)
{
	for (int i = 1; i < argc; i++)
		if (a == argv[i])
			return true;
	return false;
}

static void check_and_release(struct cli *c, int argc, char **argv)
{
	if (c->o.jobs < 0 || c->o.jobs > 1024)
		abort();
	if (c->nargs < 0 || c->nargs > argc)
		abort();
	for (int i = 0; i < c->nargs; i++)
		if (!operand_of(c->args[i], argv, argc))
			abort();
#if THIS_TOOL == TOOL_rmtree || THIS_TOOL == TOOL_cptree || THIS_TOOL == TOOL_mvtree
	if (!(c->o.timeout >= 0) || !isfinite(c->o.timeout))
		abort();
#endif
#if THIS_TOOL == TOOL_dedup
	free(c->exclude);
#endif
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tu_cli_init(STR(TOOL));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAXARGS = 64 };
	if (size > 1 << 14)
		return 0;
	/* Each argument its own allocation, so ASan sees its end. */
	char *argv[MAXARGS + 2];
	int argc = 0;
	argv[argc++] = strdup(STR(TOOL));
	for (size_t at = 0; at < size && argc <= MAXARGS;) {
		const uint8_t *nul = memchr(data + at, 0, size - at);
		size_t n = nul ? (size_t)(nul - (data + at)) : size - at;
		argv[argc++] = strndup((const char *)data + at, n);
		at += n + 1;
	}
	argv[argc] = NULL;
	/* glibc's argp has a hidden --HANG[=SECONDS] that sleeps (for attaching
	   a debugger; found by this fuzzer as a timeout): not ours to test. */
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--H", 3)) {
			for (int j = 0; j < argc; j++)
				free(argv[j]);
			return 0;
		}
	}
	char *copy[MAXARGS + 2];
	memcpy(copy, argv, sizeof copy);

	static struct cli c;
	init(&c);
	in_parse = true;
	if (setjmp(usage_error) == 0)
		argp_parse(&argp, argc, argv, ARGP_NO_EXIT, NULL, &c);
	in_parse = false;
	check_and_release(&c, argc, argv);

	for (int i = 0; i < argc; i++)
		free(copy[i]);
	return 0;
}
