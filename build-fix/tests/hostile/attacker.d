build-fix/tests/hostile/attacker.o: tests/hostile/attacker.c \
 tests/hostile/../helpers/stop.h
tests/hostile/../helpers/stop.h:
