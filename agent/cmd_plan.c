/*
 * agent/cmd_plan.c — `ferry plan`: what a run would do with each table, changing nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ferry/command.h"
#include "ferry/delta.h"
#include "ferry/physical.h"
#include "ferry/run.h"
#include "ferry/unload.h"

static int plan_command(const CommandArgs *args)
{
    const FerryConfig *config = args->config;
    FerryError err;
    MemoryBudget budget;
    if (!budget_measure("", config->ferry.memory_fraction, config->ferry.memory_limit, &budget, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_CONFIG;
    }
    if (!run_fit_sink(config, budget.total, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return FERRY_EXIT_CONFIG;
    }
    SourceConn *conn;
    if (!source_connect(&config->source, &conn, &err)) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG : FERRY_EXIT_RESUME;
    }
    char why[160];
    int workers = run_workers(config, conn, budget.total, why, sizeof why);
    /* A worker reads one batch while it writes the one before (worker.c, note 9). */
    uint64_t batch_bytes = budget_batch_bytes(&budget, workers, sink_buffer_bytes(config->sink, config->sink_settings)) /
                           FERRY_BATCHES_IN_FLIGHT;
    char b1[32], b2[32], b3[32];
    printf("source: %s\n", source_dialect(conn)->name);
    printf("memory budget: %s (%.2f of %s, from %s); %d worker(s) (%s); batches up to %s, two a worker\n",
           format_size(budget.total, b1, sizeof b1), budget.fraction,
           format_size(budget.base, b2, sizeof b2), budget.base_from, workers, why,
           format_size(batch_bytes, b3, sizeof b3));
    int exit_code = FERRY_EXIT_OK;
    for (int t = 0; t < config->ntables; t++) {
        const TableConfig *tc = &config->tables[t];
        TablePlan plan;
        MarkKind kind = MARK_NONE;
        bool planned = plan_table(conn, tc, &plan, &err);
        bool physical = false;
        char order_why[256] = "";
        if (planned && (!delta_kind(conn, config->path, tc, &plan.shape, &kind, &err) ||
                        !sink_check_table(config->sink, config->sink_settings, &plan.shape, &err) ||
                        !physical_choose(conn, config, tc, &plan.shape, &physical, order_why, sizeof order_why, &err))) {
            plan_free(&plan);
            planned = false;
        }
        if (!planned) {
            fprintf(stderr, "ferry: %s\n", err.message);
            exit_code = err.domain == FERRY_ERR_CONFIG ? FERRY_EXIT_CONFIG : FERRY_EXIT_FAILED;
            continue;
        }
        printf("\ntable %s -> %s\n", tc->qualified, plan.shape.target);
        printf("  key:        ");
        for (int k = 0; k < plan.shape.nkeys; k++)
            printf("%s%s", k ? ", " : "", plan.shape.cols[plan.shape.key_col[k]].name);
        static const char *const repeats[] = {"fail", "keep_last", "keep_all"};
        printf(" (%s)%s%s\n",
               tc->settings.key                      ? "declared"
               : source_dialect(conn)->keys_enforced ? "primary key"
                                                     : "primary key, not enforced by the server",
               tc->settings.on_duplicate_key != DUPLICATES_FAIL ? "; repeated keys: " : "",
               tc->settings.on_duplicate_key != DUPLICATES_FAIL ? repeats[tc->settings.on_duplicate_key] : "");
        printf("  columns:    ");
        for (int c = 0; c < plan.shape.nout; c++)
            printf("%s%s %s", c ? ", " : "", plan.shape.cols[c].name, plan.shape.cols[c].type_name);
        printf("\n  rows:       about %.0f\n", plan.est_rows);
        printf("  row width:  %.0f B average, %.0f B largest sampled (text form)\n", plan.width_avg,
               plan.width_max);
        if (physical) /* the run cuts the heap's blocks as it plans */
            printf("  partitions: %d (about %.0f rows each, ranges of the heap's blocks)\n",
                   partition_count(plan.est_rows, tc->settings.partition_rows),
                   plan.est_rows / partition_count(plan.est_rows, tc->settings.partition_rows));
        else
            printf("  partitions: %d (about %.0f rows each, bounds from sampled key quantiles%s)\n",
                   plan.nparts, plan.est_rows / plan.nparts,
                   plan.cut_for_cursor ? "; smaller than partition_rows, so that a cursor holds at most "
                                         "cursor_result_limit"
                                       : "");
        printf("  read order: %s\n", order_why);
        BatchSizer sizer;
        batch_sizer_init(&sizer, batch_bytes, plan.width_avg, plan.shape.ncols);
        printf("  batches:    %ld rows, at most %s each", batch_sizer_rows(&sizer),
               format_size(batch_bytes, b1, sizeof b1));
        if (unload_wanted(config, source_dialect(conn), plan.est_rows * plan.width_avg))
            printf("; read through UNLOAD, a staged object a batch");
        else if (source_fetch_limit(conn) > 0)
            printf(", by FETCHes of at most %ld rows (the server's limit)", source_fetch_limit(conn));
        printf("\n");
        if (kind != MARK_NONE) {
            char of[FERRY_NAME_MAX + 32];
            delta_describe(tc, kind, of, sizeof of);
            printf("  mode:       incremental, watermark %s: the first run copies every row, each later run "
                   "the rows changed since\n", of);
        }
        plan_free(&plan);
    }
    source_close(conn);
    return exit_code;
}

const Command command_plan = {.name = "plan", .run = plan_command};
