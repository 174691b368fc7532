build2/obj/src/config/config_ops.o: src/config/config_ops.c \
 src/config/config_int.h src/config/config.h \
 src/config/../error/st_error.h
src/config/config_int.h:
src/config/config.h:
src/config/../error/st_error.h:
