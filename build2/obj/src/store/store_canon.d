build2/obj/src/store/store_canon.o: src/store/store_canon.c \
 src/store/store.h src/store/../config/config.h \
 src/store/../config/../error/st_error.h src/store/../error/st_error.h \
 src/store/../time/st_time.h src/store/../time/../error/st_error.h
src/store/store.h:
src/store/../config/config.h:
src/store/../config/../error/st_error.h:
src/store/../error/st_error.h:
src/store/../time/st_time.h:
src/store/../time/../error/st_error.h:
