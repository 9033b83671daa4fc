/*
 * core/error.c — FerryError: filled by the layer that knows what failed, logged once by the agent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ferry/common.h"

bool ferry_error(FerryError *err, FerryErrorDomain domain, int code, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    err->domain = domain;
    err->code = code;
    err->retryable = false;
    err->retry_after_s = 0;
    err->sqlstate[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

void ferry_error_prefix(FerryError *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[FERRY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[FERRY_ERROR_MAX];
    if (snprintf(joined, sizeof joined, "%s: %s", prefix, err->message) >= (int)sizeof joined)
        memcpy(joined + sizeof joined - 4, "…", 4); /* a message is cut to fit, and says so */
    memcpy(err->message, joined, sizeof err->message);
}

const char *ferry_error_domain_name(FerryErrorDomain domain)
{
    switch (domain) {
    case FERRY_ERR_NONE: return "none";
    case FERRY_ERR_CONFIG: return "config";
    case FERRY_ERR_SOURCE: return "source";
    case FERRY_ERR_SINK: return "sink";
    case FERRY_ERR_STATE: return "state";
    case FERRY_ERR_DATA: return "data";
    case FERRY_ERR_SYSTEM: return "system";
    case FERRY_ERR_STOPPED: return "stopped";
    case FERRY_ERR_BUG: return "bug";
    }
    return "unknown";
}
