/*
 * include/ferry/xml.h — just enough XML for object stores' answers and requests (sinks/xml.c).
 *
 * Stores answer in small, flat documents; ferry reads the text of named
 * elements and never the structure beyond that, so a full parser is not
 * needed. Entities (the five named ones and numeric references) are decoded.
 */
#ifndef FERRY_XML_H
#define FERRY_XML_H

#include <stdbool.h>

#include "ferry/common.h"

/*
 * The next <tag>…</tag> at or after *pos: its text, decoded, into out (reset
 * first); *pos moves past it. False when there is none.
 */
bool xml_next(const char **pos, const char *tag, StrBuf *out);
/* Text with &, <, > and " escaped, appended to out. */
void xml_escape(StrBuf *out, const char *text);

#endif
