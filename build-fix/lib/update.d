build-fix/lib/update.o: lib/update.c lib/compare.h lib/itemize.h \
 lib/copy.h lib/data.h lib/treeutils.h lib/dircache.h lib/handle.h \
 lib/names.h lib/linkpath.h lib/meta.h lib/report.h lib/walk.h \
 lib/exclude.h lib/hashdir.h lib/hashstore.h lib/hashcache.h
lib/compare.h:
lib/itemize.h:
lib/copy.h:
lib/data.h:
lib/treeutils.h:
lib/dircache.h:
lib/handle.h:
lib/names.h:
lib/linkpath.h:
lib/meta.h:
lib/report.h:
lib/walk.h:
lib/exclude.h:
lib/hashdir.h:
lib/hashstore.h:
lib/hashcache.h:
