/* SPDX-License-Identifier: Apache-2.0 */
/* move_marker.c: the marker of a move across filesystems, .tu-mv-KEY.ok
 * beside DEST. Written and synced once the hidden copy is verified and
 * synced, before the copy is renamed into place; it records SOURCE's and the
 * copy's identities and when the copy began, so that a later run can finish
 * the move (see move.c for the states).
 *
 * It must never be trusted unless whole, a regular file of ours (or root's),
 * and it must never be written before the copy it names is synced.
 */
#define TU_INTERNAL
#include "move_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MV_MARK_MAGIC "tu-mvtree-marker 1"

int mv_marker_write(struct mv *m, const struct marker *k)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf,
			 MV_MARK_MAGIC "\nkind %s\nsource %" PRIu64 " %" PRIu64
			 "\ncopy %" PRIu64 " %" PRIu64 "\nt0 %" PRId64 "\nend\n",
			 k->dir ? "dir" : "entry", k->sdev, k->sino, k->cdev, k->cino, k->t0);
	int fd = openat(m->dpfd, m->mark, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (write(fd, buf, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		r = mv_fsync_dir(m->dpfd);
	if (r < 0)
		unlinkat(m->dpfd, m->mark, 0);
	return r;
}

/* Read the marker NAME in DIRFD. 0, -ENOENT, or -EINVAL when it is not a
   whole marker of ours (a crash while it was written: it was then never
   acted on, since the rename comes after its fsync). */
int mv_marker_read(int dirfd, const char *name, struct marker *k)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	char buf[512];
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)sizeof buf &&
	    (st.st_uid == geteuid() || st.st_uid == 0))
		n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	char kind[16];
	memset(k, 0, sizeof *k);
	if (sscanf(buf, MV_MARK_MAGIC "\nkind %15s\nsource %" SCNu64 " %" SCNu64 "\ncopy %" SCNu64
		   " %" SCNu64 "\nt0 %" SCNd64 "\nend\n",
		   kind, &k->sdev, &k->sino, &k->cdev, &k->cino, &k->t0) != 6 ||
	    !strstr(buf, "\nend\n"))
		return -EINVAL;
	k->dir = strcmp(kind, "dir") == 0;
	return 0;
}

void mv_marker_remove(struct mv *m)
{
	if (unlinkat(m->dpfd, m->mark, 0) == 0)
		mv_fsync_dir(m->dpfd);
}

/* With SOURCE gone, the marker that names DEST's identity as its copy, if
   any: a run that removed all of SOURCE but was stopped before the marker. */
int mv_marker_find(struct mv *m, const struct tu_ident *dest, struct marker *k)
{
	int fd = openat(m->dpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	int r = -ENOENT;
	struct dirent *de;
	size_t pl = strlen(MV_PREFIX), sl = strlen(MV_MARK_SUFFIX);
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);
		if (n != pl + 32 + sl || strncmp(de->d_name, MV_PREFIX, pl) != 0 ||
		    strcmp(de->d_name + pl + 32, MV_MARK_SUFFIX) != 0)
			continue;
		struct marker c;
		if (mv_marker_read(m->dpfd, de->d_name, &c) == 0 && c.cdev == (uint64_t)dest->dev &&
		    c.cino == (uint64_t)dest->ino) {
			*k = c;
			snprintf(m->mark, sizeof m->mark, "%s", de->d_name);
			snprintf(m->hid, sizeof m->hid, "%.*s", (int)(pl + 32), de->d_name);
			r = 0;
			break;
		}
	}
	closedir(dir);
	return r;
}
