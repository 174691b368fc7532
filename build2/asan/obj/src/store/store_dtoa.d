build2/asan/obj/src/store/store_dtoa.o: src/store/store_dtoa.c \
 src/store/store.h src/store/../config/config.h \
 src/store/../config/../error/st_error.h src/store/../error/st_error.h
src/store/store.h:
src/store/../config/config.h:
src/store/../config/../error/st_error.h:
src/store/../error/st_error.h:
