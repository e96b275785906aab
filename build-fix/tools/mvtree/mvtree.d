build-fix/tools/mvtree/mvtree.o: tools/mvtree/mvtree.c \
 tools/common/common.h lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
