build2/obj/src/sync/sync_ddl.o: src/sync/sync_ddl.c src/sync/sync_int.h \
 src/sync/../store/store.h src/sync/../store/../config/config.h \
 src/sync/../store/../config/../error/st_error.h \
 src/sync/../store/../error/st_error.h src/sync/sync.h \
 src/sync/../config/config.h src/sync/../error/st_error.h \
 src/sync/../state/state.h src/sync/../state/../error/st_error.h \
 src/sync/../state/../json/json.h \
 src/sync/../state/../json/../error/st_error.h src/sync/../log/log.h
src/sync/sync_int.h:
src/sync/../store/store.h:
src/sync/../store/../config/config.h:
src/sync/../store/../config/../error/st_error.h:
src/sync/../store/../error/st_error.h:
src/sync/sync.h:
src/sync/../config/config.h:
src/sync/../error/st_error.h:
src/sync/../state/state.h:
src/sync/../state/../error/st_error.h:
src/sync/../state/../json/json.h:
src/sync/../state/../json/../error/st_error.h:
src/sync/../log/log.h:
