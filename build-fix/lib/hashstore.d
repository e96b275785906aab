build-fix/lib/hashstore.o: lib/hashstore.c lib/hashstore.h \
 lib/treeutils.h lib/hashcache.h lib/handle.h lib/names.h lib/meta.h \
 lib/data.h lib/spooky.h
lib/hashstore.h:
lib/treeutils.h:
lib/hashcache.h:
lib/handle.h:
lib/names.h:
lib/meta.h:
lib/data.h:
lib/spooky.h:
