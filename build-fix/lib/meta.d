build-fix/lib/meta.o: lib/meta.c lib/meta.h lib/treeutils.h lib/handle.h \
 lib/names.h
lib/meta.h:
lib/treeutils.h:
lib/handle.h:
lib/names.h:
