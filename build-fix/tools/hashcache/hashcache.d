build-fix/tools/hashcache/hashcache.o: tools/hashcache/hashcache.c \
 tools/common/common.h lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
