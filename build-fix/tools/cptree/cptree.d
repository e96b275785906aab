build-fix/tools/cptree/cptree.o: tools/cptree/cptree.c \
 tools/common/common.h lib/treeutils.h
tools/common/common.h:
lib/treeutils.h:
