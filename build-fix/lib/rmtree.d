build-fix/lib/rmtree.o: lib/rmtree.c lib/rmtree.h lib/report.h \
 lib/treeutils.h lib/walk.h lib/handle.h lib/names.h
lib/rmtree.h:
lib/report.h:
lib/treeutils.h:
lib/walk.h:
lib/handle.h:
lib/names.h:
