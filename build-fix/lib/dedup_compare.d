build-fix/lib/dedup_compare.o: lib/dedup_compare.c lib/dedup.h \
 lib/treeutils.h lib/data.h lib/dedup_pipeline.h lib/handle.h lib/names.h \
 lib/hashstore.h lib/hashcache.h lib/report.h lib/walk.h lib/meta.h \
 lib/spooky.h
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
lib/meta.h:
lib/spooky.h:
