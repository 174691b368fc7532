build2/obj/src/lock/lock_redis.o: src/lock/lock_redis.c \
 src/lock/lock_backend.h src/lock/lock.h src/lock/../error/st_error.h \
 src/lock/../redis/redis_conn.h src/lock/../redis/../error/st_error.h
src/lock/lock_backend.h:
src/lock/lock.h:
src/lock/../error/st_error.h:
src/lock/../redis/redis_conn.h:
src/lock/../redis/../error/st_error.h:
