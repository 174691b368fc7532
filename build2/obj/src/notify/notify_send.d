build2/obj/src/notify/notify_send.o: src/notify/notify_send.c \
 src/notify/notify_int.h src/notify/notify.h \
 src/notify/../config/config.h src/notify/../config/../error/st_error.h \
 src/notify/../error/st_error.h src/notify/../state/state.h \
 src/notify/../state/../error/st_error.h \
 src/notify/../state/../json/json.h \
 src/notify/../state/../json/../error/st_error.h src/notify/../log/log.h \
 src/notify/../time/st_time.h src/notify/../time/../error/st_error.h
src/notify/notify_int.h:
src/notify/notify.h:
src/notify/../config/config.h:
src/notify/../config/../error/st_error.h:
src/notify/../error/st_error.h:
src/notify/../state/state.h:
src/notify/../state/../error/st_error.h:
src/notify/../state/../json/json.h:
src/notify/../state/../json/../error/st_error.h:
src/notify/../log/log.h:
src/notify/../time/st_time.h:
src/notify/../time/../error/st_error.h:
