/* SPDX-License-Identifier: Apache-2.0 */
/* common.c: shared front-end code (see common.h). It may print; it must not
 * touch the trees the tools work on.
 */
#include "common.h"

#include <argp.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *argp_program_bug_address = "the treeutils issue tracker";
const char *tu_prog = "treeutils";

/* --version, in the GNU form: program, package and version on the first
   line, then the copyright and the licence (TU_VERSION comes from the
   Makefile's VERSION, the one place it is kept). */
static void print_version(FILE *f, struct argp_state *state)
{
	(void)state;
	fprintf(f, "%s (treeutils) %s\n"
		"Copyright (C) 2026 The treeutils authors.\n"
		"License Apache-2.0: Apache License, Version 2.0 "
		"<https://www.apache.org/licenses/LICENSE-2.0>.\n"
		"This is free software: you are free to change and redistribute it.\n"
		"There is NO WARRANTY, to the extent permitted by law.\n",
		tu_prog, TU_VERSION);
}
void (*argp_program_version_hook)(FILE *, struct argp_state *) = print_version;

void tu_cli_init(const char *prog)
{
	tu_prog = prog;
	argp_err_exit_status = TU_EXIT_USAGE;
}

static char quote_oom[] = "'?'";

char *tu_quote(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len * 4 + 3);
	if (!out)
		return quote_oom;
	char *p = out;
	*p++ = '\'';
	const unsigned char *u = (const unsigned char *)s;
	while (*u) {
		unsigned c = *u;
		size_t n = tu_utf8_len(u);
		if (c == '\'' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			u++;
		} else if (c == '\n') {
			*p++ = '\\'; *p++ = 'n'; u++;
		} else if (c == '\t') {
			*p++ = '\\'; *p++ = 't'; u++;
		} else if (c < 0x20 || c == 0x7f || n == 0) {
			p += sprintf(p, "\\x%02x", c);
			u++;
		} else {
			memcpy(p, u, n);
			p += n;
			u += n;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

void tu_quote_free(char *q)
{
	if (q != quote_oom)
		free(q);
}

static void print_problem(const char *kind, const struct tu_err *e)
{
	char *q = tu_quote(e->path);
	tu_out_begin(stderr);
	if (e->detail)
		fprintf(stderr, "%s: %scannot %s %s: %s (%s)\n", tu_prog, kind, e->op, q,
			strerror(e->err), e->detail);
	else
		fprintf(stderr, "%s: %scannot %s %s: %s\n", tu_prog, kind, e->op, q,
			strerror(e->err));
	tu_out_end(stderr);
	tu_quote_free(q);
}

void tu_print_err(const struct tu_err *e)
{
	print_problem("", e);
}

void tu_print_warning(const struct tu_err *e)
{
	print_problem("warning: ", e);
}

int tu_report_error(const struct tu_err *e, void *ctx)
{
	struct tu_report *r = ctx;
	r->errors++;
	tu_print_err(e);
	return TU_CONTINUE;
}

int tu_exit_status(int r, bool reported)
{
	if (r < 0)
		return TU_EXIT_USAGE;
	if (r == TU_PARTIAL || reported)
		return TU_EXIT_SOME;
	return TU_EXIT_OK;	/* 0, TU_RMTREE_KEPT */
}

int tu_exit_status_operand(int status, int r, bool reported)
{
	int s = tu_exit_status(r, reported);
	if (s == TU_EXIT_USAGE)
		s = TU_EXIT_SOME;
	return s > status ? s : status;
}

int tu_report_warning(const struct tu_err *e, void *ctx)
{
	struct tu_report *r = ctx;
	r->warnings++;
	if (e->err == EPERM && e->op &&
	    (strcmp(e->op, "set owner") == 0 || strcmp(e->op, "set group") == 0)) {
		if (e->op[4] == 'o')
			r->owners_lost++;
		else
			r->groups_lost++;
		if (e->detail)
			r->bits_dropped++;
		return TU_CONTINUE;
	}
	tu_print_warning(e);
	return TU_CONTINUE;
}

static const char *entries_word(long n)
{
	return n == 1 ? "entry" : "entries";
}

void tu_report_summary(const struct tu_report *r)
{
	long o = r->owners_lost, g = r->groups_lost;
	if (!o && !g)
		return;
	char what[160];
	if (o && g)
		snprintf(what, sizeof what, "the owner of %ld %s and the group of %ld %s", o,
			 entries_word(o), g, entries_word(g));
	else
		snprintf(what, sizeof what, "the %s of %ld %s", o ? "owner" : "group", o ? o : g,
			 entries_word(o ? o : g));
	if (r->bits_dropped)
		tu_warn("warning: could not keep %s (not root); %ld of them lost a setuid or "
			"setgid bit", what, r->bits_dropped);
	else
		tu_warn("warning: could not keep %s (not root)", what);
}

void tu_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tu_out_begin(stderr);
	fprintf(stderr, "%s: ", tu_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	tu_out_end(stderr);
	va_end(ap);
}

int tu_parse_jobs(const char *arg, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 1024)
		return -1;
	*out = (int)v;
	return 0;
}

int tu_parse_seconds(const char *arg, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0) || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

int tu_parse_store(const char *arg, enum tu_hashcache_store *out)
{
	static const struct { const char *name; enum tu_hashcache_store v; } stores[] = {
		{ "auto", TU_STORE_AUTO }, { "xattr", TU_STORE_XATTR }, { "file", TU_STORE_FILE },
	};
	for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
		if (strcmp(arg, stores[i].name) == 0) {
			*out = stores[i].v;
			return 0;
		}
	}
	return -1;
}

int tu_parse_choice(struct argp_state *state, const char *option, const char *arg,
		    const char *const *names)
{
	size_t len = strlen(arg);
	int found = -1, matches = 0;
	char want[200] = "";
	size_t w = 0;
	for (int i = 0; names[i]; i++) {
		if (strcmp(arg, names[i]) == 0)
			return i;
		if (len && strncmp(arg, names[i], len) == 0) {
			found = i;
			matches++;
		}
		int n = snprintf(want + w, sizeof want - w, "%s%s",
				 i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
		if (n > 0 && (size_t)n < sizeof want - w)
			w += (size_t)n;
	}
	if (matches == 1)
		return found;
	argp_error(state, "%s argument '%s' for '%s': want %s",
		   matches ? "ambiguous" : "invalid", arg, option, want);
	return -1;	/* not reached: argp_error exits */
}

enum tu_reflink tu_parse_reflink(struct argp_state *state, const char *arg)
{
	static const char *const names[] = { "auto", "always", "never", NULL };
	static const enum tu_reflink values[] = {
		TU_REFLINK_AUTO, TU_REFLINK_ALWAYS, TU_REFLINK_NEVER,
	};
	if (!arg)
		return TU_REFLINK_ALWAYS;
	return values[tu_parse_choice(state, "--reflink", arg, names)];
}

void tu_print_path(FILE *f, const char *prefix, const char *path, bool nul)
{
	if (nul) {
		fputs(path, f);
		fputc('\0', f);
		return;
	}
	char *q = tu_quote(path);
	tu_out_begin(f);
	fprintf(f, "%s%s\n", prefix ? prefix : "", q);
	tu_out_end(f);
	tu_quote_free(q);
}

/* ---- progress ------------------------------------------------------------ */

/* The progress line lives on stderr, which every message shares, so the
   line and the messages take turns under one lock: a message clears the
   line first and draws it again after itself (out_begin/out_end). SHOWN is
   the one line drawn now, or NULL; a process has one stderr, so this is the
   one piece of global state here, and it is no option. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tu_progress *_Atomic shown;

struct tu_progress {
	struct tu_stats *stats;
	const struct tu_stats *total;	/* NULL, or filled in while we run */
	const char *verb, *noun;
	bool bytes;
	pthread_t thread;
	pthread_cond_t cond;		/* with out_lock */
	bool stop;
	bool drawn;			/* the line is on the terminal now */
	double start;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(char *buf, size_t len, double v)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Seconds as h:mm:ss, as rsync and pv show times. */
static void hms(char *buf, size_t len, double secs)
{
	if (!(secs >= 0) || secs > 1e8)
		secs = 0;
	unsigned long t = (unsigned long)(secs + 0.5);
	snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

/* ", 42%, ETA 0:00:12" once the total is known (the last line: the
   percentage). Work done is bytes plus 4 KiB per entry, so small-file and
   big-file trees both give a fair estimate. */
static int progress_eta(struct tu_progress *p, double t, bool final, char *buf, size_t len)
{
	const struct tu_stats *tot = p->total;
	uint64_t te = tot ? atomic_load(&tot->entries) : 0;
	if (te == 0)
		return 0;
	double all = (double)atomic_load(&tot->bytes) + 4096.0 * (double)te;
	double done = (double)atomic_load(&p->stats->bytes) +
		      4096.0 * (double)atomic_load(&p->stats->entries);
	double f = done < all ? done / all : 1.0;
	if (final || f <= 0 || t <= 0)
		return snprintf(buf, len, ", %.0f%%", 100 * f);
	char eta[32];
	hms(eta, sizeof eta, t * (1 - f) / f);
	return snprintf(buf, len, ", %.0f%%, ETA %s", 100 * f, eta);
}

/* The terminal's width, so the line never wraps (a wrapped line cannot be
   cleared with one carriage return). */
static int term_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

/* Draw the line, under out_lock: "\r", the line, and "erase to the end of
   the line"; the last one ends with a newline. */
static void progress_draw(struct tu_progress *p, bool final)
{
	double t = mono() - p->start;
	uint64_t n = atomic_load(&p->stats->entries);
	uint64_t err = atomic_load(&p->stats->errors);
	double rate = t > 0 ? (double)n / t : 0;
	char line[256];
	/* Short enough for 80 columns: the rate of bytes where there are
	   bytes, else of entries. */
	int len = p->bytes ? snprintf(line, sizeof line, "%s %llu %s", p->verb,
				      (unsigned long long)n, p->noun)
			   : snprintf(line, sizeof line, "%s %llu %s (%.0f/s)", p->verb,
				      (unsigned long long)n, p->noun, rate);
	if (p->bytes) {
		char b[32], br[32];
		double bytes = (double)atomic_load(&p->stats->bytes);
		human(b, sizeof b, bytes);
		human(br, sizeof br, t > 0 ? bytes / t : 0);
		len += snprintf(line + len, sizeof line - (size_t)len, ", %s (%s/s)", b, br);
	}
	if (err)
		len += snprintf(line + len, sizeof line - (size_t)len, ", %llu error%s",
				(unsigned long long)err, err == 1 ? "" : "s");
	char el[32];
	hms(el, sizeof el, t);
	len += snprintf(line + len, sizeof line - (size_t)len, ", %s", el);
	len += progress_eta(p, t, final, line + len, sizeof line - (size_t)len);
	int w = term_width() - 1;
	if (len > w)
		len = w;
	fprintf(stderr, "\r%.*s\033[K%s", len, line, final ? "\n" : "");
	fflush(stderr);
	p->drawn = !final;
}

/* Before a message on stderr (or a record on stdout, when that is the same
   terminal): take the turn, and clear the line if it is drawn. */
static void out_begin(void)
{
	pthread_mutex_lock(&out_lock);
	struct tu_progress *p = shown;
	if (p && p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = false;
	}
}

/* After it: draw the line again below the message, and give the turn back. */
static void out_end(FILE *f)
{
	struct tu_progress *p = shown;
	if (p) {
		fflush(f);
		progress_draw(p, false);
	}
	pthread_mutex_unlock(&out_lock);
}

/* Records on stdout clear and redraw the line only when stdout is a
   terminal too; otherwise they cannot meet it. */
static bool out_meets_line(FILE *f)
{
	static _Atomic int stdout_tty = -1;
	if (!atomic_load(&shown))
		return false;
	if (f == stderr)
		return true;
	if (f != stdout)
		return isatty(fileno(f));
	int t = atomic_load(&stdout_tty);
	if (t < 0) {
		t = isatty(STDOUT_FILENO);
		atomic_store(&stdout_tty, t);
	}
	return t;
}

static void *progress_main(void *arg)
{
	struct tu_progress *p = arg;
	pthread_mutex_lock(&out_lock);
	while (!p->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;	/* 10 times a second at most */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &out_lock, &ts);
		if (!p->stop)
			progress_draw(p, false);
	}
	pthread_mutex_unlock(&out_lock);
	return NULL;
}

struct tu_progress *tu_progress_start(struct tu_stats *stats, const char *verb, const char *noun,
				      bool bytes)
{
	/* Only for a person watching: not into a log or a pipe (as pv(1),
	   which draws nothing when stderr is not a terminal). */
	if (!isatty(STDERR_FILENO))
		return NULL;
	struct tu_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->stats = stats;
	p->verb = verb;
	p->noun = noun;
	p->bytes = bytes;
	p->start = mono();
	pthread_cond_init(&p->cond, NULL);
	pthread_mutex_lock(&out_lock);
	shown = p;
	pthread_mutex_unlock(&out_lock);
	if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
		pthread_mutex_lock(&out_lock);
		shown = NULL;
		pthread_mutex_unlock(&out_lock);
		pthread_cond_destroy(&p->cond);
		free(p);
		return NULL;
	}
	return p;
}

void tu_progress_set_total(struct tu_progress *p, const struct tu_stats *total)
{
	if (!p)
		return;
	pthread_mutex_lock(&out_lock);
	p->total = total;
	pthread_mutex_unlock(&out_lock);
}

void tu_progress_stop(struct tu_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&out_lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&out_lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_lock(&out_lock);
	fflush(stdout);
	progress_draw(p, true);
	shown = NULL;
	pthread_mutex_unlock(&out_lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void tu_out_begin(FILE *f)
{
	if (out_meets_line(f))
		out_begin();
}

void tu_out_end(FILE *f)
{
	if (out_meets_line(f))
		out_end(f);
}

void tu_print_copy_item(FILE *f, const struct tu_copy_item *it, bool nul)
{
	char code[12];
	char first = it->type == 'f' && it->how == 'c' ? '>' : it->how == 'h' || it->how == 'l' ? 'h' : 'c';
	snprintf(code, sizeof code, "%c%c+++++++++", first, it->type);
	bool dir = it->type == 'd';
	tu_out_begin(f);
	if (nul) {
		fprintf(f, "%s %s%s", code, it->path, dir && strcmp(it->path, ".") ? "/" : "");
		if (it->target)
			fprintf(f, " %s %s", it->how == 'h' ? "=>" : "->", it->target);
		fputc('\0', f);
		tu_out_end(f);
		return;
	}
	char *p = tu_quote(it->path);
	fprintf(f, "%s %s", code, p);
	tu_quote_free(p);
	if (it->target) {
		char *t = tu_quote(it->target);
		fprintf(f, " %s %s", it->how == 'h' ? "=>" : "->", t);
		tu_quote_free(t);
	}
	fputc('\n', f);
	tu_out_end(f);
}

/* ---- signals ---------------------------------------------------------------- */

volatile sig_atomic_t tu_interrupted;

static void on_signal(int sig)
{
	tu_interrupted = sig;
}

void tu_signals_catch(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND | SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

void tu_signals_reraise(void)
{
	int sig = tu_interrupted;
	fflush(stdout);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);	/* never reached: the default action ends us */
}
