build-fix/lib/dedup.o: lib/dedup.c lib/dedup.h lib/treeutils.h \
 lib/dedup_pipeline.h lib/handle.h lib/names.h lib/hashstore.h \
 lib/hashcache.h lib/report.h lib/walk.h lib/spooky.h
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
