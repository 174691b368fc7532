build2/obj/src/sched/sched.o: src/sched/sched.c src/sched/sched.h \
 src/sched/../config/config.h src/sched/../config/../error/st_error.h \
 src/sched/../cron/cron.h src/sched/../cron/../error/st_error.h \
 src/sched/../state/state.h src/sched/../state/../error/st_error.h \
 src/sched/../state/../json/json.h \
 src/sched/../state/../json/../error/st_error.h src/sched/../lock/lock.h \
 src/sched/../lock/../error/st_error.h src/sched/../job/job.h \
 src/sched/../job/../config/config.h src/sched/../job/../error/st_error.h \
 src/sched/../job/../lock/lock.h src/sched/../job/../state/state.h \
 src/sched/../queue/queue.h src/sched/../queue/../error/st_error.h \
 src/sched/../time/st_time.h src/sched/../time/../error/st_error.h
src/sched/sched.h:
src/sched/../config/config.h:
src/sched/../config/../error/st_error.h:
src/sched/../cron/cron.h:
src/sched/../cron/../error/st_error.h:
src/sched/../state/state.h:
src/sched/../state/../error/st_error.h:
src/sched/../state/../json/json.h:
src/sched/../state/../json/../error/st_error.h:
src/sched/../lock/lock.h:
src/sched/../lock/../error/st_error.h:
src/sched/../job/job.h:
src/sched/../job/../config/config.h:
src/sched/../job/../error/st_error.h:
src/sched/../job/../lock/lock.h:
src/sched/../job/../state/state.h:
src/sched/../queue/queue.h:
src/sched/../queue/../error/st_error.h:
src/sched/../time/st_time.h:
src/sched/../time/../error/st_error.h:
