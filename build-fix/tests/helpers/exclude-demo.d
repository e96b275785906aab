build-fix/tests/helpers/exclude-demo.o: tests/helpers/exclude-demo.c \
 lib/exclude.h
lib/exclude.h:
