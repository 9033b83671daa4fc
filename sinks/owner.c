/*
 * sinks/owner.c — who a table's output belongs to: the marker's text and the rule on it (owner.h).
 *
 * Design notes
 *  (1) A job is its state file on its machine: a second configuration file
 *      naming the same state is the same job (and runs one at a time, by the
 *      state's lock), and a state file re-created at the same place after
 *      `rm` is the same job, whose output it may replace. Anything else that
 *      finds the marker is another job, and refused before a byte changes.
 *  (2) The same job with another table on one target (two sections with one
 *      `target`) is refused too: the second table's plan would remove the
 *      first's rows.
 *  (3) A marker that cannot be read (no "job:" line) is refused like
 *      another job's: ferry cannot tell whose it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/owner.h"

void owner_marker(const SinkOwner *owner, StrBuf *out)
{
    char now[32];
    utc_now_iso(now);
    strbuf_add(out,
               "# ferry: this output belongs to the job below; another job refuses to write here\n"
               "job: %s\ntable: %s\nclaimed: %s\n",
               owner->job, owner->table, now);
}

/* The value of the "name: " line of a marker, into out ("" when it has none). */
static void marker_field(const char *text, const char *name, char *out, size_t cap)
{
    size_t len = strlen(name);
    out[0] = '\0';
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (n > len + 1 && strncmp(line, name, len) == 0 && line[len] == ':' && line[len + 1] == ' ') {
            snprintf(out, cap, "%.*s", (int)(n - len - 2), line + len + 2);
            return;
        }
        line = eol ? eol + 1 : NULL;
    }
}

bool owner_check(const char *found, const SinkOwner *owner, const char *who, const char *where, bool *write,
                 FerryError *err)
{
    *write = found == NULL;
    if (found == NULL)
        return true;
    char job[4400], table[FERRY_NAME_MAX * 2 + 8], claimed[40];
    marker_field(found, "job", job, sizeof job);
    marker_field(found, "table", table, sizeof table);
    marker_field(found, "claimed", claimed, sizeof claimed);
    if (strcmp(job, owner->job) == 0 && strcmp(table, owner->table) == 0)
        return true;
    if (owner->take_over) {
        log_warn("%s: %s was the output of table %s of job %s; taken over by table %s of job %s", who, where,
                 *table ? table : "(unknown)", *job ? job : "(unknown)", owner->table, owner->job);
        *write = true;
        if (owner->taken != NULL)
            *owner->taken = true;
        return true;
    }
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s: %s belongs to %s (table %s of job %s, since %s); this is table %s of job %s. Nothing "
                       "was changed. Point this table at another target or place, or make the output this job's "
                       "with `ferry run -c FILE --take-over %s` (what it holds is then replaced)",
                       who, where, strcmp(job, owner->job) == 0 ? "another table of this job" : "another job",
                       *table ? table : "(unreadable)", *job ? job : "(unreadable)", *claimed ? claimed : "?",
                       owner->table, owner->job, owner->table);
}
