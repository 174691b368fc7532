build2/asan/obj/src/config/config_parse.o: src/config/config_parse.c \
 src/config/config_int.h src/config/config.h \
 src/config/../error/st_error.h
src/config/config_int.h:
src/config/config.h:
src/config/../error/st_error.h:
