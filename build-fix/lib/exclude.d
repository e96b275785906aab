build-fix/lib/exclude.o: lib/exclude.c lib/exclude.h
lib/exclude.h:
