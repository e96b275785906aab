build-fix/lib/data.o: lib/data.c lib/data.h lib/treeutils.h lib/names.h
lib/data.h:
lib/treeutils.h:
lib/names.h:
