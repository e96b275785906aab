build-fix/lib/move_marker.o: lib/move_marker.c lib/move_state.h \
 lib/handle.h lib/names.h lib/treeutils.h lib/move.h lib/walk.h
lib/move_state.h:
lib/handle.h:
lib/names.h:
lib/treeutils.h:
lib/move.h:
lib/walk.h:
