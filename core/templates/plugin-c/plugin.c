/*
 * {{name}}: a vmpipe analyzer in C. It flags memory that is both writable and executable
 * (the first thing an incident responder looks for) and counts it per process.
 *
 *   make          # → lib{{crate}}.so
 *   make test     # runs it with vmpipe over this shell and checks it against /proc/PID/maps
 *
 * The ABI is in vmpipe_plugin.h (ABI {{abi_major}}.{{abi_minor}}; its comments are the
 * contract). What it asks of a C plugin, and how this one does it:
 *   - read the host's arrays by the element size it gives (call->region_size,
 *     call->entry_size), never by sizeof: a newer host's structs are larger;
 *   - pass the size of what you build (sizeof(vmpipe_cell), sizeof(vmpipe_column), ...);
 *   - `analyze` runs on many threads at once: keep per-call data on the stack;
 *   - `create` stores a non-null state; `destroy` gets it back once;
 *   - give a message with host->error before returning a failing status.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmpipe_plugin.h"

/* A vmpipe_str of a string literal, for static initializers. */
#define STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

/* Region column 0: set on every region. */
static const vmpipe_column REGION_COLUMNS[] = {
    {STR("{{prefix}}_wx"), VMPIPE_KIND_BOOL, STR("the region is writable and executable")},
};

/* Table 0 and its columns (vmpipe adds pid and process in front). */
static const vmpipe_column SUMMARY_COLUMNS[] = {
    {STR("regions"), VMPIPE_KIND_U64,
     STR("writable and executable regions of at least min_size bytes")},
    {STR("bytes"), VMPIPE_KIND_U64, STR("their total size")},
};
static const vmpipe_table TABLES[] = {
    {STR("{{prefix}}_summary"), STR("writable and executable memory of one process"),
     VMPIPE_SCOPE_PROCESS, SUMMARY_COLUMNS, sizeof SUMMARY_COLUMNS / sizeof SUMMARY_COLUMNS[0],
     sizeof(vmpipe_column)},
};

/* The options, checked once in `create`; shared read-only by every `analyze`. */
struct state {
    uint64_t min_size;
};
static struct state STATE;

static void fail(const vmpipe_host *host, const char *message) {
    if (host->error)
        host->error(host->ctx, (vmpipe_str){(const uint8_t *)message, strlen(message)});
}

static int key_is(vmpipe_str key, const char *name) {
    return key.len == strlen(name) && memcmp(key.ptr, name, key.len) == 0;
}

static uint32_t create(const vmpipe_create *call, const vmpipe_host *host, void **state) {
    STATE.min_size = 0;
    for (size_t i = 0; i < call->options_len; i++) {
        const vmpipe_entry *e =
            (const vmpipe_entry *)((const char *)call->options + i * call->entry_size);
        if (!key_is(e->key, "min_size") || e->value.kind != VMPIPE_VALUE_KIND_INTEGER ||
            e->value.int_ < 0) {
            if (host->error_option)
                host->error_option(host->ctx, e->key);
            fail(host, "the only option is min_size, a number of bytes (an integer, at least 0)");
            return VMPIPE_STATUS_ERROR;
        }
        STATE.min_size = (uint64_t)e->value.int_;
    }
    *state = &STATE;
    return VMPIPE_STATUS_OK;
}

static vmpipe_cell cell(uint32_t kind, uint64_t v) {
    vmpipe_cell c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.int_ = v;
    return c;
}

static uint32_t analyze(void *state, const vmpipe_analyze *call, const vmpipe_host *host) {
    const struct state *s = state;
    uint64_t count = 0, bytes = 0;
    for (size_t i = 0; i < call->regions_len; i++) {
        const vmpipe_region *r =
            (const vmpipe_region *)((const char *)call->regions + i * call->region_size);
        const uint32_t wx = VMPIPE_PERMS_WRITE | VMPIPE_PERMS_EXEC;
        int flagged = (r->perms & wx) == wx;
        vmpipe_cell v = cell(VMPIPE_KIND_BOOL, flagged);
        if (host->region_value(host->ctx, i, 0, &v, sizeof v) != VMPIPE_STATUS_OK)
            return VMPIPE_STATUS_REFUSED; /* the host recorded why */
        if (flagged && r->end - r->start >= s->min_size) {
            count++;
            bytes += r->end - r->start;
        }
    }
    if (count > 0) {
        vmpipe_cell row[2] = {cell(VMPIPE_KIND_U64, count), cell(VMPIPE_KIND_U64, bytes)};
        if (host->table_row(host->ctx, 0, row, 2, sizeof row[0]) != VMPIPE_STATUS_OK)
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
    .name = STR("{{name}}"),
    .version = STR("0.1.0"),
    .description = STR("flags writable and executable memory and counts it per process"),
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

const vmpipe_plugin *vmpipe_plugin_v{{abi_major}}(void) {
    return &PLUGIN;
}
