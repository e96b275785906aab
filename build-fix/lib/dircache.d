build-fix/lib/dircache.o: lib/dircache.c lib/dircache.h lib/handle.h \
 lib/names.h lib/treeutils.h
lib/dircache.h:
lib/handle.h:
lib/names.h:
lib/treeutils.h:
