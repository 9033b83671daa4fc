/*
 * include/ferry/progress.h — what a running job shows of itself: a live line on a terminal, a progress
 * line in the log every progress_interval seconds elsewhere, and a Prometheus textfile (metrics_file).
 */
#ifndef FERRY_PROGRESS_H
#define FERRY_PROGRESS_H

#include "ferry/run.h"

typedef struct Progress {
    double started;           /* monotonic seconds when the workers started */
    double next_draw;         /* terminal: when the live line is drawn again */
    double next_line;         /* elsewhere: when the next progress line is logged */
} Progress;

/* Before the workers start. */
void progress_begin(Progress *p, const RunContext *run);
/* While they run: draws, logs and writes the metrics file when their time has come. */
void progress_tick(Progress *p, const RunContext *run);
/* After they stop: clears the live line, writes the metrics file with the run's exit code. */
void progress_end(Progress *p, const RunContext *run, int exit_code);

#endif
