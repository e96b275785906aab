build-fix/lib/copyreport.o: lib/copyreport.c lib/copy.h lib/data.h \
 lib/treeutils.h lib/dircache.h lib/handle.h lib/names.h lib/linkpath.h \
 lib/meta.h lib/report.h lib/walk.h
lib/copy.h:
lib/data.h:
lib/treeutils.h:
lib/dircache.h:
lib/handle.h:
lib/names.h:
lib/linkpath.h:
lib/meta.h:
lib/report.h:
lib/walk.h:
