/*
 * minimal: the smallest valid ABI v2 plugin, in C against vmpipe_plugin.h: no columns, no
 * tables, entry points that do nothing. tests/plugin_trust.rs links it into the libraries it
 * builds: `vmpipe validate` accepting one shows that vmpipe loaded it and called its entry.
 *
 *   -DCALL_DEP       the entry point calls dep_marker(), from a library the plugin depends on
 *   -DCONTRACT_TEST  create logs a warning, and fails (after storing its state) when the
 *                    pipeline gives it any option; destroy appends "destroyed" to the file
 *                    the environment variable MINIMAL_DESTROYED names (tests/c_plugin.rs)
 */
#include <stddef.h>
#include <stdint.h>
#ifdef CONTRACT_TEST
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

#include "vmpipe_plugin.h"

#ifdef CALL_DEP
extern int dep_marker(void);
#define HOOK() ((void)dep_marker())
#else
#define HOOK() ((void)0)
#endif

#define STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

static int STATE;

static uint32_t create(const vmpipe_create *call, const vmpipe_host *host, void **state) {
    (void)call;
    (void)host;
    *state = &STATE;
#ifdef CONTRACT_TEST
    static const char warning[] = "a warning from create";
    host->log(host->ctx, VMPIPE_LEVEL_WARN, (vmpipe_str){(const uint8_t *)warning, strlen(warning)});
    if (call->options_len > 0) {
        static const char why[] = "refusing every option, after storing a state";
        host->error(host->ctx, (vmpipe_str){(const uint8_t *)why, strlen(why)});
        return VMPIPE_STATUS_ERROR;
    }
#endif
    return VMPIPE_STATUS_OK;
}

static uint32_t analyze(void *state, const vmpipe_analyze *call, const vmpipe_host *host) {
    (void)state;
    (void)call;
    (void)host;
    return VMPIPE_STATUS_OK;
}

static uint32_t finish(void *state, const vmpipe_host *host) {
    (void)state;
    (void)host;
    return VMPIPE_STATUS_OK;
}

static void destroy(void *state) {
    (void)state;
#ifdef CONTRACT_TEST
    const char *path = getenv("MINIMAL_DESTROYED");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fputs(state == &STATE ? "destroyed\n" : "destroyed a foreign state\n", f);
        fclose(f);
    }
#endif
}

static const vmpipe_plugin PLUGIN = {
    .abi_major = VMPIPE_ABI_MAJOR,
    .abi_minor = VMPIPE_ABI_MINOR,
    .struct_size = sizeof(vmpipe_plugin),
    .requires_minor = 0,
    .panic_strategy = VMPIPE_PANIC_STRATEGY_NONE,
    .name = STR("minimal"),
    .version = STR("1.0.0"),
    .description = STR("does nothing"),
    .column_size = sizeof(vmpipe_column),
    .table_size = sizeof(vmpipe_table),
    .read_size = sizeof(vmpipe_read),
    .create = create,
    .analyze = analyze,
    .finish = finish,
    .destroy = destroy,
};

const vmpipe_plugin *vmpipe_plugin_v2(void) {
    HOOK();
    return &PLUGIN;
}
