/*
 * core/fault.c — reads FERRY_FAULTS once and says which calls must fail (see fault.h).
 *
 * Design notes
 *  (1) A spec without a partition counts the calls at its point across the
 *      process; a spec "point@P=N" counts only the calls made for partition
 *      P, so with several workers the same call fails whatever the others do.
 *      "N+" fails the N-th call and every later one (a disk that stays full).
 *  (2) Unset, fault_hit costs one relaxed atomic increment.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "ferry/fault.h"

#define FAULTS_MAX 64

static const char *const point_names[FAULT_POINTS] = {"sink_write", "sink_mid_write", "sink_commit",
                                                      "state_commit", "source_fetch", "source_kill"};

static pthread_once_t faults_once = PTHREAD_ONCE_INIT;
static struct {
    FaultPoint point;
    int64_t partition;        /* FAULT_ANY_PARTITION: every call counts */
    long call;
    bool onwards;             /* "N+": the N-th call and every one after it fail */
    int counter;              /* index into scoped[] for a partition's spec */
} faults[FAULTS_MAX];
static int nfaults;
static atomic_long calls[FAULT_POINTS];      /* every call, by point */
static atomic_long scoped[FAULTS_MAX];       /* calls for one (point, partition) */

static void faults_read(void)
{
    const char *spec = getenv("FERRY_FAULTS");
    if (spec == NULL || *spec == '\0')
        return;
    char *copy = xstrdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && nfaults < FAULTS_MAX;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char *at = strchr(item, '@');
        int64_t partition = FAULT_ANY_PARTITION;
        if (at != NULL) {
            *at = '\0';
            partition = atoll(at + 1);
        }
        for (int p = 0; p < FAULT_POINTS; p++) {
            if (strcmp(item, point_names[p]) != 0)
                continue;
            faults[nfaults].point = (FaultPoint)p;
            faults[nfaults].partition = partition;
            faults[nfaults].call = atol(eq + 1);
            faults[nfaults].onwards = eq[1] != '\0' && eq[strlen(eq + 1)] == '+';
            faults[nfaults].counter = nfaults; /* (1) specs of one point and partition share one */
            for (int o = 0; o < nfaults; o++)
                if (faults[o].point == (FaultPoint)p && faults[o].partition == partition)
                    faults[nfaults].counter = faults[o].counter;
            nfaults++;
        }
    }
    free(copy);
    log_warn("FERRY_FAULTS is set: %d failure(s) will be injected on purpose", nfaults);
}

bool fault_hit(FaultPoint point, int64_t partition)
{
    pthread_once(&faults_once, faults_read);
    long call = atomic_fetch_add_explicit(&calls[point], 1, memory_order_relaxed) + 1;
    bool hit = false;
    int counted = -1; /* a shared counter is counted once per call */
    for (int i = 0; i < nfaults; i++) {
        if (faults[i].point != point)
            continue;
        long n = call;
        if (faults[i].partition != FAULT_ANY_PARTITION) {
            if (faults[i].partition != partition)
                continue;
            if (counted != faults[i].counter)
                atomic_fetch_add_explicit(&scoped[faults[i].counter], 1, memory_order_relaxed);
            counted = faults[i].counter;
            n = atomic_load_explicit(&scoped[faults[i].counter], memory_order_relaxed);
        }
        hit |= n == faults[i].call || (faults[i].onwards && n > faults[i].call);
    }
    return hit;
}
