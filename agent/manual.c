/*
 * agent/manual.c — ferry(1) from the option tables (manual.h).
 *
 * Design notes
 *  (1) Nothing here is written twice: the commands and exit codes are
 *      --help's own text, and each configuration key's line is its option
 *      table's entry (name, kind, default, choices, help), so the page
 *      cannot drift from what the program takes.
 *  (2) Text goes through roff_text: a backslash becomes \e, a line that
 *      would start with "." or "'" is guarded with \&, and "-" in names is
 *      \- so the page searches and copies as typed.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/manual.h"
#include "ferry/sink.h"

static void roff_text(FILE *out, const char *text, bool names)
{
    bool line_start = true;
    for (const char *c = text; *c != '\0'; c++) {
        if (line_start && (*c == '.' || *c == '\''))
            fputs("\\&", out);
        if (*c == '\\')
            fputs("\\e", out);
        else if (*c == '-' && names)
            fputs("\\-", out);
        else
            fputc(*c, out);
        line_start = *c == '\n';
    }
}

static const char *kind(const ConfigOption *opt)
{
    switch (opt->type) {
    case OPT_STRING: return opt->is_path ? "path" : "text";
    case OPT_SIZE: return opt->allow_auto ? "size or auto" : "size";
    case OPT_INT: return opt->allow_auto ? "number or auto" : "number";
    case OPT_DOUBLE: return "number";
    case OPT_BOOL: return "true or false";
    case OPT_ENUM: return "choice";
    case OPT_GROUP: return "";
    }
    return "";
}

static void write_options(FILE *out, const ConfigOption *options)
{
    ConfigOption *flat = options_flatten(options);
    for (const ConfigOption *opt = flat; opt->name != NULL; opt++) {
        fputs(".TP\n.B ", out);
        roff_text(out, opt->name, true);
        fprintf(out, " \\fR(%s", kind(opt));
        if (opt->required)
            fputs(", required", out);
        if (opt->default_value != NULL && *opt->default_value != '\0' && !opt->secret) {
            fputs("; default ", out);
            roff_text(out, opt->default_value, true);
        }
        fputs(")\n", out);
        roff_text(out, opt->help ? opt->help : "", false);
        if (opt->choices != NULL) {
            fputs(". One of:", out);
            for (int i = 0; opt->choices[i] != NULL; i++) {
                fputs(i ? ", " : " ", out);
                roff_text(out, opt->choices[i], true);
            }
        }
        if (opt->secret) {
            fputs(". A secret: never logged, recorded or shown; ", out);
            roff_text(out, opt->name, true);
            fputs("_file reads it from a file", out);
        }
        fputs(".\n", out);
    }
    free(flat);
}

void manual_write(FILE *out, const char *usage, const char *version)
{
    fprintf(out, ".TH FERRY 1 \"\" \"ferry %s\" \"User Commands\"\n", version);
    fputs(".SH NAME\nferry \\- copy big tables out of PostgreSQL and Redshift, resumably, in bounded memory\n", out);
    fputs(".SH SYNOPSIS\n.B ferry\n.I COMMAND\n.B \\-c\n.I FILE\n[\\fIoptions\\fR]\n", out);
    fputs(".SH DESCRIPTION\n"
          "ferry copies tables from PostgreSQL or Amazon Redshift into a folder, S3, Azure Blob, MongoDB,\n"
          "PostgreSQL or Redshift. It splits each table into key ranges, checkpoints every durable batch in\n"
          "a SQLite state file, and after any kill the next run resumes from the last checkpoint, losing\n"
          "and doubling no row. Batches are sized from the memory really available.\n", out);
    fputs(".SH COMMANDS, OPTIONS AND EXIT STATUS\n.nf\n", out);
    roff_text(out, usage, false);
    fputs(".fi\n", out);
    fputs(".SH CONFIGURATION\n"
          "An INI file: sections in brackets, \\fIkey = value\\fR lines, comments after \\fB#\\fR or \\fB;\\fR at\n"
          "the start of a line or after a space. Relative paths are taken from the file's folder (paths\n"
          "ferry writes: from $STATE_DIRECTORY when systemd sets it). A bad key or value is an error\n"
          "naming the file, the line and the key.\n", out);
    for (const ConfigSection *section = config_sections; section->name != NULL; section++) {
        fputs(".SS [", out);
        roff_text(out, section->name, true);
        fputs("]\n", out);
        write_options(out, section->options);
    }
    char names[256];
    snprintf(names, sizeof names, "%s", sink_names());
    char *save = NULL;
    for (char *name = strtok_r(names, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
        const SinkOps *sink = sink_find(name);
        fprintf(out, ".SS [sink] type = %s\n", name);
        write_options(out, sink->options);
    }
    fputs(".SH FILES\n"
          ".TP\n.I /etc/ferry/*.ini\none configuration per job (systemd: ferry@NAME.service runs /etc/ferry/NAME.ini)\n"
          ".TP\n.I /var/lib/ferry\nthe jobs' state files and, by default, their output\n", out);
    fputs(".SH SEE ALSO\n"
          ".BR systemd.service (5),\n.BR systemd.timer (5),\n.BR psql (1);\n"
          "README.md in the source, for how resume, memory and each sink work.\n", out);
}
