/*
 * region-kinds: a vmpipe analyzer written in C against include/vmpipe_plugin.h.
 *
 * Per process, one row of the PROCESS table `region_kinds` per kind of region present (see
 * VMPIPE_REGION_KIND_* in the header): how many regions are of that kind and how many bytes
 * they span. Each region also gets the name of its kind in the region column `kind_name`.
 *
 *   cc -std=c11 -shared -fPIC -Wall -Wextra -Werror -I ../../plugins/sdk/include \
 *      -o libregion_kinds.so plugin.c
 *
 * What the ABI asks of a C plugin, and how this one does it:
 *   - read arrays by the element size the host gives (call->region_size), never by
 *     sizeof: a newer host's regions are larger;
 *   - pass the size of what we build (sizeof(vmpipe_cell), sizeof(vmpipe_column), ...);
 *   - `analyze` runs on many threads at once: keep per-call data on the stack;
 *   - `create` stores a non-null state even when there is nothing to keep;
 *   - give a message with host->error before returning a failing status.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmpipe_plugin.h"

/* A vmpipe_str of a string literal, for static initializers. */
#define STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

/* Indexed by VMPIPE_REGION_KIND_*: the names vmpipe uses for them. */
static const char *const KIND_NAMES[] = {
    "file", "anon", "heap", "stack", "vdso", "vvar",
    "vsyscall", "shm", "memfd", "anon-inode", "special",
};
#define KINDS (sizeof KIND_NAMES / sizeof KIND_NAMES[0])

/* Region column 0. */
static const vmpipe_column REGION_COLUMNS[] = {
    {STR("kind_name"), VMPIPE_KIND_TEXT, STR("what backs the region (file, anon, heap, ...)")},
};

/* Table 0 and its columns (the host adds pid and process). */
static const vmpipe_column KIND_COLUMNS[] = {
    {STR("kind"), VMPIPE_KIND_TEXT, STR("the region kind")},
    {STR("regions"), VMPIPE_KIND_U64, STR("regions of that kind")},
    {STR("bytes"), VMPIPE_KIND_U64, STR("bytes they span")},
};
static const vmpipe_table TABLES[] = {
    {STR("region_kinds"), STR("regions and bytes per kind of region, per process"),
     VMPIPE_SCOPE_PROCESS, KIND_COLUMNS, sizeof KIND_COLUMNS / sizeof KIND_COLUMNS[0],
     sizeof(vmpipe_column)},
};

static int STATE; /* nothing to keep, but the state must not be null */

static void fail(const vmpipe_host *host, const char *message) {
    if (host->error)
        host->error(host->ctx, (vmpipe_str){(const uint8_t *)message, strlen(message)});
}

static uint32_t create(const vmpipe_create *call, const vmpipe_host *host, void **state) {
    if (call->options_len > 0) {
        const vmpipe_entry *first = call->options;
        if (host->error_option)
            host->error_option(host->ctx, first->key);
        fail(host, "region-kinds takes no options");
        return VMPIPE_STATUS_ERROR;
    }
    *state = &STATE;
    return VMPIPE_STATUS_OK;
}

static vmpipe_cell text(const char *s) {
    vmpipe_cell c;
    memset(&c, 0, sizeof c);
    c.kind = VMPIPE_KIND_TEXT;
    c.bytes = (vmpipe_str){(const uint8_t *)s, strlen(s)};
    return c;
}

static vmpipe_cell u64(uint64_t v) {
    vmpipe_cell c;
    memset(&c, 0, sizeof c);
    c.kind = VMPIPE_KIND_U64;
    c.int_ = v;
    return c;
}

static uint32_t analyze(void *state, const vmpipe_analyze *call, const vmpipe_host *host) {
    (void)state;
    uint64_t count[KINDS] = {0}, bytes[KINDS] = {0};
    if (call->regions_len > 0 && call->region_size < sizeof(vmpipe_region)) {
        fail(host, "regions smaller than this plugin's ABI");
        return VMPIPE_STATUS_ERROR;
    }
    for (size_t i = 0; i < call->regions_len; i++) {
        /* Step by the host's element size: a newer host's regions are larger. */
        const vmpipe_region *r =
            (const vmpipe_region *)((const char *)call->regions + i * call->region_size);
        uint32_t kind = r->kind < KINDS ? r->kind : VMPIPE_REGION_KIND_SPECIAL;
        count[kind]++;
        bytes[kind] += r->end - r->start;
        vmpipe_cell name = text(KIND_NAMES[kind]);
        uint32_t st = host->region_value(host->ctx, i, 0, &name, sizeof name);
        if (st != VMPIPE_STATUS_OK)
            return VMPIPE_STATUS_REFUSED; /* the host recorded why */
    }
    for (uint32_t k = 0; k < KINDS; k++) {
        if (count[k] == 0)
            continue;
        vmpipe_cell row[3] = {text(KIND_NAMES[k]), u64(count[k]), u64(bytes[k])};
        uint32_t st = host->table_row(host->ctx, 0, row, 3, sizeof row[0]);
        if (st != VMPIPE_STATUS_OK)
            return VMPIPE_STATUS_REFUSED;
    }
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

static const vmpipe_plugin PLUGIN = {
    .abi_major = VMPIPE_ABI_MAJOR,
    .abi_minor = VMPIPE_ABI_MINOR,
    .struct_size = sizeof(vmpipe_plugin),
    .requires_minor = 0,
    .panic_strategy = VMPIPE_PANIC_STRATEGY_NONE,
    .name = STR("region-kinds"),
    .version = STR("1.0.0"),
    .description = STR("regions and bytes per kind of region, per process (a C plugin)"),
    .region_columns = REGION_COLUMNS,
    .region_columns_len = sizeof REGION_COLUMNS / sizeof REGION_COLUMNS[0],
    .column_size = sizeof(vmpipe_column),
    .tables = TABLES,
    .tables_len = sizeof TABLES / sizeof TABLES[0],
    .table_size = sizeof(vmpipe_table),
    .reads = NULL,
    .reads_len = 0,
    .read_size = sizeof(vmpipe_read),
    .create = create,
    .analyze = analyze,
    .finish = finish,
    .destroy = destroy,
};

const vmpipe_plugin *vmpipe_plugin_v2(void) {
    return &PLUGIN;
}
