/*
 * sinks/aws.c — AWS credentials found as AWS users expect (aws.h), and the region.
 *
 * Design notes
 *  (1) First found wins: the section's keys (or files they name, for
 *      systemd's LoadCredential); AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN; the shared credentials and config files under the
 *      profile (`profile`, AWS_PROFILE, "default"); web identity
 *      (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, through STS); the
 *      instance's role from the metadata service (IMDSv2, at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT if set).
 *  (2) Temporary credentials are fetched again before they expire (five
 *      minutes before, or half way through a shorter life); while a renewal
 *      fails the current ones serve until they expire.
 *  (3) A secret goes into signatures only: no message, log or state holds it,
 *      and what held one is cleared when done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/aws.h"
#include "ferry/objects.h"
#include "ferry/xml.h"

/* ---- the shared files and the environment ---- */

/*
 * Look `key` up in section `section` of an INI-style AWS file; "" when the
 * file, the section or the key is not there.
 */
static void aws_file_value(const char *path, const char *section, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[4096];
    bool in_section = false;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "\r\n")] = '\0';
        if (*p == '[') {
            char *end = strchr(p, ']');
            if (end != NULL)
                *end = '\0';
            char *name = p + 1;
            name += strspn(name, " \t");
            in_section = strcmp(name, section) == 0;
            continue;
        }
        if (!in_section || *p == '#' || *p == ';')
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL)
            continue;
        char *k_end = eq;
        while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'))
            k_end--;
        if ((size_t)(k_end - p) != strlen(key) || strncmp(p, key, strlen(key)) != 0)
            continue;
        char *v = eq + 1 + strspn(eq + 1, " \t");
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        snprintf(out, cap, "%.*s", (int)n, v);
        break;
    }
    fclose(f);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The shared files' paths: the environment's, or under ~/.aws. */
static void aws_file_path(const char *env_name, const char *name, char *out, size_t cap)
{
    const char *set = env(env_name);
    const char *home = env("HOME");
    if (set != NULL)
        snprintf(out, cap, "%s", set);
    else
        snprintf(out, cap, "%s/.aws/%s", home ? home : "", name);
}

/* ---- temporary credentials: web identity (STS), the instance metadata service (note 2) ---- */

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC); 0 when it is not that. */
static time_t utc_seconds(const char *iso)
{
    int y, mo, d, h, mi, sec;
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6 || mo < 1 || mo > 12)
        return 0;
    /* Days from the civil date (H. Hinnant's algorithm): no timegm, no time zone. */
    y -= mo <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    return (time_t)(days * 86400 + h * 3600 + mi * 60 + sec);
}

/* The string value of "name" in a flat JSON object, into out; false when absent. */
static bool json_field(const char *json, const char *name, char *out, size_t cap)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    const char *p = strstr(json, quoted);
    if (p == NULL)
        return false;
    p += strlen(quoted);
    p += strspn(p, " \t\r\n");
    if (*p++ != ':')
        return false;
    p += strspn(p, " \t\r\n");
    if (*p++ != '"')
        return false;
    size_t n = 0;
    for (; *p && *p != '"' && n + 1 < cap; p++)
        out[n++] = *p == '\\' && p[1] ? *++p : *p;
    out[n] = '\0';
    return *p == '"';
}

/* Refresh well before expiry: five minutes, or half the lifetime of short-lived credentials. */
static void set_expiry(AwsCredentials *c, time_t expires)
{
    time_t now = time(NULL);
    c->expires = expires;
    time_t margin = (expires - now) / 2 < 300 ? (expires - now) / 2 : 300;
    c->refresh_at = expires - margin;
}

static bool imds_get(AwsAuth *auth, const char *method, const char *url, const char *header, HttpResponse *response,
                     FerryError *err)
{
    const char *headers[] = {header, NULL};
    HttpRequest request = {.method = method, .url = url, .headers = headers, .timeout_s = FERRY_IMDS_TIMEOUT_S};
    if (strcmp(method, "PUT") == 0)
        request.body = "", request.body_len = 0;
    if (!http_do(auth->http, &request, response, err))
        return false;
    if (!http_answered_ok(response)) {
        /* The URL holds no secret (the session token goes in a header): it says which step failed. */
        ferry_error(err, FERRY_ERR_SINK, 0, "%s: the instance metadata service answered HTTP %ld to %s %s", auth->who,
                    response->status, method, url);
        err->retryable = response->status >= 500;
        http_response_free(response);
        return false;
    }
    return true;
}

/* IMDSv2: a session token, the instance role's name, then its credentials. */
static bool imds_credentials(AwsAuth *auth, FerryError *err)
{
    const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT") ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                                                                 : "http://169.254.169.254";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char url[1024], header[1200], role[256];
    HttpResponse response;
    snprintf(url, sizeof url, "%.*s/latest/api/token", (int)blen, base);
    if (!imds_get(auth, "PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", &response, err))
        return false;
    snprintf(header, sizeof header, "X-aws-ec2-metadata-token: %.1100s", response.body ? response.body : "");
    http_response_free(&response);
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen, base);
    if (!imds_get(auth, "GET", url, header, &response, err))
        return false;
    snprintf(role, sizeof role, "%s", response.body ? response.body : "");
    role[strcspn(role, "\r\n")] = '\0';
    http_response_free(&response);
    if (role[0] == '\0')
        return ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: this instance has no IAM role", auth->who);
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen, base, role);
    if (!imds_get(auth, "GET", url, header, &response, err))
        return false;
    AwsCredentials *c = &auth->cred;
    char expiration[64] = "";
    const char *body = response.body ? response.body : "";
    bool ok = json_field(body, "AccessKeyId", c->id, sizeof c->id) &&
              json_field(body, "SecretAccessKey", c->secret, sizeof c->secret) &&
              json_field(body, "Token", c->token, sizeof c->token) &&
              json_field(body, "Expiration", expiration, sizeof expiration) && utc_seconds(expiration) > 0;
    memset(header, 0, sizeof header);
    http_response_free(&response);
    if (!ok)
        return ferry_error(err, FERRY_ERR_SINK, 0, "%s: the instance metadata service's credentials for role %s "
                           "could not be read", auth->who, role);
    c->source = AWS_CRED_IMDS;
    set_expiry(c, utc_seconds(expiration));
    snprintf(c->from, sizeof c->from, "the instance role %.40s", role);
    return true;
}

/* AssumeRoleWithWebIdentity (unsigned: the token is the proof), as Kubernetes service accounts use it. */
static bool web_identity_credentials(AwsAuth *auth, FerryError *err)
{
    char token[8192];
    if (!objects_read_secret(env("AWS_WEB_IDENTITY_TOKEN_FILE"), token, sizeof token, "the web identity token",
                          auth->who, err))
        return false;
    const char *sts = env("AWS_ENDPOINT_URL_STS");
    StrBuf body = {0}, url = {0};
    if (sts != NULL)
        strbuf_add(&url, "%s", sts);
    else
        strbuf_add(&url, "https://sts.%s.amazonaws.com/", auth->region);
    const char *session = env("AWS_ROLE_SESSION_NAME") ? env("AWS_ROLE_SESSION_NAME") : "ferry";
    strbuf_add(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    http_uri_encode(&body, env("AWS_ROLE_ARN"), strlen(env("AWS_ROLE_ARN")), false);
    strbuf_add(&body, "&RoleSessionName=");
    http_uri_encode(&body, session, strlen(session), false);
    strbuf_add(&body, "&WebIdentityToken=");
    http_uri_encode(&body, token, strlen(token), false);
    memset(token, 0, sizeof token);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    HttpRequest request = {.method = "POST", .url = url.text, .headers = headers, .body = body.text,
                           .body_len = body.len, .timeout_s = FERRY_HTTP_CONNECT_TIMEOUT_S * 3};
    HttpResponse response;
    bool ok = http_do(auth->http, &request, &response, err);
    memset(body.text, 0, body.len);
    free(body.text);
    free(url.text);
    if (!ok)
        return false;
    StrBuf field = {0};
    const char *p = response.body ? response.body : "";
    AwsCredentials *c = &auth->cred;
    time_t expires = 0;
    if (http_answered_ok(&response)) {
        ok = xml_next(&p, "AccessKeyId", &field) && snprintf(c->id, sizeof c->id, "%s", field.text) > 0;
        p = response.body;
        ok = ok && xml_next(&p, "SecretAccessKey", &field) &&
             snprintf(c->secret, sizeof c->secret, "%s", field.text) > 0;
        p = response.body;
        ok = ok && xml_next(&p, "SessionToken", &field) && snprintf(c->token, sizeof c->token, "%s", field.text) > 0;
        p = response.body;
        ok = ok && xml_next(&p, "Expiration", &field) && (expires = utc_seconds(field.text)) > 0;
        if (!ok)
            ferry_error(err, FERRY_ERR_SINK, 0, "%s: STS answered AssumeRoleWithWebIdentity without credentials",
                        auth->who);
    } else {
        StrBuf code = {0};
        p = response.body ? response.body : "";
        xml_next(&p, "Code", &code);
        ok = ferry_error(err, FERRY_ERR_CONFIG, 0, "%s: STS refused AssumeRoleWithWebIdentity for %s: HTTP %ld %s",
                         auth->who, env("AWS_ROLE_ARN"), response.status, code.text ? code.text : "");
        err->retryable = response.status >= 500;
        free(code.text);
    }
    if (field.text != NULL)
        memset(field.text, 0, field.cap);
    free(field.text);
    http_response_free(&response);
    if (!ok)
        return false;
    c->source = AWS_CRED_WEB_IDENTITY;
    set_expiry(c, expires);
    snprintf(c->from, sizeof c->from, "web identity (AWS_ROLE_ARN)");
    return true;
}

/* Temporary credentials fetched again before they expire; the old ones serve while that fails. */
bool aws_credentials_fresh(AwsAuth *auth, FerryError *err)
{
    AwsCredentials *c = &auth->cred;
    time_t now = time(NULL);
    if (c->expires == 0 || now < c->refresh_at)
        return true;
    AwsCredentials old = *c;
    bool ok = c->source == AWS_CRED_IMDS ? imds_credentials(auth, err) : web_identity_credentials(auth, err);
    if (ok) {
        log_debug("%s: credentials from %s renewed", auth->who, c->from);
    } else {
        *c = old;
        if (now < c->expires - 10) {
            log_warn("%s: renewing credentials from %s failed (%s); the current ones serve until they expire",
                     auth->who, c->from, err->message);
            c->refresh_at = now + 10;
            ok = true;
        } else {
            ferry_error_prefix(err, "%s: the credentials from %s expired and cannot be renewed", auth->who, c->from);
            err->retryable = true;
        }
    }
    memset(&old, 0, sizeof old);
    return ok;
}

bool aws_credentials_find(AwsAuth *auth, FerryError *err)
{
    const AwsConfig *s = &auth->config;
    AwsCredentials *c = &auth->cred;
    memset(c, 0, sizeof *c);
    /* 1: the section's keys. */
    if (s->access_key_id != NULL && *s->access_key_id) {
        snprintf(c->id, sizeof c->id, "%s", s->access_key_id);
        if (s->secret_access_key_file != NULL && *s->secret_access_key_file) {
            if (!objects_read_secret(s->secret_access_key_file, c->secret, sizeof c->secret, "the secret access key",
                                  auth->who, err))
                return false;
        } else if (s->secret_access_key != NULL && *s->secret_access_key) {
            snprintf(c->secret, sizeof c->secret, "%s", s->secret_access_key);
        } else {
            return ferry_error(err, FERRY_ERR_CONFIG, 0,
                               "%s: access_key_id is set but neither secret_access_key_file nor "
                               "secret_access_key is", auth->who);
        }
        if (s->session_token_file != NULL && *s->session_token_file) {
            if (!objects_read_secret(s->session_token_file, c->token, sizeof c->token, "the session token", auth->who,
                                  err))
                return false;
        } else if (s->session_token != NULL) {
            snprintf(c->token, sizeof c->token, "%s", s->session_token);
        }
        snprintf(c->from, sizeof c->from, "the [sink] section");
        return true;
    }
    /* 2: the environment. */
    if (env("AWS_ACCESS_KEY_ID") != NULL && env("AWS_SECRET_ACCESS_KEY") != NULL) {
        snprintf(c->id, sizeof c->id, "%s", env("AWS_ACCESS_KEY_ID"));
        snprintf(c->secret, sizeof c->secret, "%s", env("AWS_SECRET_ACCESS_KEY"));
        if (env("AWS_SESSION_TOKEN") != NULL)
            snprintf(c->token, sizeof c->token, "%s", env("AWS_SESSION_TOKEN"));
        snprintf(c->from, sizeof c->from, "the environment (AWS_ACCESS_KEY_ID)");
        return true;
    }
    /* 3: the shared files, under the profile. */
    const char *profile = s->profile && *s->profile ? s->profile : env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    char credentials[4096], config[4096], section[300];
    aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", credentials, sizeof credentials);
    aws_file_path("AWS_CONFIG_FILE", "config", config, sizeof config);
    const char *files[2] = {credentials, config};
    for (int f = 0; f < 2; f++) {
        /* The config file names profiles "[profile x]", except "[default]". */
        if (f == 1 && strcmp(profile, "default") != 0)
            snprintf(section, sizeof section, "profile %s", profile);
        else
            snprintf(section, sizeof section, "%s", profile);
        aws_file_value(files[f], section, "aws_access_key_id", c->id, sizeof c->id);
        aws_file_value(files[f], section, "aws_secret_access_key", c->secret, sizeof c->secret);
        if (c->id[0] && c->secret[0]) {
            aws_file_value(files[f], section, "aws_session_token", c->token, sizeof c->token);
            snprintf(c->from, sizeof c->from, "profile %.40s", profile);
            return true;
        }
    }
    memset(c, 0, sizeof *c);
    /* 4: web identity; 5: the instance's role. */
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL && env("AWS_ROLE_ARN") != NULL)
        return web_identity_credentials(auth, err);
    const char *disabled = env("AWS_EC2_METADATA_DISABLED");
    if (disabled == NULL || strcasecmp(disabled, "true") != 0) {
        FerryError imds_err;
        if (imds_credentials(auth, &imds_err))
            return true;
        memset(c, 0, sizeof *c);
        log_debug("%s: no credentials from the instance metadata service: %s", auth->who, imds_err.message);
    }
    return ferry_error(err, FERRY_ERR_CONFIG, 0,
                       "%s: no credentials: set access_key_id and secret_access_key_file in [sink], or "
                       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile %s in %s, or "
                       "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or run on an instance with a role",
                       auth->who, profile, credentials);
}

void aws_region(AwsAuth *auth)
{
    const AwsConfig *s = &auth->config;
    const char *region = s->region && *s->region ? s->region : env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    char from_profile[64] = "";
    if (region == NULL) {
        const char *profile = s->profile && *s->profile ? s->profile : env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
        char config[4096], section[300];
        aws_file_path("AWS_CONFIG_FILE", "config", config, sizeof config);
        snprintf(section, sizeof section, strcmp(profile, "default") == 0 ? "%s" : "profile %s", profile);
        aws_file_value(config, section, "region", from_profile, sizeof from_profile);
        region = from_profile[0] ? from_profile : "us-east-1";
    }
    snprintf(auth->region, sizeof auth->region, "%s", region);
}

