build2/asan/obj/src/redis/redis_conn.o: src/redis/redis_conn.c \
 src/redis/redis_conn.h src/redis/../error/st_error.h
src/redis/redis_conn.h:
src/redis/../error/st_error.h:
