build-fix/lib/dedup_group.o: lib/dedup_group.c lib/dedup.h \
 lib/treeutils.h lib/dedup_pipeline.h lib/handle.h lib/names.h \
 lib/hashstore.h lib/hashcache.h lib/report.h lib/walk.h lib/spooky.h
lib/dedup.h:
lib/treeutils.h:
lib/dedup_pipeline.h:
lib/handle.h:
lib/names.h:
lib/hashstore.h:
lib/hashcache.h:
lib/report.h:
lib/walk.h:
lib/spooky.h:
