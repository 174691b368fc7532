build2/obj/src/cli/cmd_run.o: src/cli/cmd_run.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../cron/cron.h \
 src/cli/../cron/../error/st_error.h src/cli/../job/job.h \
 src/cli/../job/../config/config.h src/cli/../job/../error/st_error.h \
 src/cli/../job/../lock/lock.h src/cli/../job/../lock/../error/st_error.h \
 src/cli/../job/../state/state.h src/cli/../json/json.h \
 src/cli/../lock/lock.h src/cli/../log/log.h src/cli/../sync/sync.h \
 src/cli/../sync/../config/config.h src/cli/../sync/../error/st_error.h \
 src/cli/../sync/../state/state.h src/cli/../time/st_time.h \
 src/cli/../time/../error/st_error.h
src/cli/cli.h:
src/cli/../config/config.h:
src/cli/../config/../error/st_error.h:
src/cli/../state/state.h:
src/cli/../state/../error/st_error.h:
src/cli/../state/../json/json.h:
src/cli/../state/../json/../error/st_error.h:
src/cli/../cron/cron.h:
src/cli/../cron/../error/st_error.h:
src/cli/../job/job.h:
src/cli/../job/../config/config.h:
src/cli/../job/../error/st_error.h:
src/cli/../job/../lock/lock.h:
src/cli/../job/../lock/../error/st_error.h:
src/cli/../job/../state/state.h:
src/cli/../json/json.h:
src/cli/../lock/lock.h:
src/cli/../log/log.h:
src/cli/../sync/sync.h:
src/cli/../sync/../config/config.h:
src/cli/../sync/../error/st_error.h:
src/cli/../sync/../state/state.h:
src/cli/../time/st_time.h:
src/cli/../time/../error/st_error.h:
