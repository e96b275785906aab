/* SPDX-License-Identifier: Apache-2.0 */
/* unit.h: helpers shared by the cmocka unit tests (include after cmocka.h).
 * Header-only, so each test stays one file and one binary. */
#ifndef TU_UNIT_H
#define TU_UNIT_H

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <string.h>
#include <unistd.h>

/* Empty the scratch directory DFD (test data only: no symlink is followed,
   since entries are removed by name and only DT_DIR entries are entered). */
static inline void unit_rm_rf(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	if (!d)
		return;
	struct dirent *e;
	rewinddir(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR) {
			int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (sub >= 0) {
				unit_rm_rf(sub);
				close(sub);
			}
			unlinkat(dfd, e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dfd, e->d_name, 0);
		}
	}
	closedir(d);
}

/* DFD/NAME made anew with LEN bytes of DATA. */
static inline void unit_write_file(int dfd, const char *name, const void *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Set or clear the immutable flag of PATH (chattr +i / -i). 0, or -1 when
   it cannot be done here (not root, or a filesystem without the flag): the
   caller then skips, saying so. */
static inline int unit_set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int flags = 0, r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (r == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return r == 0 ? 0 : -1;
}

#endif
