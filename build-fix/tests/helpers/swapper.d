build-fix/tests/helpers/swapper.o: tests/helpers/swapper.c \
 tests/helpers/stop.h
tests/helpers/stop.h:
