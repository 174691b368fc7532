build2/obj/src/dashboard/dashboard.o: src/dashboard/dashboard.c \
 src/dashboard/dashboard.h
src/dashboard/dashboard.h:
