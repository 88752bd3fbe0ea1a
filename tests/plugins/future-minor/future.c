/*
 * future-minor: a plugin as if built against ABI 2.(M+1), where M = VMPIPE_ABI_MINOR of the
 * header, for tests/c_plugin.rs. Every struct it builds is larger than this header's (an
 * extra trailing field each, as a newer minor would append), and it says so through its
 * element sizes and struct_size. By the compatibility rules it loads on a 2.M host as long
 * as requires_minor <= M, and only its 2.0 fields are read.
 *
 *   -DREQUIRES_MINOR=N   the oldest minor it claims to run on (default 0)
 *   -DSMALL_COLUMNS      declares region columns of an element size smaller than 2.0's
 *
 * Region columns: `span` (end - start of the region), `has_image` (whether image-attribution's
 * `image`, which it reads, is present for the region). PROCESS table `span_totals`: one row,
 * the number of regions and the bytes they span.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmpipe_plugin.h"

#ifndef REQUIRES_MINOR
#define REQUIRES_MINOR 0
#endif

#define STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

/* The structs of "2.(M+1)": the 2.M struct first, then what the newer minor appended. */
typedef struct { vmpipe_column v2; uint64_t unit; } future_column;
typedef struct { vmpipe_table v2; uint64_t flags; vmpipe_str newer; } future_table;
typedef struct { vmpipe_read v2; uint64_t flags; } future_read;
typedef struct { vmpipe_cell v2; uint64_t unit; } future_cell;
typedef struct {
    vmpipe_plugin v2;
    uint32_t (*newer_entry)(void *state);
    uint64_t flags;
} future_plugin;

static const future_column REGION_COLUMNS[] = {
    {{STR("span"), VMPIPE_KIND_U64, STR("end - start")}, 1},
    {{STR("has_image"), VMPIPE_KIND_BOOL, STR("image-attribution gave the region an image")}, 2},
};

static const future_column TOTAL_COLUMNS[] = {
    {{STR("regions"), VMPIPE_KIND_U64, STR("regions")}, 3},
    {{STR("bytes"), VMPIPE_KIND_U64, STR("bytes they span")}, 4},
};

static const future_table TABLES[] = {
    {{STR("span_totals"), STR("regions and bytes per process"), VMPIPE_SCOPE_PROCESS,
      (const vmpipe_column *)TOTAL_COLUMNS, 2, sizeof(future_column)},
     5, STR("a field of 2.(M+1)")},
};

static const future_read READS[] = {
    {{STR("image-attribution"), STR("image"), VMPIPE_KIND_BYTES}, 6},
};

static int STATE;

static void fail(const vmpipe_host *host, const char *message) {
    host->error(host->ctx, (vmpipe_str){(const uint8_t *)message, strlen(message)});
}

static uint32_t create(const vmpipe_create *call, const vmpipe_host *host, void **state) {
    (void)call;
    (void)host;
    *state = &STATE;
    return VMPIPE_STATUS_OK;
}

static future_cell cell(uint32_t kind, uint64_t v) {
    future_cell c;
    memset(&c, 0, sizeof c);
    c.v2.kind = kind;
    c.v2.int_ = v;
    c.unit = 7; /* a field this host does not know: it must ignore it */
    return c;
}

static uint32_t analyze(void *state, const vmpipe_analyze *call, const vmpipe_host *host) {
    (void)state;
    if (call->inputs_len != 1 || call->input_size < sizeof(vmpipe_input)) {
        fail(host, "expected the one input declared");
        return VMPIPE_STATUS_ERROR;
    }
    const vmpipe_input *image = call->inputs;
    if (image->cells_len != call->regions_len || image->cell_size < sizeof(vmpipe_cell)) {
        fail(host, "the image input does not cover the regions");
        return VMPIPE_STATUS_ERROR;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < call->regions_len; i++) {
        const vmpipe_region *r =
            (const vmpipe_region *)((const char *)call->regions + i * call->region_size);
        const vmpipe_cell *img =
            (const vmpipe_cell *)((const char *)image->cells + i * image->cell_size);
        future_cell span = cell(VMPIPE_KIND_U64, r->end - r->start);
        future_cell has = cell(VMPIPE_KIND_BOOL, img->kind != VMPIPE_KIND_ABSENT);
        total += r->end - r->start;
        if (host->region_value(host->ctx, i, 0, &span.v2, sizeof span) != VMPIPE_STATUS_OK ||
            host->region_value(host->ctx, i, 1, &has.v2, sizeof has) != VMPIPE_STATUS_OK)
            return VMPIPE_STATUS_REFUSED;
    }
    future_cell row[2] = {cell(VMPIPE_KIND_U64, call->regions_len), cell(VMPIPE_KIND_U64, total)};
    if (host->table_row(host->ctx, 0, &row[0].v2, 2, sizeof row[0]) != VMPIPE_STATUS_OK)
        return VMPIPE_STATUS_REFUSED;
    return VMPIPE_STATUS_OK;
}

static uint32_t finish(void *state, const vmpipe_host *host) {
    (void)state;
    (void)host;
    return VMPIPE_STATUS_OK;
}

static void destroy(void *state) {
    (void)state;
}

static uint32_t newer_entry(void *state) {
    (void)state;
    return VMPIPE_STATUS_ERROR; /* a 2.M host never calls it */
}

static const future_plugin PLUGIN = {
    {
        .abi_major = VMPIPE_ABI_MAJOR,
        .abi_minor = VMPIPE_ABI_MINOR + 1,
        .struct_size = sizeof(future_plugin),
        .requires_minor = REQUIRES_MINOR,
        .panic_strategy = VMPIPE_PANIC_STRATEGY_NONE,
        .name = STR("future-minor"),
        .version = STR("2.1.0"),
        .description = STR("built against a newer minor, using only 2.0"),
        .region_columns = (const vmpipe_column *)REGION_COLUMNS,
        .region_columns_len = 2,
#ifdef SMALL_COLUMNS
        .column_size = sizeof(vmpipe_column) - 8,
#else
        .column_size = sizeof(future_column),
#endif
        .tables = (const vmpipe_table *)TABLES,
        .tables_len = 1,
        .table_size = sizeof(future_table),
        .reads = (const vmpipe_read *)READS,
        .reads_len = 1,
        .read_size = sizeof(future_read),
        .create = create,
        .analyze = analyze,
        .finish = finish,
        .destroy = destroy,
    },
    newer_entry,
    8,
};

const vmpipe_plugin *vmpipe_plugin_v2(void) {
    return &PLUGIN.v2;
}
