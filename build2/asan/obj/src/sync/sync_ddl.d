build2/asan/obj/src/sync/sync_ddl.o: src/sync/sync_ddl.c src/sync/sync.h \
 src/sync/../config/config.h src/sync/../config/../error/st_error.h \
 src/sync/../error/st_error.h src/sync/../state/state.h \
 src/sync/../state/../error/st_error.h src/sync/../log/log.h \
 src/sync/../store/store.h src/sync/../store/../config/config.h \
 src/sync/../store/../error/st_error.h
src/sync/sync.h:
src/sync/../config/config.h:
src/sync/../config/../error/st_error.h:
src/sync/../error/st_error.h:
src/sync/../state/state.h:
src/sync/../state/../error/st_error.h:
src/sync/../log/log.h:
src/sync/../store/store.h:
src/sync/../store/../config/config.h:
src/sync/../store/../error/st_error.h:
