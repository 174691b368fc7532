build2/asan/obj/src/time/st_time.o: src/time/st_time.c src/time/st_time.h \
 src/time/../error/st_error.h
src/time/st_time.h:
src/time/../error/st_error.h:
