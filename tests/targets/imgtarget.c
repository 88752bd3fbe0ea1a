/*
 * imgtarget — a dynamically linked test process with symbols in every part of its image,
 * for the image-attribution analyzer. Built by the tests as a PIE (cc's default).
 *
 * usage: imgtarget LIB_TO_DELETE LIB_TO_OVERWRITE
 *
 * dlopen()s the two libraries (the test then deletes the first and overwrites the second in
 * place), then prints "sym NAME ADDRESS" for:
 *   main        .text
 *   rodata      a const array           .rodata
 *   relro       a const pointer table   .data.rel.ro (relocated, then made read-only)
 *   data        an initialised global   .data
 *   bss         a 1 MiB zeroed array    .bss (its start)
 *   bss_end     the array's last byte   .bss (in the anonymous tail)
 *   printf      libc's printf
 * and "lib PATH ADDRESS" for a function in each library; then "ready", and waits.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char rodata[64] = "a constant that lives in .rodata";
const char *const relro[] = {"relocated", "then", "read-only"};
int data = 42;
static char bss[1 << 20];

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: imgtarget LIB_TO_DELETE LIB_TO_OVERWRITE\n");
        return 2;
    }
    for (int i = 1; i < 3; i++) {
        void *h = dlopen(argv[i], RTLD_NOW);
        if (!h) {
            fprintf(stderr, "dlopen %s: %s\n", argv[i], dlerror());
            return 2;
        }
        printf("lib %s %lx\n", argv[i], (unsigned long)dlsym(h, "vmpipe_test_function"));
    }
    bss[0] = 1;
    bss[sizeof bss - 1] = 1;
    printf("sym main %lx\n", (unsigned long)&main);
    printf("sym rodata %lx\n", (unsigned long)rodata);
    printf("sym relro %lx\n", (unsigned long)relro);
    printf("sym data %lx\n", (unsigned long)&data);
    printf("sym bss %lx\n", (unsigned long)bss);
    printf("sym bss_end %lx\n", (unsigned long)&bss[sizeof bss - 1]);
    printf("sym printf %lx\n", (unsigned long)&printf);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
