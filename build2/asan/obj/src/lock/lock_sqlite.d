build2/asan/obj/src/lock/lock_sqlite.o: src/lock/lock_sqlite.c \
 src/lock/lock_backend.h src/lock/lock.h src/lock/../error/st_error.h
src/lock/lock_backend.h:
src/lock/lock.h:
src/lock/../error/st_error.h:
