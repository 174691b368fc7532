build2/obj/src/cli/cmd_history.o: src/cli/cmd_history.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../json/json.h \
 src/cli/../time/st_time.h src/cli/../time/../error/st_error.h
src/cli/cli.h:
src/cli/../config/config.h:
src/cli/../config/../error/st_error.h:
src/cli/../state/state.h:
src/cli/../state/../error/st_error.h:
src/cli/../state/../json/json.h:
src/cli/../state/../json/../error/st_error.h:
src/cli/../json/json.h:
src/cli/../time/st_time.h:
src/cli/../time/../error/st_error.h:
