build-fix/lib/names.o: lib/names.c lib/names.h lib/treeutils.h
lib/names.h:
lib/treeutils.h:
