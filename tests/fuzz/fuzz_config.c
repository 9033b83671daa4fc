/*
 * tests/fuzz/fuzz_config.c — the INI configuration (agent/config.c): any text loads, or fails with a
 * message naming the file; never a crash, a hang or a leak.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    FerryConfig *config = NULL;
    FerryError err = {0};
    if (config_load_text("/fuzz/ferry.ini", text, &config, &err))
        config_free(config);
    else if (strncmp(err.message, "/fuzz/ferry.ini", 15) != 0)
        abort(); /* every refusal names the file */
    free(text);
    return 0;
}
