build-fix/lib/linkpath.o: lib/linkpath.c lib/linkpath.h
lib/linkpath.h:
