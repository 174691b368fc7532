build2/asan/obj/src/queue/queue_local.o: src/queue/queue_local.c \
 src/queue/queue.h src/queue/../error/st_error.h \
 src/queue/../time/st_time.h src/queue/../time/../error/st_error.h
src/queue/queue.h:
src/queue/../error/st_error.h:
src/queue/../time/st_time.h:
src/queue/../time/../error/st_error.h:
