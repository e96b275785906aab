build-fix/tools/common/common.o: tools/common/common.c \
 tools/common/common.h lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
