build2/asan/obj/src/strbuf/strbuf.o: src/strbuf/strbuf.c \
 src/strbuf/strbuf.h src/strbuf/../error/st_error.h
src/strbuf/strbuf.h:
src/strbuf/../error/st_error.h:
