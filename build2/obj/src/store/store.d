build2/obj/src/store/store.o: src/store/store.c src/store/store.h \
 src/store/../config/config.h src/store/../config/../error/st_error.h \
 src/store/../error/st_error.h src/store/store_driver.h
src/store/store.h:
src/store/../config/config.h:
src/store/../config/../error/st_error.h:
src/store/../error/st_error.h:
src/store/store_driver.h:
