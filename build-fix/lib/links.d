build-fix/lib/links.o: lib/links.c lib/report.h lib/treeutils.h \
 lib/walk.h lib/handle.h lib/names.h
lib/report.h:
lib/treeutils.h:
lib/walk.h:
lib/handle.h:
lib/names.h:
