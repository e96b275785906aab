build-fix/tools/rmtree/rmtree.o: tools/rmtree/rmtree.c \
 tools/common/common.h lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
