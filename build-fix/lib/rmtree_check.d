build-fix/lib/rmtree_check.o: lib/rmtree_check.c lib/rmtree.h \
 lib/report.h lib/treeutils.h lib/walk.h lib/handle.h lib/names.h
lib/rmtree.h:
lib/report.h:
lib/treeutils.h:
lib/walk.h:
lib/handle.h:
lib/names.h:
