/* check.h: a tiny assertion harness for the C unit tests (no VM, no server). */
#ifndef MR_CHECK_H
#define MR_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECK_STR(got, want)                                                          \
    do {                                                                              \
        const char *g_ = (got), *w_ = (want);                                         \
        check_count++;                                                                \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                                      \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,   \
                    g_ ? g_ : "(null)", w_);                                          \
        }                                                                             \
    } while (0)

#define CHECK_DONE()                                                                  \
    do {                                                                              \
        printf("%d checks, %d failed\n", check_count, check_failures);               \
        return check_failures ? 1 : 0;                                                \
    } while (0)

#endif
