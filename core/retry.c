/*
 * core/retry.c — backoff with decorrelated jitter, bounded in attempts and total time.
 */
#include <time.h>

#include "ferry/common.h"
#include "ferry/retry.h"

void retry_begin(RetryState *state, const RetryPolicy *policy, unsigned int seed)
{
    state->policy = policy;
    state->attempts = 0;
    state->first_failure = -1;
    state->last_pause = policy->base_s;
    state->seed = seed ? seed : 1;
}

/* xorshift32: a worker's own sequence, no shared state, no locks. */
static double next_unit(unsigned int *seed)
{
    unsigned int x = *seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *seed = x;
    return (double)x / 4294967296.0;
}

bool retry_next(RetryState *state, double now, double *pause)
{
    const RetryPolicy *p = state->policy;
    if (state->first_failure < 0)
        state->first_failure = now;
    if (state->attempts >= p->max_attempts)
        return false;
    double high = state->last_pause * 3.0;
    if (high < p->base_s)
        high = p->base_s;
    double wait = p->base_s + next_unit(&state->seed) * (high - p->base_s);
    if (wait > p->cap_s)
        wait = p->cap_s;
    if (now + wait - state->first_failure > p->max_total_s)
        return false;
    state->attempts++;
    state->last_pause = wait;
    *pause = wait;
    return true;
}

bool retry_sleep(double seconds, volatile sig_atomic_t *stop)
{
    double until = monotonic_seconds() + seconds;
    for (;;) {
        if (stop != NULL && *stop)
            return false;
        double left = until - monotonic_seconds();
        if (left <= 0)
            return true;
        double slice = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        nanosleep(&ts, NULL);
    }
}
