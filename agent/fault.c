/*
 * agent/fault.c — reads FERRY_FAULTS once and says which calls must fail (see fault.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/common.h"
#include "ferry/fault.h"

#define FAULTS_MAX 64

static const char *const point_names[FAULT_POINTS] = {"sink_write", "state_commit", "source_fetch"};

static pthread_once_t faults_once = PTHREAD_ONCE_INIT;
static struct {
    FaultPoint point;
    long call;
} faults[FAULTS_MAX];
static int nfaults;
static atomic_long calls[FAULT_POINTS];

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
        for (int p = 0; p < FAULT_POINTS; p++) {
            if (strcmp(item, point_names[p]) == 0) {
                faults[nfaults].point = (FaultPoint)p;
                faults[nfaults].call = atol(eq + 1);
                nfaults++;
            }
        }
    }
    free(copy);
    log_warn("FERRY_FAULTS is set: %d failure(s) will be injected on purpose", nfaults);
}

bool fault_hit(FaultPoint point)
{
    pthread_once(&faults_once, faults_read);
    long call = atomic_fetch_add_explicit(&calls[point], 1, memory_order_relaxed) + 1;
    for (int i = 0; i < nfaults; i++)
        if (faults[i].point == point && faults[i].call == call)
            return true;
    return false;
}
