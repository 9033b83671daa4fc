/*
 * include/ferry/fault.h — failures on purpose, to prove that every failure path resumes correctly.
 *
 * FERRY_FAULTS="sink_write=3,state_commit=5,source_fetch=7,source_fetch=9" makes
 * the 3rd sink write, the 5th state commit and the 7th and 9th FETCH of this
 * process fail as a full disk or a dropped connection would. A point with a
 * partition, "sink_commit@4=2", counts only the calls made for partition 4:
 * its second commit fails, however many workers run; "sink_write@0=4+" fails
 * the 4th write of partition 0 and every one after it. Unset, it costs one
 * relaxed atomic increment per call.
 *
 * Points: sink_write (a batch, before the sink sees it), sink_mid_write
 * (inside the sink, with part of the segment written), sink_commit (inside
 * the sink's commit, before the segment becomes visible: the dir sink after
 * fsync and before rename), state_commit (a state transaction),
 * source_fetch (a FETCH or a COPY: the connection lost), source_kill (a
 * FETCH or a COPY: cancelled by the server, as statement_timeout or
 * Redshift's WLM cancels one, SQLSTATE 57014).
 */
#ifndef FERRY_FAULT_H
#define FERRY_FAULT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FAULT_SINK_WRITE = 0,
    FAULT_SINK_MID_WRITE,
    FAULT_SINK_COMMIT,
    FAULT_STATE_COMMIT,
    FAULT_SOURCE_FETCH,
    FAULT_SOURCE_KILL,
    FAULT_POINTS
} FaultPoint;

#define FAULT_ANY_PARTITION (-1)

/* Counts this call at `point`, made for `partition` (FAULT_ANY_PARTITION: none); true when it must fail. */
bool fault_hit(FaultPoint point, int64_t partition);

#endif
