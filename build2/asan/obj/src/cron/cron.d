build2/asan/obj/src/cron/cron.o: src/cron/cron.c src/cron/cron.h \
 src/cron/../error/st_error.h src/cron/../time/st_time.h \
 src/cron/../time/../error/st_error.h src/cron/cron_tz.h
src/cron/cron.h:
src/cron/../error/st_error.h:
src/cron/../time/st_time.h:
src/cron/../time/../error/st_error.h:
src/cron/cron_tz.h:
