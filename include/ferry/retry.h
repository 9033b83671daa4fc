/*
 * include/ferry/retry.h — when to try again: exponential backoff with decorrelated jitter,
 * bounded in attempts and in total time. Shared by the source and the sinks.
 */
#ifndef FERRY_RETRY_H
#define FERRY_RETRY_H

#include <signal.h>
#include <stdbool.h>

typedef struct RetryPolicy {
    int max_attempts;         /* retries after the first failure, at most */
    double base_s;            /* the first pause, and the smallest */
    double cap_s;             /* the largest pause */
    double max_total_s;       /* give up once this much time has passed since the first failure */
} RetryPolicy;

typedef struct RetryState {
    const RetryPolicy *policy; /* borrowed */
    int attempts;              /* retries granted so far */
    double first_failure;      /* monotonic seconds */
    double last_pause;
    unsigned int seed;
} RetryState;

void retry_begin(RetryState *state, const RetryPolicy *policy, unsigned int seed);

/*
 * After a failure: may another attempt be made, and after what pause? The
 * pause is random between base and three times the previous pause, capped
 * ("decorrelated jitter"), so workers that failed together do not retry
 * together. `now` is monotonic seconds (passed in, for tests).
 */
bool retry_next(RetryState *state, double now, double *pause);

/* Sleep `seconds`, waking early when *stop is set; false when stopped. */
bool retry_sleep(double seconds, volatile sig_atomic_t *stop);

#endif
