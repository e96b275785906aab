build-fix/lib/dedup_link.o: lib/dedup_link.c lib/dedup.h lib/treeutils.h \
 lib/data.h lib/dedup_pipeline.h lib/handle.h lib/names.h lib/hashstore.h \
 lib/hashcache.h lib/report.h lib/walk.h lib/spooky.h
lib/dedup.h:
lib/treeutils.h:
lib/data.h:
lib/dedup_pipeline.h:
lib/handle.h:
lib/names.h:
lib/hashstore.h:
lib/hashcache.h:
lib/report.h:
lib/walk.h:
lib/spooky.h:
