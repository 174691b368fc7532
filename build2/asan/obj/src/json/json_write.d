build2/asan/obj/src/json/json_write.o: src/json/json_write.c \
 src/json/json.h src/json/../error/st_error.h src/json/../time/st_time.h \
 src/json/../time/../error/st_error.h
src/json/json.h:
src/json/../error/st_error.h:
src/json/../time/st_time.h:
src/json/../time/../error/st_error.h:
