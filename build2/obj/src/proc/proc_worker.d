build2/obj/src/proc/proc_worker.o: src/proc/proc_worker.c \
 src/proc/proc_int.h src/proc/proc.h src/proc/../config/config.h \
 src/proc/../config/../error/st_error.h src/proc/../error/st_error.h \
 src/proc/../queue/queue.h src/proc/../queue/../error/st_error.h \
 src/proc/../lock/lock.h src/proc/../lock/../error/st_error.h \
 src/proc/../log/log.h src/proc/../sched/sched.h \
 src/proc/../sched/../config/config.h src/proc/../sched/../cron/cron.h \
 src/proc/../sched/../cron/../error/st_error.h \
 src/proc/../sched/../state/state.h \
 src/proc/../sched/../state/../error/st_error.h \
 src/proc/../sched/../state/../json/json.h \
 src/proc/../sched/../state/../json/../error/st_error.h \
 src/proc/../sched/../lock/lock.h src/proc/../sched/../job/job.h \
 src/proc/../sched/../job/../config/config.h \
 src/proc/../sched/../job/../error/st_error.h \
 src/proc/../sched/../job/../lock/lock.h \
 src/proc/../sched/../job/../state/state.h \
 src/proc/../sched/../queue/queue.h src/proc/../state/state.h \
 src/proc/../time/st_time.h src/proc/../time/../error/st_error.h
src/proc/proc_int.h:
src/proc/proc.h:
src/proc/../config/config.h:
src/proc/../config/../error/st_error.h:
src/proc/../error/st_error.h:
src/proc/../queue/queue.h:
src/proc/../queue/../error/st_error.h:
src/proc/../lock/lock.h:
src/proc/../lock/../error/st_error.h:
src/proc/../log/log.h:
src/proc/../sched/sched.h:
src/proc/../sched/../config/config.h:
src/proc/../sched/../cron/cron.h:
src/proc/../sched/../cron/../error/st_error.h:
src/proc/../sched/../state/state.h:
src/proc/../sched/../state/../error/st_error.h:
src/proc/../sched/../state/../json/json.h:
src/proc/../sched/../state/../json/../error/st_error.h:
src/proc/../sched/../lock/lock.h:
src/proc/../sched/../job/job.h:
src/proc/../sched/../job/../config/config.h:
src/proc/../sched/../job/../error/st_error.h:
src/proc/../sched/../job/../lock/lock.h:
src/proc/../sched/../job/../state/state.h:
src/proc/../sched/../queue/queue.h:
src/proc/../state/state.h:
src/proc/../time/st_time.h:
src/proc/../time/../error/st_error.h:
