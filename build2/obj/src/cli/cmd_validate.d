build2/obj/src/cli/cmd_validate.o: src/cli/cmd_validate.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../json/json.h \
 src/cli/../sync/sync.h src/cli/../sync/../config/config.h \
 src/cli/../sync/../error/st_error.h src/cli/../sync/../state/state.h
src/cli/cli.h:
src/cli/../config/config.h:
src/cli/../config/../error/st_error.h:
src/cli/../state/state.h:
src/cli/../state/../error/st_error.h:
src/cli/../state/../json/json.h:
src/cli/../state/../json/../error/st_error.h:
src/cli/../json/json.h:
src/cli/../sync/sync.h:
src/cli/../sync/../config/config.h:
src/cli/../sync/../error/st_error.h:
src/cli/../sync/../state/state.h:
