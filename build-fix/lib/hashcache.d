build-fix/lib/hashcache.o: lib/hashcache.c lib/data.h lib/treeutils.h \
 lib/hashcache.h lib/hashstore.h lib/hashdir.h lib/report.h lib/walk.h \
 lib/handle.h lib/names.h lib/spooky.h
lib/data.h:
lib/treeutils.h:
lib/hashcache.h:
lib/hashstore.h:
lib/hashdir.h:
lib/report.h:
lib/walk.h:
lib/handle.h:
lib/names.h:
lib/spooky.h:
