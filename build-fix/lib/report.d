build-fix/lib/report.o: lib/report.c lib/report.h lib/treeutils.h
lib/report.h:
lib/treeutils.h:
