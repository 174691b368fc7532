build2/asan/obj/src/log/log.o: src/log/log.c src/log/log.h \
 src/log/../error/st_error.h src/log/../time/st_time.h \
 src/log/../time/../error/st_error.h
src/log/log.h:
src/log/../error/st_error.h:
src/log/../time/st_time.h:
src/log/../time/../error/st_error.h:
