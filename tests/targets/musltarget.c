/*
 * musltarget — a process whose malloc is not glibc's, for the malloc-zones analyzer.
 *
 * Built statically with musl (musl-gcc -static, Debian package musl-tools): no libc.so.6 is
 * mapped and musl's own malloc serves the allocations below. Prints "ready" and waits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static void *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc(16 + 97 * i);
        if (!keep[i])
            return 2;
        memset(keep[i], 1, 16 + 97 * i);
    }
    void *big = malloc(512 * 1024);
    if (!big)
        return 2;
    memset(big, 2, 512 * 1024);
    for (int i = 0; i < 64; i += 2)
        free(keep[i]);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
