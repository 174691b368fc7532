build2/obj/src/queue/queue.o: src/queue/queue.c src/queue/queue.h \
 src/queue/../error/st_error.h
src/queue/queue.h:
src/queue/../error/st_error.h:
