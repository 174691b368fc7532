build2/asan/obj/src/lock/lock_renew.o: src/lock/lock_renew.c \
 src/lock/lock.h src/lock/../error/st_error.h src/lock/../time/st_time.h \
 src/lock/../time/../error/st_error.h src/lock/../log/log.h
src/lock/lock.h:
src/lock/../error/st_error.h:
src/lock/../time/st_time.h:
src/lock/../time/../error/st_error.h:
src/lock/../log/log.h:
