/*
 * manymaps — a process at the kernel's limit of mappings (vm.max_map_count, 65530 by default):
 * maps one large range and protects every other page, until the kernel refuses another split.
 * Prints "regions N" (its own count of mappings made) and "ready", then waits.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    size_t pages = 140000;
    char *base = mmap(NULL, pages * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    size_t made = 0;
    for (size_t i = 1; i < pages; i += 2) {
        if (mprotect(base + i * 4096, 4096, PROT_NONE) != 0)
            break;
        made++;
    }
    printf("split %zu\n", made);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
