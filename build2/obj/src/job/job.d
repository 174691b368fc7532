build2/obj/src/job/job.o: src/job/job.c src/job/job.h \
 src/job/../config/config.h src/job/../config/../error/st_error.h \
 src/job/../error/st_error.h src/job/../lock/lock.h \
 src/job/../lock/../error/st_error.h src/job/../state/state.h \
 src/job/../state/../error/st_error.h src/job/../state/../json/json.h \
 src/job/../state/../json/../error/st_error.h src/job/../log/log.h
src/job/job.h:
src/job/../config/config.h:
src/job/../config/../error/st_error.h:
src/job/../error/st_error.h:
src/job/../lock/lock.h:
src/job/../lock/../error/st_error.h:
src/job/../state/state.h:
src/job/../state/../error/st_error.h:
src/job/../state/../json/json.h:
src/job/../state/../json/../error/st_error.h:
src/job/../log/log.h:
