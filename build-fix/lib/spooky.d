build-fix/lib/spooky.o: lib/spooky.c lib/spooky.h
lib/spooky.h:
