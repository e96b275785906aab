build-fix/lib/hashdir.o: lib/hashdir.c lib/hashdir.h lib/treeutils.h \
 lib/hashstore.h lib/hashcache.h lib/report.h lib/walk.h lib/handle.h \
 lib/names.h
lib/hashdir.h:
lib/treeutils.h:
lib/hashstore.h:
lib/hashcache.h:
lib/report.h:
lib/walk.h:
lib/handle.h:
lib/names.h:
