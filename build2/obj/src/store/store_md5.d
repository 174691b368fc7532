build2/obj/src/store/store_md5.o: src/store/store_md5.c src/store/store.h \
 src/store/../config/config.h src/store/../config/../error/st_error.h \
 src/store/../error/st_error.h
src/store/store.h:
src/store/../config/config.h:
src/store/../config/../error/st_error.h:
src/store/../error/st_error.h:
