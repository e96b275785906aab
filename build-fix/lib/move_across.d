build-fix/lib/move_across.o: lib/move_across.c lib/move_state.h \
 lib/handle.h lib/names.h lib/treeutils.h lib/move.h lib/walk.h
lib/move_state.h:
lib/handle.h:
lib/names.h:
lib/treeutils.h:
lib/move.h:
lib/walk.h:
