build2/obj/src/config/config_fields.o: src/config/config_fields.c \
 src/config/config_int.h src/config/config.h \
 src/config/../error/st_error.h src/config/../strbuf/strbuf.h \
 src/config/../strbuf/../error/st_error.h
src/config/config_int.h:
src/config/config.h:
src/config/../error/st_error.h:
src/config/../strbuf/strbuf.h:
src/config/../strbuf/../error/st_error.h:
