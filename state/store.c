/*
 * state/store.c — the table of state stores: which store keeps the checkpoints of a state location.
 *
 * A state location is a file path today, so every state is SQLite's. A store
 * shared by several machines (DESIGN.md, "Past one machine") is one more file
 * in state/ and one more line here, chosen by its location (a URI), and the
 * callers of state.h do not change.
 */
#include "ferry/state.h"

extern const StateOps state_sqlite;

bool state_open(const char *path, StateStore **out, FerryError *err)
{
    return state_sqlite.open(path, out, err);
}
