build2/obj/src/lock/lock.o: src/lock/lock.c src/lock/lock.h \
 src/lock/../error/st_error.h src/lock/lock_backend.h \
 src/lock/../time/st_time.h src/lock/../time/../error/st_error.h
src/lock/lock.h:
src/lock/../error/st_error.h:
src/lock/lock_backend.h:
src/lock/../time/st_time.h:
src/lock/../time/../error/st_error.h:
