build2/obj/src/queue/queue_redis.o: src/queue/queue_redis.c \
 src/queue/queue.h src/queue/../error/st_error.h \
 src/queue/../redis/redis_conn.h src/queue/../redis/../error/st_error.h
src/queue/queue.h:
src/queue/../error/st_error.h:
src/queue/../redis/redis_conn.h:
src/queue/../redis/../error/st_error.h:
