/*
 * include/ferry/owner.h — the marker that says which job a table's output belongs to (SinkOps.claim).
 *
 * A sink keeps the marker beside the output it describes (an object in the
 * table's folder, a row of the ledger, a document) as a few lines of text:
 *
 *   job: <host>:<state file>
 *   table: <the source table>
 *   claimed: <UTC time>
 *
 * Every sink decides on what it found through owner_check, so the rule and
 * the message are one.
 */
#ifndef FERRY_OWNER_H
#define FERRY_OWNER_H

#include <stdbool.h>

#include "ferry/common.h"
#include "ferry/sink.h"

/* The marker's text for `owner`, claimed now. */
void owner_marker(const SinkOwner *owner, StrBuf *out);

/*
 * Decide on the marker found at `where` (its text, or NULL when there is
 * none): true when `owner` may write there, with *write set when the marker
 * is to be written (there was none, or it is taken over); false, with a
 * FERRY_ERR_CONFIG error naming both jobs and the fix, when another job or
 * another table holds it.
 */
bool owner_check(const char *found, const SinkOwner *owner, const char *who, const char *where, bool *write,
                 FerryError *err);

#endif
