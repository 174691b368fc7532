build2/obj/src/cli/cmd_scheduler.o: src/cli/cmd_scheduler.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../proc/proc.h \
 src/cli/../proc/../config/config.h src/cli/../proc/../error/st_error.h \
 src/cli/../proc/../queue/queue.h \
 src/cli/../proc/../queue/../error/st_error.h
src/cli/cli.h:
src/cli/../config/config.h:
src/cli/../config/../error/st_error.h:
src/cli/../state/state.h:
src/cli/../state/../error/st_error.h:
src/cli/../state/../json/json.h:
src/cli/../state/../json/../error/st_error.h:
src/cli/../proc/proc.h:
src/cli/../proc/../config/config.h:
src/cli/../proc/../error/st_error.h:
src/cli/../proc/../queue/queue.h:
src/cli/../proc/../queue/../error/st_error.h:
