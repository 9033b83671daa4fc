/*
 * tests/fuzz/fuzz_xml.c — the object stores' XML answers (sinks/xml.c): every element of a few tags
 * S3 and Azure answer with is found or not, decoded within the input's length; never a crash or a
 * read past the end.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/xml.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    static const char *const tags[] = {"Key", "Code", "Message", "UploadId", "NextContinuationToken", "Name",
                                       "Content-Length", "NextMarker"};
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
        const char *pos = text;
        StrBuf out = {0};
        int found = 0;
        while (xml_next(&pos, tags[t], &out)) {
            if (out.len > size || pos < text || pos > text + size || ++found > (int)size)
                abort(); /* decoding only shrinks; the cursor stays in the text and moves on */
        }
        free(out.text);
    }
    StrBuf escaped = {0};
    xml_escape(&escaped, text);
    free(escaped.text);
    free(text);
    return 0;
}
