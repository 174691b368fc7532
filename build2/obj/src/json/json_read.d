build2/obj/src/json/json_read.o: src/json/json_read.c src/json/json.h \
 src/json/../error/st_error.h src/json/../strbuf/strbuf.h \
 src/json/../strbuf/../error/st_error.h
src/json/json.h:
src/json/../error/st_error.h:
src/json/../strbuf/strbuf.h:
src/json/../strbuf/../error/st_error.h:
