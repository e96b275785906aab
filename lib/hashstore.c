/* SPDX-License-Identifier: Apache-2.0 */
/* hashstore.c: hash cache records in an xattr or a .spookyhashes sidecar
 * (see hashstore.h; the formats are documented in man/hashcache.1).
 *
 * This file must never follow a symlink, never act on a path string (every
 * call is a held fd, or a directory fd and one name), never edit a sidecar in
 * place, and never trust a sidecar line it cannot fully parse and check.
 */
#define TU_INTERNAL
#include "hashstore.h"
#include "handle.h"
#include "meta.h"
#include "data.h"
#include "spooky.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>


/* ---- xattr records ---------------------------------------------------------- */

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t tu_xattr_encode(const struct tu_hashrec *r, unsigned char *out)
{
	out[0] = TU_XATTR_VERSION;
	memcpy(out + 1, r->digest, 16);
	put_le64(out + 17, r->size);
	put_le64(out + 25, (uint64_t)r->mtime_ns);
	put_le64(out + 33, (uint64_t)r->hashed_ns);
	put_le64(out + 41, (uint64_t)r->written_ns);
	return TU_XATTR_LEN;
}

int tu_xattr_decode(const void *buf, size_t len, struct tu_hashrec *r)
{
	const unsigned char *p = buf;
	if (len < 1)
		return -EBADMSG;
	if (p[0] != TU_XATTR_VERSION && p[0] != 1)
		return -EPROTO;
	if (len != (p[0] == 1 ? TU_XATTR_V1_LEN : TU_XATTR_LEN))
		return -EBADMSG;
	memset(r, 0, sizeof *r);
	memcpy(r->digest, p + 1, 16);
	r->size = get_le64(p + 17);
	r->mtime_ns = (int64_t)get_le64(p + 25);
	r->hashed_ns = (int64_t)get_le64(p + 33);
	if (p[0] != 1)
		r->written_ns = (int64_t)get_le64(p + 41);
	return 0;
}

/* getxattrat(2)/removexattrat(2) (Linux 6.13) read and remove by a directory
   fd and a name without opening the file: half the system calls of open,
   fgetxattr, close. 1 = use them, 0 = the kernel said ENOSYS. */
static _Atomic int use_at_calls = 1;

void tu_xattr_use_at_calls(bool use)
{
	atomic_store(&use_at_calls, use ? 1 : 0);
}

/* N: a length read into BUF, or -errno. */
static int decode_result(ssize_t n, const unsigned char *buf, struct tu_hashrec *r)
{
	if (n == -ERANGE)	/* longer than any record of ours */
		return -EBADMSG;
	if (n < 0)
		return (int)n;
	return tu_xattr_decode(buf, (size_t)n, r);
}

int tu_xattr_get_at(int dirfd, const char *name, struct tu_hashrec *r)
{
	if (!atomic_load(&use_at_calls))
		return -ENOSYS;
	unsigned char buf[64];
	ssize_t n = tu_meta_xattr_get_at(dirfd, name, TU_XATTR_NAME, buf, sizeof buf);
	if (n == -ENOSYS) {
		atomic_store(&use_at_calls, 0);
		return -ENOSYS;
	}
	return decode_result(n, buf, r);
}

int tu_xattr_get_fd(int fd, struct tu_hashrec *r)
{
	unsigned char buf[64];
	ssize_t n = tu_meta_xattr_get_fd(fd, TU_XATTR_NAME, buf, sizeof buf);
	return decode_result(n, buf, r);
}

static int64_t coarse_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int tu_xattr_set_fd(int fd, struct tu_hashrec *r)
{
	/* The ctime this write gives the file must be at most written_ns +
	   TU_XATTR_STAMP_SLACK, or the record would look outdated at once
	   (see hashcache.c, the racy rule). The stamp is read before the
	   write. If the coarse clock ticked meanwhile (a preempted call; rare),
	   the ctime is checked, and the record written again if it is late. */
	for (int tries = 0;; tries++) {
		r->written_ns = coarse_now_ns();
		unsigned char buf[TU_XATTR_LEN];
		size_t len = tu_xattr_encode(r, buf);
		int e = tu_meta_xattr_set_fd(fd, TU_XATTR_NAME, buf, len);
		if (e < 0)
			return e;
		if (coarse_now_ns() == r->written_ns || tries == 3)
			return 0;
		struct statx sx;
		if (tu_statx_fd(fd, STATX_CTIME, &sx) < 0)
			return 0;
		int64_t c = (int64_t)sx.stx_ctime.tv_sec * 1000000000LL + sx.stx_ctime.tv_nsec;
		if (c <= r->written_ns + TU_XATTR_STAMP_SLACK)
			return 0;
	}
}

static bool ctime_within(int fd, int64_t w)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_CTIME, &sx) < 0)
		return true;
	int64_t c = (int64_t)sx.stx_ctime.tv_sec * 1000000000LL + sx.stx_ctime.tv_nsec;
	return c <= w + TU_XATTR_STAMP_SLACK;
}

int tu_xattr_set_pair(int fd1, int fd2, struct tu_hashrec *r)
{
	/* As tu_xattr_set_fd, for two files at once. */
	for (int tries = 0;; tries++) {
		r->written_ns = coarse_now_ns();
		unsigned char buf[TU_XATTR_LEN];
		size_t len = tu_xattr_encode(r, buf);
		if (fsetxattr(fd1, TU_XATTR_NAME, buf, len, 0) < 0 ||
		    fsetxattr(fd2, TU_XATTR_NAME, buf, len, 0) < 0)
			return errno == ENOTSUP ? -EOPNOTSUPP : -errno;
		if (coarse_now_ns() == r->written_ns || tries == 3 ||
		    (ctime_within(fd1, r->written_ns) && ctime_within(fd2, r->written_ns)))
			return 0;
	}
}

int tu_xattr_remove_at(int dirfd, const char *name)
{
	if (!atomic_load(&use_at_calls))
		return -ENOSYS;
	int r = tu_meta_xattr_remove_at(dirfd, name, TU_XATTR_NAME);
	if (r == -ENOSYS)
		atomic_store(&use_at_calls, 0);
	return r;
}

int tu_xattr_remove_fd(int fd)
{
	return tu_meta_xattr_remove_fd(fd, TU_XATTR_NAME);
}

/* ---- the sidecar in memory ---------------------------------------------------- */

struct screc {
	struct tu_hashrec r;
	char *name;
	uint64_t hname;
	bool dead;		/* dropped; kept as a tombstone in the tables */
	bool dup;		/* dead because its name appeared twice */
	bool seen;
	bool ours;		/* put in this session, not loaded */
	bool vouched;		/* loaded, and found trusted for its file */
};

struct tu_sidecar {
	struct screc *recs;
	size_t n, cap;		/* records, live and dead */
	size_t live;
	size_t *byname;		/* open addressing: record index + 1, 0 = empty */
	size_t *byino;
	size_t tcap;		/* size of both tables, a power of two */
	bool dirty;
	bool exists;
	bool distrust;		/* a loaded record was refused */
	bool distrust_said;
	mode_t mode;		/* of the file loaded; 0 if none */
	uid_t uid;		/* its owner and group */
	gid_t gid;
	/* How the file will be written (tu_sidecar_write): owner, group and
	   mode. wmode_kept: the loaded file's mode, the directory owner's
	   choice. */
	uid_t wuid;
	gid_t wgid;
	mode_t wmode;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static size_t ino_slot(uint64_t ino, size_t cap)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 31)) & (cap - 1);
}

struct tu_sidecar *tu_sidecar_new(void)
{
	struct tu_sidecar *s = calloc(1, sizeof(struct tu_sidecar));
	if (s) {
		s->wuid = geteuid();
		s->wgid = getegid();
		s->wmode = 0600;
	}
	return s;
}

void tu_sidecar_free(struct tu_sidecar *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->recs[i].name);
	free(s->recs);
	free(s->byname);
	free(s->byino);
	free(s);
}

static void table_insert(struct tu_sidecar *s, size_t idx)
{
	struct screc *rec = &s->recs[idx];
	size_t i = (size_t)rec->hname & (s->tcap - 1);
	while (s->byname[i])
		i = (i + 1) & (s->tcap - 1);
	s->byname[i] = idx + 1;
	i = ino_slot(rec->r.ino, s->tcap);
	while (s->byino[i])
		i = (i + 1) & (s->tcap - 1);
	s->byino[i] = idx + 1;
}

/* Make room for one more record. Dead records are dropped when the tables
   are rebuilt, so a long-lived sidecar does not fill up with tombstones. */
static int grow(struct tu_sidecar *s)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct screc *nr = realloc(s->recs, ncap * sizeof *nr);
		if (!nr)
			return -ENOMEM;
		s->recs = nr;
		s->cap = ncap;
	}
	if ((s->n + 1) * 2 <= s->tcap)
		return 0;
	size_t ncap = s->tcap ? s->tcap : 32;
	while ((s->n + 1) * 2 > ncap)
		ncap *= 2;
	size_t *bn = calloc(ncap, sizeof *bn);
	size_t *bi = calloc(ncap, sizeof *bi);
	if (!bn || !bi) {
		free(bn);
		free(bi);
		return -ENOMEM;
	}
	free(s->byname);
	free(s->byino);
	s->byname = bn;
	s->byino = bi;
	s->tcap = ncap;
	for (size_t i = 0; i < s->n; i++)
		table_insert(s, i);
	return 0;
}

/* The record named NAME, dead ones too when WANT_DEAD. */
static struct screc *find_rec(struct tu_sidecar *s, const char *name, bool want_dead)
{
	if (!s->tcap)
		return NULL;
	uint64_t h = hash_name(name);
	struct screc *dead = NULL;
	for (size_t i = (size_t)h & (s->tcap - 1); s->byname[i]; i = (i + 1) & (s->tcap - 1)) {
		struct screc *rec = &s->recs[s->byname[i] - 1];
		if (rec->hname != h || strcmp(rec->name, name) != 0)
			continue;
		if (!rec->dead)
			return rec;
		if (rec->dup)
			dead = rec;
	}
	return want_dead ? dead : NULL;
}

static int add_rec(struct tu_sidecar *s, const char *name, const struct tu_hashrec *r)
{
	int e = grow(s);
	if (e < 0)
		return e;
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	struct screc *rec = &s->recs[s->n];
	*rec = (struct screc){ .r = *r, .name = copy, .hname = hash_name(name) };
	table_insert(s, s->n);
	s->n++;
	s->live++;
	return 0;
}

static void kill_rec(struct tu_sidecar *s, struct screc *rec)
{
	rec->dead = true;
	s->live--;
	s->dirty = true;
}

const struct tu_hashrec *tu_sidecar_find(struct tu_sidecar *s, const char *name)
{
	struct screc *rec = find_rec(s, name, false);
	return rec ? &rec->r : NULL;
}

const struct tu_hashrec *tu_sidecar_find_ino(struct tu_sidecar *s, uint64_t ino,
					     const struct tu_hashrec *prev)
{
	if (!s->tcap)
		return NULL;
	bool past = prev == NULL;
	for (size_t i = ino_slot(ino, s->tcap); s->byino[i]; i = (i + 1) & (s->tcap - 1)) {
		struct screc *rec = &s->recs[s->byino[i] - 1];
		if (rec->dead || rec->r.ino != ino)
			continue;
		if (past)
			return &rec->r;
		if (&rec->r == prev)
			past = true;
	}
	return NULL;
}

int tu_sidecar_put(struct tu_sidecar *s, const char *name, const struct tu_hashrec *r)
{
	struct screc *rec = find_rec(s, name, false);
	s->dirty = true;
	if (rec && rec->r.ino == r->ino) {
		rec->r = *r;
		rec->seen = true;
		rec->ours = true;
		return 0;
	}
	/* A new inode under the name: a new record, so the inode table stays
	   right. */
	if (rec)
		kill_rec(s, rec);
	int e = add_rec(s, name, r);
	if (e == 0) {
		s->recs[s->n - 1].seen = true;
		s->recs[s->n - 1].ours = true;
	}
	return e;
}

/* The record R points into. */
static struct screc *rec_of(const struct tu_hashrec *r)
{
	return (struct screc *)(void *)((char *)r - offsetof(struct screc, r));
}

bool tu_sidecar_trusted(struct tu_sidecar *s, const struct tu_hashrec *r, uid_t file_uid)
{
	struct screc *rec = rec_of(r);
	if (rec->ours || rec->vouched)
		return true;
	if ((s->uid == 0 || s->uid == file_uid) && !(s->mode & 022)) {
		rec->vouched = true;
		return true;
	}
	s->distrust = true;
	return false;
}

bool tu_sidecar_take_distrust(struct tu_sidecar *s)
{
	bool d = s->distrust && !s->distrust_said;
	if (d)
		s->distrust_said = true;	/* once for this file */
	return d;
}

bool tu_sidecar_may_publish(const struct tu_sidecar *s, uid_t fuid, gid_t fgid, mode_t fmode)
{
	/* Everyone may read it: so may everyone read the file. */
	if (s->wmode & 004)
		return (fmode & 004) != 0;
	/* Its group: every member must be able to read the file, by its
	   group or by everyone. */
	if ((s->wmode & 040) && !((fmode & 004) || (fgid == s->wgid && (fmode & 040))))
		return false;
	/* Its owner (and root, who reads everything). Membership of the
	   file's group is not looked up: such a record is left out, which is
	   safe. */
	return s->wuid == 0 || (fmode & 004) || (fuid == s->wuid && (fmode & 0400));
}

bool tu_sidecar_del(struct tu_sidecar *s, const char *name)
{
	struct screc *rec = find_rec(s, name, false);
	if (!rec)
		return false;
	kill_rec(s, rec);
	return true;
}

void tu_sidecar_seen(struct tu_sidecar *s, const char *name)
{
	struct screc *rec = find_rec(s, name, false);
	if (rec)
		rec->seen = true;
}

size_t tu_sidecar_prune(struct tu_sidecar *s)
{
	size_t gone = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->recs[i].dead && !s->recs[i].seen) {
			kill_rec(s, &s->recs[i]);
			gone++;
		}
	}
	return gone;
}

size_t tu_sidecar_count(const struct tu_sidecar *s) { return s->live; }
bool tu_sidecar_dirty(const struct tu_sidecar *s) { return s->dirty; }
bool tu_sidecar_exists(const struct tu_sidecar *s) { return s->exists; }

/* ---- the sidecar as text -------------------------------------------------------- */

void tu_sidecar_escape(const char *name, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)name;
	char *p = out;
	while (*u) {
		size_t n = tu_utf8_len(u);
		if (*u <= 0x20 || *u == 0x7f || *u == '\\' || n == 0) {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[*u >> 4];
			*p++ = hex[*u & 15];
			u++;
		} else {
			memcpy(p, u, n);
			p += n;
			u += n;
		}
	}
	*p = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo tu_sidecar_escape on the LEN bytes at S into OUT (LEN + 1 bytes).
   Refuses what escape() never writes: raw bytes it escapes, bad escapes, an
   empty name, '/', NUL, "." and "..". */
static bool unescape(const char *s, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
		if (c == '\\') {
			if (len - i < 4 || s[i + 1] != 'x')
				return false;
			int hi = hexval(s[i + 2]), lo = hexval(s[i + 3]);
			if (hi < 0 || lo < 0)
				return false;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0)
				return false;
			i += 3;
		}
		if (c == '/')
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return false;
	return true;
}

/* Strict decimal: no sign unless SIGNED and '-', no leading zeros. */
static bool parse_dec(const char *s, size_t len, bool is_signed, uint64_t *out)
{
	bool neg = false;
	if (is_signed && len > 0 && s[0] == '-') {
		neg = true;
		s++;
		len--;
	}
	if (len == 0 || len > 20 || (s[0] == '0' && len > 1) || (neg && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (is_signed) {
		if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
			return false;
		*out = neg ? (uint64_t)0 - v : v;
	} else {
		*out = v;
	}
	return true;
}

static bool parse_hex(const char *s, size_t len, unsigned char *out, size_t nbytes)
{
	if (len != nbytes * 2)
		return false;
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* The check value of a line: the low 32 bits of hash1 of the text before
   the space that precedes it. */
static uint32_t line_check(const char *s, size_t len)
{
	uint64_t h1 = 0, h2 = 0;
	tu_spooky_hash128(s, len, &h1, &h2);
	return (uint32_t)h1;
}

enum { NFIELDS = 8 };

/* Parse one record line (without its newline). NAME gets LEN + 1 bytes. */
static const char *parse_line(const char *s, size_t len, struct tu_hashrec *r, char *name)
{
	const char *f[NFIELDS];
	size_t fl[NFIELDS];
	size_t nf = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (nf == NFIELDS || i == start)
			return "not a record";
		f[nf] = s + start;
		fl[nf] = i - start;
		nf++;
		start = i + 1;
	}
	if (nf != NFIELDS)
		return "not a record";
	uint64_t v[5];
	unsigned char chk[4];
	if (!parse_hex(f[0], fl[0], r->digest, 16) ||
	    !parse_dec(f[1], fl[1], false, &v[0]) ||
	    !parse_dec(f[2], fl[2], true, &v[1]) ||
	    !parse_dec(f[3], fl[3], true, &v[2]) ||
	    !parse_dec(f[4], fl[4], false, &v[3]) ||
	    !parse_dec(f[5], fl[5], true, &v[4]) ||
	    !parse_hex(f[7], fl[7], chk, 4))
		return "not a record";
	uint32_t want = (uint32_t)chk[0] << 24 | (uint32_t)chk[1] << 16 |
			(uint32_t)chk[2] << 8 | chk[3];
	if (line_check(s, (size_t)(f[7] - s - 1)) != want)
		return "bad check value";
	if (!unescape(f[6], fl[6], name))
		return "bad name";
	r->size = v[0];
	r->mtime_ns = (int64_t)v[1];
	r->ctime_ns = (int64_t)v[2];
	r->ino = v[3];
	r->hashed_ns = (int64_t)v[4];
	return NULL;
}

static const char header_word[] = "spookyhashes ";

/* The first line: "spookyhashes 1". Returns NULL if it is ours. */
static const char *parse_header(const char *s, size_t len, char *why, size_t whylen)
{
	size_t hl = sizeof header_word - 1;
	if (len < hl + 1 || memcmp(s, header_word, hl) != 0)
		return "not a .spookyhashes file: bad first line";
	uint64_t v;
	if (!parse_dec(s + hl, len - hl, false, &v)) {
		snprintf(why, whylen, "bad version in the first line");
		return why;
	}
	if (v != TU_SIDECAR_VERSION) {
		snprintf(why, whylen, "unknown version %" PRIu64 " (this is version %d)", v,
			 TU_SIDECAR_VERSION);
		return why;
	}
	return NULL;
}

void tu_sidecar_parse(struct tu_sidecar *s, const char *buf, size_t len,
		      tu_sidecar_warn_fn *warn, void *ctx)
{
	char why[96];
	unsigned lineno = 0;
	char *name = NULL;
	size_t pos = 0;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		lineno++;
		const char *bad = NULL;
		if (!nl) {
			bad = "truncated: no newline at the end";
		} else if (lineno == 1) {
			bad = parse_header(line, ll, why, sizeof why);
			if (bad) {
				/* Nothing in a file we cannot name the version
				   of is trusted. */
				if (warn)
					warn(1, bad, ctx);
				s->dirty = true;
				free(name);
				return;
			}
			continue;
		}
		if (!bad) {
			char *nn = realloc(name, ll + 1);
			if (!nn) {
				s->dirty = true;
				break;
			}
			name = nn;
			struct tu_hashrec r;
			bad = parse_line(line, ll, &r, name);
			if (!bad) {
				struct screc *old = find_rec(s, name, true);
				if (old) {
					/* Which of two records is right cannot be
					   told: neither is trusted. */
					if (!old->dead)
						kill_rec(s, old);
					old->dup = true;
					bad = "duplicate name, all its records ignored";
				} else if (add_rec(s, name, &r) < 0) {
					s->dirty = true;
					break;
				}
			}
		}
		if (bad) {
			if (warn)
				warn(lineno, bad, ctx);
			s->dirty = true;
		}
	}
	if (lineno == 0) {
		if (warn)
			warn(0, "empty file", ctx);
		s->dirty = true;
	}
	free(name);
}

/* Whether REC goes in the text: always, unless FILTER and it is a loaded
   record nobody vouched for. */
static bool rec_written(const struct screc *rec, bool filter)
{
	return !rec->dead && (!filter || rec->ours || rec->vouched);
}

static char *format_text(const struct tu_sidecar *s, bool filter, size_t *len)
{
	size_t cap = 32;
	for (size_t i = 0; i < s->n; i++)
		if (rec_written(&s->recs[i], filter))
			cap += 160 + 4 * strlen(s->recs[i].name);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = (size_t)snprintf(out, cap, "%s%d\n", header_word, TU_SIDECAR_VERSION);
	for (size_t i = 0; i < s->n; i++) {
		const struct screc *rec = &s->recs[i];
		if (!rec_written(rec, filter))
			continue;
		char *line = out + o;
		char hex[33];
		tu_spooky_hex(rec->r.digest, hex);
		int n = snprintf(line, cap - o, "%s %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64
				 " %" PRId64 " ", hex, rec->r.size, rec->r.mtime_ns,
				 rec->r.ctime_ns, rec->r.ino, rec->r.hashed_ns);
		tu_sidecar_escape(rec->name, line + n);
		size_t ll = (size_t)n + strlen(line + n);
		o += ll;
		o += (size_t)snprintf(out + o, cap - o, " %08" PRIx32 "\n", line_check(line, ll));
	}
	*len = o;
	return out;
}

char *tu_sidecar_format(const struct tu_sidecar *s, size_t *len)
{
	return format_text(s, false, len);
}

/* ---- the sidecar on disk ------------------------------------------------------------ */

/* Who will own the file S is written as, and with what mode (see
   tu_sidecar_write in hashstore.h). DIR is the directory's stat. */
static void plan_write(struct tu_sidecar *s, const struct stat *dir)
{
	uid_t euid = geteuid();
	bool owners_choice = s->exists && s->uid == dir->st_uid;
	s->wuid = euid == 0 ? dir->st_uid : euid;
	s->wgid = euid == 0 ? dir->st_gid : getegid();
	s->wmode = 0600;
	if (owners_choice && s->wuid == s->uid) {
		s->wmode = s->mode & 0666;
		s->wgid = s->gid;
	}
}

static int read_bounded(int fd, size_t limit, char **bufp, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap > limit) {
				free(buf);
				return -EFBIG;	/* it grew meanwhile */
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = tu_read_some(fd, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int tu_sidecar_load(int dirfd, struct tu_sidecar **out, tu_sidecar_warn_fn *warn, void *ctx)
{
	*out = NULL;
	struct stat dir;
	int r = tu_stat_fd(dirfd, &dir);
	if (r < 0)
		return r;
	struct tu_sidecar *s = tu_sidecar_new();
	if (!s)
		return -ENOMEM;
	/* Non-blocking: a FIFO planted under our name must not hang us; it is
	   refused by the S_ISREG check before anything is read. */
	int fd = tu_file_open_at(dirfd, TU_SIDECAR_NAME, false);
	if (fd < 0) {
		if (fd == -ENOENT) {
			plan_write(s, &dir);
			*out = s;
			return 0;
		}
		tu_sidecar_free(s);
		return fd;
	}
	struct stat st;
	r = tu_stat_fd(fd, &st);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r < 0) {
		close(fd);
		tu_sidecar_free(s);
		return r;
	}
	s->exists = true;
	s->mode = st.st_mode & 07777;
	s->uid = st.st_uid;
	s->gid = st.st_gid;
	plan_write(s, &dir);
	/* Bounded by the directory, so a sparse giant costs its planter a few
	   blocks and us nothing. */
	uint64_t limit = (uint64_t)dir.st_size * TU_SIDECAR_PER_DIRBYTE;
	if (limit < TU_SIDECAR_FLOOR)
		limit = TU_SIDECAR_FLOOR;
	if (limit > TU_SIDECAR_MAX)
		limit = TU_SIDECAR_MAX;
	char *buf = NULL;
	size_t len = 0;
	if ((uint64_t)st.st_size > limit)
		r = -EFBIG;
	else
		r = read_bounded(fd, (size_t)limit, &buf, &len);
	close(fd);
	if (r == -EFBIG) {
		char why[128];
		snprintf(why, sizeof why, "damaged: larger than its directory could need, "
			 "%" PRIu64 " bytes where at most %" PRIu64 " could be", (uint64_t)st.st_size, limit);
		if (warn)
			warn(0, why, ctx);
		s->dirty = true;	/* replaced by what this run learns */
		*out = s;
		return 0;
	}
	if (r < 0) {
		tu_sidecar_free(s);
		return r;
	}
	tu_sidecar_parse(s, buf, len, warn, ctx);
	free(buf);
	*out = s;
	return 0;
}

int tu_sidecar_write(int dirfd, struct tu_sidecar *s)
{
	if (s->live == 0) {
		int r = tu_unlink_at(dirfd, TU_SIDECAR_NAME);
		if (r < 0 && r != -ENOENT)
			return r;
		s->dirty = false;
		s->exists = false;
		return 0;
	}
	/* A file we did not write, or that others could write, vouches for
	   none of its records by itself: only those found trusted for their
	   files go on (a forged record must not gain our file's trust). */
	bool filter = s->exists && (s->uid != s->wuid || (s->mode & 022));
	size_t len;
	char *text = format_text(s, filter, &len);
	if (!text)
		return -ENOMEM;
	char tmp[TU_TMP_NAME_MAX];
	int fd = tu_file_create_tmp(dirfd, tmp);	/* 0600, a fresh name */
	if (fd < 0) {
		free(text);
		return fd;
	}
	/* Made 0600 and written at once (a kill leaves as little as it can),
	   then given its owner and then its mode: a chown may clear mode bits. */
	int r = tu_write_all(fd, text, len);
	mode_t mode = s->wmode;
	struct stat made;
	if (r == 0)
		r = tu_stat_fd(fd, &made);
	if (r == 0 && (made.st_uid != s->wuid || made.st_gid != s->wgid) &&
	    tu_chown_fd(fd, s->wuid, s->wgid) < 0)
		mode &= 0600;	/* FAT and friends keep one owner: ours, 0600 */
	if (r == 0 && mode != 0600)
		r = tu_chmod_fd(fd, mode);
	/* The data must be on disk before the name points at it, or a crash
	   could leave an empty .spookyhashes. */
	if (r == 0)
		r = tu_sync_fd(fd);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		r = tu_rename_at(dirfd, tmp, dirfd, TU_SIDECAR_NAME);
	if (r < 0)
		tu_unlink_at(dirfd, tmp);
	free(text);
	if (r == 0) {
		s->dirty = false;
		s->exists = true;
		s->uid = s->wuid;
		s->gid = s->wgid;
		s->mode = mode;
		/* What was left out is gone from the file: forget it. */
		for (size_t i = 0; filter && i < s->n; i++) {
			struct screc *rec = &s->recs[i];
			if (!rec->dead && !rec_written(rec, true)) {
				rec->dead = true;
				s->live--;
			}
		}
	}
	return r;
}
