/*
 * include/ferry/fault.h — failures on purpose, to prove that every failure path resumes correctly.
 *
 * FERRY_FAULTS="sink_write=3,state_commit=5,source_fetch=7,source_fetch=9" makes
 * the 3rd sink write, the 5th state commit and the 7th and 9th FETCH of this
 * process fail as a full disk or a dropped connection would. Unset, it costs
 * one relaxed atomic increment per call.
 */
#ifndef FERRY_FAULT_H
#define FERRY_FAULT_H

#include <stdbool.h>

typedef enum { FAULT_SINK_WRITE = 0, FAULT_STATE_COMMIT, FAULT_SOURCE_FETCH, FAULT_POINTS } FaultPoint;

/* Counts this call at `point`; true when it must fail. */
bool fault_hit(FaultPoint point);

#endif
