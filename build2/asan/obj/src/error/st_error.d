build2/asan/obj/src/error/st_error.o: src/error/st_error.c \
 src/error/st_error.h
src/error/st_error.h:
