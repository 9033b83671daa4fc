/*
 * include/ferry/manual.h — ferry(1), the manual page, written from the tables that drive --help and the
 * configuration (`ferry --man`; `make` builds build/ferry.1 with it, `make install` installs it).
 */
#ifndef FERRY_MANUAL_H
#define FERRY_MANUAL_H

#include <stdio.h>

/* The page in roff (man(7)): `usage` is --help's text, the options are every section's and sink's. */
void manual_write(FILE *out, const char *usage, const char *version);

#endif
