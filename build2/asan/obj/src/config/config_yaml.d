build2/asan/obj/src/config/config_yaml.o: src/config/config_yaml.c \
 src/config/config_int.h src/config/config.h \
 src/config/../error/st_error.h
src/config/config_int.h:
src/config/config.h:
src/config/../error/st_error.h:
