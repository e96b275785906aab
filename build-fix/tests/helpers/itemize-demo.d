build-fix/tests/helpers/itemize-demo.o: tests/helpers/itemize-demo.c \
 lib/compare.h lib/itemize.h lib/itemize.h
lib/compare.h:
lib/itemize.h:
lib/itemize.h:
