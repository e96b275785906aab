build-fix/tests/helpers/mktree.o: tests/helpers/mktree.c
