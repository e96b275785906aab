build-fix/lib/compare.o: lib/compare.c lib/compare.h lib/itemize.h
lib/compare.h:
lib/itemize.h:
