build2/obj/src/cli/cmd_status.o: src/cli/cmd_status.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../cron/cron.h \
 src/cli/../cron/../error/st_error.h src/cli/../json/json.h \
 src/cli/../sched/sched.h src/cli/../sched/../config/config.h \
 src/cli/../sched/../cron/cron.h src/cli/../sched/../state/state.h \
 src/cli/../sched/../lock/lock.h \
 src/cli/../sched/../lock/../error/st_error.h \
 src/cli/../sched/../job/job.h src/cli/../sched/../job/../config/config.h \
 src/cli/../sched/../job/../error/st_error.h \
 src/cli/../sched/../job/../lock/lock.h \
 src/cli/../sched/../job/../state/state.h \
 src/cli/../sched/../queue/queue.h \
 src/cli/../sched/../queue/../error/st_error.h src/cli/../time/st_time.h \
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
src/cli/../json/json.h:
src/cli/../sched/sched.h:
src/cli/../sched/../config/config.h:
src/cli/../sched/../cron/cron.h:
src/cli/../sched/../state/state.h:
src/cli/../sched/../lock/lock.h:
src/cli/../sched/../lock/../error/st_error.h:
src/cli/../sched/../job/job.h:
src/cli/../sched/../job/../config/config.h:
src/cli/../sched/../job/../error/st_error.h:
src/cli/../sched/../job/../lock/lock.h:
src/cli/../sched/../job/../state/state.h:
src/cli/../sched/../queue/queue.h:
src/cli/../sched/../queue/../error/st_error.h:
src/cli/../time/st_time.h:
src/cli/../time/../error/st_error.h:
