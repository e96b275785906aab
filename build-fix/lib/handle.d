build-fix/lib/handle.o: lib/handle.c lib/handle.h lib/names.h \
 lib/treeutils.h
lib/handle.h:
lib/names.h:
lib/treeutils.h:
