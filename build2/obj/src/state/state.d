build2/obj/src/state/state.o: src/state/state.c src/state/state_backend.h \
 src/state/state.h src/state/../error/st_error.h src/state/../json/json.h \
 src/state/../json/../error/st_error.h src/state/../time/st_time.h \
 src/state/../time/../error/st_error.h
src/state/state_backend.h:
src/state/state.h:
src/state/../error/st_error.h:
src/state/../json/json.h:
src/state/../json/../error/st_error.h:
src/state/../time/st_time.h:
src/state/../time/../error/st_error.h:
