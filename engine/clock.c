/*
** clock.c: monotonic time and interruptible sleep (pure C).
*/
#include <errno.h>
#include <time.h>

#include "mr.h"

int64_t mr_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mr_clock_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    /* nanosleep returns EINTR on a signal: stop then if it was an interrupt */
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !mr_interrupted)
        ;
}
