build-fix/lib/walk.o: lib/walk.c lib/walk.h lib/handle.h lib/names.h \
 lib/treeutils.h lib/dircache.h
lib/walk.h:
lib/handle.h:
lib/names.h:
lib/treeutils.h:
lib/dircache.h:
