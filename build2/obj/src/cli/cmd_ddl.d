build2/obj/src/cli/cmd_ddl.o: src/cli/cmd_ddl.c src/cli/cli.h \
 src/cli/../config/config.h src/cli/../config/../error/st_error.h \
 src/cli/../state/state.h src/cli/../state/../error/st_error.h \
 src/cli/../state/../json/json.h \
 src/cli/../state/../json/../error/st_error.h src/cli/../lock/lock.h \
 src/cli/../lock/../error/st_error.h src/cli/../log/log.h \
 src/cli/../sync/sync.h src/cli/../sync/../config/config.h \
 src/cli/../sync/../error/st_error.h src/cli/../sync/../state/state.h
src/cli/cli.h:
src/cli/../config/config.h:
src/cli/../config/../error/st_error.h:
src/cli/../state/state.h:
src/cli/../state/../error/st_error.h:
src/cli/../state/../json/json.h:
src/cli/../state/../json/../error/st_error.h:
src/cli/../lock/lock.h:
src/cli/../lock/../error/st_error.h:
src/cli/../log/log.h:
src/cli/../sync/sync.h:
src/cli/../sync/../config/config.h:
src/cli/../sync/../error/st_error.h:
src/cli/../sync/../state/state.h:
