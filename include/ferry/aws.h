/*
 * include/ferry/aws.h — AWS credentials and region, found as AWS users expect (sinks/aws.c).
 *
 * For everything that signs requests to AWS: the S3 store now; Redshift's
 * COPY and UNLOAD, which name the same credentials, later.
 */
#ifndef FERRY_AWS_H
#define FERRY_AWS_H

#include <stdbool.h>
#include <time.h>

#include "ferry/common.h"
#include "ferry/http.h"

/* What a configuration section may say; NULL or "" where it says nothing. */
typedef struct AwsConfig {
    const char *access_key_id;
    const char *secret_access_key;
    const char *secret_access_key_file;
    const char *session_token;
    const char *session_token_file;
    const char *profile;
    const char *region;
} AwsConfig;

typedef enum { AWS_CRED_STATIC = 0, AWS_CRED_WEB_IDENTITY, AWS_CRED_IMDS } AwsCredentialSource;

typedef struct AwsCredentials {
    char id[128];
    char secret[256];
    char token[4096];         /* "" for long-term keys */
    char from[64];            /* where they came from, for the log */
    AwsCredentialSource source;
    time_t expires;           /* 0: never */
    time_t refresh_at;        /* fetched again from then on */
} AwsCredentials;

typedef struct AwsAuth {
    AwsConfig config;         /* strings borrowed from the configuration */
    const char *who;          /* borrowed: "s3 sink", for messages */
    Http *http;               /* borrowed: for STS and the instance metadata service */
    char region[64];
    AwsCredentials cred;
} AwsAuth;

/* The region: the section's, AWS_REGION, AWS_DEFAULT_REGION, the profile's, or us-east-1. */
void aws_region(AwsAuth *auth);
/* Find credentials, first found wins (sinks/aws.c, note 1); a configuration error says where they can be given. */
bool aws_credentials_find(AwsAuth *auth, FerryError *err);
/* Before a request: temporary credentials renewed when their time has come (note 2). */
bool aws_credentials_fresh(AwsAuth *auth, FerryError *err);

#endif
