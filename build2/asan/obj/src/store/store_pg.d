build2/asan/obj/src/store/store_pg.o: src/store/store_pg.c \
 src/store/store.h src/store/../config/config.h \
 src/store/../config/../error/st_error.h src/store/../error/st_error.h \
 src/store/store_driver.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h
src/store/store.h:
src/store/../config/config.h:
src/store/../config/../error/st_error.h:
src/store/../error/st_error.h:
src/store/store_driver.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
