build2/asan/obj/src/config/config_pipeline.o: \
 src/config/config_pipeline.c src/config/config_int.h src/config/config.h \
 src/config/../error/st_error.h src/config/../cron/cron.h \
 src/config/../cron/../error/st_error.h
src/config/config_int.h:
src/config/config.h:
src/config/../error/st_error.h:
src/config/../cron/cron.h:
src/config/../cron/../error/st_error.h:
