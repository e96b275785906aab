build-fix/lib/itemize.o: lib/itemize.c lib/itemize.h lib/treeutils.h
lib/itemize.h:
lib/treeutils.h:
