build-fix/tools/dedup/dedup.o: tools/dedup/dedup.c tools/common/common.h \
 lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
