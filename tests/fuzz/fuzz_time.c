/*
 * tests/fuzz/fuzz_time.c — PostgreSQL's ISO dates and timestamps into milliseconds (sinks/document.c):
 * any text is a time or is refused, with or without a zone; never a crash or an overflow UBSan sees.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ferry/document.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int64_t millis;
    doc_parse_time((const char *)data, size, true, &millis);
    doc_parse_time((const char *)data, size, false, &millis);
    return 0;
}
