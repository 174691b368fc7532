build2/asan/obj/src/cron/cron_tz.o: src/cron/cron_tz.c src/cron/cron_tz.h \
 src/cron/../error/st_error.h src/cron/../time/st_time.h \
 src/cron/../time/../error/st_error.h
src/cron/cron_tz.h:
src/cron/../error/st_error.h:
src/cron/../time/st_time.h:
src/cron/../time/../error/st_error.h:
