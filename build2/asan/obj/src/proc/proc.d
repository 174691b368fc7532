build2/asan/obj/src/proc/proc.o: src/proc/proc.c src/proc/proc_int.h \
 src/proc/proc.h src/proc/../config/config.h \
 src/proc/../config/../error/st_error.h src/proc/../error/st_error.h \
 src/proc/../queue/queue.h src/proc/../queue/../error/st_error.h \
 src/proc/../log/log.h
src/proc/proc_int.h:
src/proc/proc.h:
src/proc/../config/config.h:
src/proc/../config/../error/st_error.h:
src/proc/../error/st_error.h:
src/proc/../queue/queue.h:
src/proc/../queue/../error/st_error.h:
src/proc/../log/log.h:
